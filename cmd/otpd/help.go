package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help: `otpd <command> -h` (or -help, --help) prints that command's help
// on stdout and succeeds, whatever the rest of the command line and the
// environment hold: help is answered before any configuration is loaded
// or any connection is made. `otpd help <command>` does the same.

// wantsHelp reports whether args ask for help: -h, -help or --help before
// a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

const workerHelp = `usage: otpd worker

Only delivers queued messages, with OTPD_WORKERS concurrent deliveries
(at least 1). It needs OTPD_REDIS_URL (a shared Redis) and the same seal
keys and delivery settings as the servers that queue the messages. There are
no flags: it is configured like the server (docs/configuration.md).
OTPD_WORKER_METRICS_ADDR serves its Prometheus metrics.
`

const configHelp = `usage: otpd config check

Validates the configuration and environment the way the server does at
startup (settings, secrets, signing keys, templates, provider secrets)
without listening or connecting. Prints every problem and exits 1, or a
summary and exits 0.
`

const versionHelp = `usage: otpd version

Prints the version, the commit it was built from, the Go version and the
platform.
`

const healthcheckHelp = `usage: otpd healthcheck [-url URL] [-timeout D]

Exits 0 when the local otpd's /healthz answers 200, and 1 otherwise: a
container health check for images without a shell (distroless). It reads
only the listener settings (OTPD_ADMIN_ADDR, else OTPD_HTTP_ADDR), no keys.
`

// toolHelp prints the help of the command args[0] (args[1:] hold -h).
// handled is false when args[0] is not a command otpd knows.
func toolHelp(ctx context.Context, args []string, te toolEnv) (handled bool, err error) {
	// The command's own flag set prints its flags: invoked with -h only,
	// it returns flag.ErrHelp before doing anything.
	flags := func(run func(context.Context, []string, toolEnv) error, args ...string) error {
		var b bytes.Buffer
		err := run(ctx, args, toolEnv{stdout: &b, stderr: &b, env: te.env, read: te.read})
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			return err
		}
		writeFlags(te.stdout, b.String())
		return nil
	}
	switch args[0] {
	case "worker":
		fmt.Fprint(te.stdout, workerHelp)
	case "keygen":
		return true, flags(func(_ context.Context, a []string, te toolEnv) error { return runKeygen(a, te) }, "-h")
	case "version":
		fmt.Fprint(te.stdout, versionHelp)
		return true, flags(func(_ context.Context, a []string, te toolEnv) error { return runVersion(a, te) }, "-h")
	case "config":
		fmt.Fprint(te.stdout, configHelp)
		return true, flags(runConfigCheck, "-h")
	case "healthcheck":
		fmt.Fprint(te.stdout, healthcheckHelp)
		return true, flags(runHealthcheck, "-h")
	case "deadletters":
		verb := ""
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			verb = args[1]
		}
		return true, deadHelp(te.stdout, verb)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(te.stdout, usage)
	default:
		return false, nil
	}
	return true, nil
}

// writeFlags writes a flag set's -h output without the flag package's
// "Usage of ...:" header (the help above it says what the command is),
// and nothing when the command has no flags.
func writeFlags(w io.Writer, out string) {
	if strings.HasPrefix(out, "Usage of ") {
		_, out, _ = strings.Cut(out, "\n")
	}
	if strings.TrimSpace(out) == "" {
		return
	}
	if !strings.HasPrefix(out, "usage:") {
		fmt.Fprintln(w, "\nflags:")
	}
	fmt.Fprint(w, out)
}

// helpCommand answers `otpd help [command]`.
func helpCommand(ctx context.Context, args []string, te toolEnv) error {
	if len(args) == 0 {
		fmt.Fprint(te.stdout, usage)
		return nil
	}
	handled, err := toolHelp(ctx, append(args[:len(args):len(args)], "-h"), te)
	if !handled {
		return fmt.Errorf("help: unknown command %q (see otpd help)", args[0])
	}
	return err
}
