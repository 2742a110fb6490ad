package main

import (
	"context"
	"fmt"
	"io"

	"github.com/otpd/otpd/config"
)

// toolEnv is what an operator subcommand may use: its output streams and
// the injected environment and file reads (tests pass their own).
type toolEnv struct {
	stdout, stderr io.Writer
	env            config.Env
	read           config.ReadFile
	// environ is the whole environment (os.Environ()), scanned for
	// misspelt OTPD_* names.
	environ []string
}

// runTool runs the operator subcommands (keygen, config check, version,
// deadletters). handled is false for anything else (serve, worker).
func runTool(ctx context.Context, args []string, te toolEnv) (handled bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	if wantsHelp(args[1:]) {
		return toolHelp(ctx, args, te)
	}
	switch args[0] {
	case "keygen":
		return true, runKeygen(args[1:], te)
	case "version":
		return true, runVersion(args[1:], te)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			return true, fmt.Errorf("usage: otpd config check")
		}
		return true, runConfigCheck(ctx, args[2:], te)
	case "deadletters":
		return true, runDeadLetters(ctx, args[1:], te)
	case "healthcheck":
		return true, runHealthcheck(ctx, args[1:], te)
	case "help":
		return true, helpCommand(ctx, args[1:], te)
	case "-h", "-help", "--help":
		fmt.Fprint(te.stdout, usage)
		return true, nil
	}
	return false, nil
}

const usage = `usage: otpd [command]

  (none)              serve gRPC and REST (and deliver, unless OTPD_WORKERS=0)
  worker              only deliver queued messages (needs OTPD_REDIS_URL)
  keygen              write signing keys, HMAC secrets, seal keys and management keys
  config check        validate the configuration and environment without serving
  version             print the version and build information
  deadletters list|replay|purge   inspect and act on undeliverable messages
  healthcheck         exit 0 if the local otpd's /healthz answers 200 (container health checks)

With no command otpd is configured by OTPD_* environment variables and the
file OTPD_CONFIG names (docs/configuration.md); it takes no flags.
Run "otpd <command> -h" or "otpd help <command>" for a command's help.
`
