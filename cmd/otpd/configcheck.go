package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otpd/otpd/config"
)

// errConfigInvalid makes `otpd config check` exit 1 after it has printed
// the problems.
var errConfigInvalid = errors.New("the configuration has problems (listed above)")

// runConfigCheck runs the validation startup runs (validate: settings,
// secrets, management keys, listen addresses, signing keys, templates,
// provider secrets) without listening or connecting, and prints every
// problem with the setting it concerns, then every warning (such as an
// OTPD_* variable otpd does not read).
func runConfigCheck(_ context.Context, args []string, te toolEnv) error {
	fs := flag.NewFlagSet("otpd config check", flag.ContinueOnError)
	fs.SetOutput(te.stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, report := validate(te.env, te.read, te.environ)
	for _, p := range report.Problems {
		fmt.Fprintln(te.stdout, "problem:", p)
	}
	for _, w := range report.Warnings {
		fmt.Fprintln(te.stdout, "warning:", w)
	}
	if len(report.Problems) > 0 {
		return errConfigInvalid
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
