package main

import (
	"strings"
	"testing"
)

// usageCommands are the commands the top-level usage lists.
func usageCommands(t *testing.T) []string {
	t.Helper()
	var cmds []string
	for _, l := range strings.Split(usage, "\n") {
		if !strings.HasPrefix(l, "  ") {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 || f[0] == "(none)" {
			continue
		}
		cmds = append(cmds, f[0])
	}
	if len(cmds) < 5 {
		t.Fatalf("usage lists %v", cmds)
	}
	return cmds
}

// TestEveryCommandHasHelp: `otpd <cmd> -h` and `--help` print that
// command's help on stdout and succeed for every command the usage lists,
// in an environment the server would refuse (a bad setting, a Redis that
// does not answer), and flags appear only where they apply.
func TestEveryCommandHasHelp(t *testing.T) {
	hostile := map[string]string{"OTPD_LOG_LEVEL": "loud", "OTPD_REDIS_URL": "redis://127.0.0.1:1", "OTPD_CONFIG": "/nonexistent.yaml"}
	lines := [][]string{}
	for _, c := range usageCommands(t) {
		lines = append(lines, strings.Fields(c))
	}
	lines = append(lines, []string{"config", "check"}, []string{"deadletters", "list"},
		[]string{"deadletters", "replay"}, []string{"deadletters", "purge"})
	for _, cmd := range lines {
		for _, h := range []string{"-h", "-help", "--help"} {
			args := append(append([]string{}, cmd...), h)
			out, errOut, err := run(t, hostile, args...)
			if err != nil {
				t.Errorf("otpd %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
				continue
			}
			if !strings.HasPrefix(out, "usage: otpd "+cmd[0]) {
				t.Errorf("otpd %s: stdout %q, want the command's usage", strings.Join(args, " "), out)
			}
		}
		out, _, err := run(t, hostile, append([]string{"help"}, cmd...)...)
		if err != nil || !strings.HasPrefix(out, "usage: otpd "+cmd[0]) {
			t.Errorf("otpd help %s: %v %q", strings.Join(cmd, " "), err, out)
		}
	}
	// Flags only where they apply.
	purge, _, _ := run(t, hostile, "deadletters", "purge", "-h")
	list, _, _ := run(t, hostile, "deadletters", "list", "-h")
	if !strings.Contains(purge, "-all") || strings.Contains(list, "-all") {
		t.Errorf("-all belongs to purge only:\npurge: %s\nlist: %s", purge, list)
	}
	keygen, _, _ := run(t, hostile, "keygen", "-h")
	if !strings.Contains(keygen, "-dir") || strings.Contains(list, "-dir") {
		t.Errorf("keygen flags: %s", keygen)
	}
	// A bad flag is still an error, and so is a flag that an action does
	// not have.
	if _, _, err := run(t, nil, "deadletters", "list", "-all"); err == nil {
		t.Error("deadletters list -all: accepted")
	}
	if _, _, err := run(t, nil, "version", "-bogus"); err == nil {
		t.Error("version -bogus: accepted")
	}
	if _, _, err := run(t, nil, "help", "nope"); err == nil {
		t.Error("help nope: accepted")
	}
}
