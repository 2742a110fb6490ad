package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/token"
)

// errConfigInvalid makes `otpd config check` exit 1 after it has printed
// the problems.
var errConfigInvalid = errors.New("the configuration has problems (listed above)")

// runConfigCheck validates the configuration and environment the way the
// server would at startup (settings, secrets, signing keys, templates,
// provider secrets) without listening or connecting, and prints every
// problem with the setting it concerns.
func runConfigCheck(_ context.Context, args []string, te toolEnv) error {
	fs := flag.NewFlagSet("otpd config check", flag.ContinueOnError)
	fs.SetOutput(te.stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	problems := checkConfig(te)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(te.stdout, "problem:", p)
		}
		return errConfigInvalid
	}
	return nil
}

// checkConfig returns every problem found, one per line, each naming its
// setting; with none it prints a summary to te.stdout.
func checkConfig(te toolEnv) []string {
	cfg, err := config.Load(te.env, te.read)
	if err != nil {
		var lines []string
		for _, l := range strings.Split(err.Error(), "\n") {
			if l = strings.TrimSpace(l); l != "" && l != "invalid configuration:" {
				lines = append(lines, l)
			}
		}
		return lines
	}
	var problems []string
	for _, p := range cfg.Projects {
		for i, f := range p.SigningKeyFiles {
			b, err := te.read(f)
			if err != nil {
				problems = append(problems, fmt.Sprintf("project %q: signingKeyFiles[%d]: %v", p.ID, i, err))
				continue
			}
			k, err := token.ParseKeyPEM(b)
			if err != nil {
				problems = append(problems, fmt.Sprintf("project %q: signingKeyFiles[%d] %s: %v", p.ID, i, f, err))
				continue
			}
			if i == 0 && p.Algorithm != "" {
				if want, err := token.ParseAlgorithm(p.Algorithm); err == nil && want != k.Algorithm() {
					problems = append(problems, fmt.Sprintf("project %q: algorithm %s, but signingKeyFiles[0] is an %s key", p.ID, want, k.Algorithm()))
				}
			}
		}
	}
	// Templates parse and test-render; provider secrets are readable.
	quiet := slog.New(slog.DiscardHandler)
	if _, err := server.BuildDelivery(cfg, te.read, te.env, io.Discard, time.Now, quiet); err != nil {
		problems = append(problems, "delivery: "+err.Error())
	}
	if len(problems) > 0 {
		return problems
	}
	mode := "embedded Redis (development)"
	if !cfg.Embedded() {
		mode = "Redis at " + redactURL(cfg.RedisURL)
	}
	ids := make([]string, 0, len(cfg.Projects))
	for _, p := range cfg.Projects {
		ids = append(ids, p.ID)
	}
	printNotForProduction(te.stdout, config.NotForProduction(cfg))
	fmt.Fprintf(te.stdout, "configuration OK: %d project(s) %v; %s; gRPC %s, REST %s; dev console %v\n",
		len(ids), ids, mode, cfg.GRPCAddr, cfg.HTTPAddr, cfg.DevConsole)
	return nil
}

// redactURL drops the user information (password) from a Redis URL.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(unparsed URL)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	// The redis+sentinel form takes passwords in the query too.
	if base, query, ok := strings.Cut(rest, "?"); ok {
		params := strings.Split(query, "&")
		for i, p := range params {
			if name, _, _ := strings.Cut(p, "="); strings.Contains(strings.ToLower(name), "password") {
				params[i] = name + "=***"
			}
		}
		rest = base + "?" + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}

// printNotForProduction prints config.NotForProduction's findings so that
// they cannot be missed: a valid configuration that must not serve users.
func printNotForProduction(w io.Writer, warnings []string) {
	if len(warnings) == 0 {
		return
	}
	fmt.Fprintln(w, "!!! NOT FOR PRODUCTION: this configuration is for development or load testing !!!")
	for _, l := range warnings {
		fmt.Fprintln(w, "warning: NOT FOR PRODUCTION:", l)
	}
}
