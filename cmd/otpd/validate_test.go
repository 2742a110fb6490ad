package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// key32 is a well-formed management key secret.
const key32 = "0123456789abcdef0123456789abcdef"

// badConfigs are configurations that startup refuses (before this
// validation was shared, `otpd config check` said OK to each), with the
// text the problem must contain.
var badConfigs = []struct {
	name string
	env  map[string]string
	want string
}{
	{"20-character management key", map[string]string{"OTPD_MANAGEMENT_KEYS": "abcdefghij0123456789"}, "management key"},
	{"management key with ':'", map[string]string{"OTPD_MANAGEMENT_KEYS": "k1=" + key32 + ":x"}, `management key "k1"`},
	{"management key with a space", map[string]string{"OTPD_MANAGEMENT_KEYS": "k1=" + key32 + " x"}, `management key "k1"`},
	{"duplicated management key id", map[string]string{"OTPD_MANAGEMENT_KEYS": "k1=" + key32 + ",k1=" + key32 + "x"}, `id "k1" is listed twice`},
	{"listen address without a port", map[string]string{"OTPD_HTTP_ADDR": "nonsense"}, "OTPD_HTTP_ADDR"},
	{"listen port out of range", map[string]string{"OTPD_GRPC_ADDR": ":99999"}, "OTPD_GRPC_ADDR"},
	{"admin port not a number", map[string]string{"OTPD_ADMIN_ADDR": "127.0.0.1:metrics"}, "OTPD_ADMIN_ADDR"},
	{"two listeners on one port", map[string]string{"OTPD_GRPC_ADDR": ":18080", "OTPD_HTTP_ADDR": "127.0.0.1:18080"}, "same port"},
}

// startup runs otpd's serve path (realMain) with env as the whole OTPD_*
// environment and a context that is already cancelled, so a
// configuration startup accepts serves on free ports and stops at once.
func startup(t *testing.T, env map[string]string) error {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "OTPD_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	all := map[string]string{"OTPD_GRPC_ADDR": "127.0.0.1:0", "OTPD_HTTP_ADDR": "127.0.0.1:0", "OTPD_ADMIN_ADDR": "127.0.0.1:0",
		"OTPD_LOG_LEVEL": "error", "OTPD_WORKERS": "0"}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range all {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return realMain(ctx, nil)
}

// TestConfigCheckIsStartupValidation: `otpd config check` refuses exactly
// what startup refuses, because both run the same validation: each bad
// configuration fails both, naming its setting, and the default passes
// both.
func TestConfigCheckIsStartupValidation(t *testing.T) {
	for _, c := range badConfigs {
		out, _, err := run(t, c.env, "config", "check")
		if err == nil || !strings.Contains(out, "problem: ") || !strings.Contains(out, c.want) {
			t.Errorf("%s: config check: %v\n%s", c.name, err, out)
		}
		if err := startup(t, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: startup: %v, want a refusal naming %q", c.name, err, c.want)
		}
	}
	if out, _, err := run(t, nil, "config", "check"); err != nil {
		t.Errorf("default: config check: %v\n%s", err, out)
	}
	if err := startup(t, nil); err != nil {
		t.Errorf("default: startup: %v", err)
	}
	good := map[string]string{"OTPD_MANAGEMENT_KEYS": "k1=" + key32 + ",k2=" + key32 + "x", "OTPD_HTTP_ADDR": "[::1]:0"}
	if out, _, err := run(t, good, "config", "check"); err != nil {
		t.Errorf("good keys and addresses: config check: %v\n%s", err, out)
	}
}

// TestConfigCheckReportsEveryProblemInOnePass: with all the bad settings
// at once, config check lists each of them (not only the first).
func TestConfigCheckReportsEveryProblemInOnePass(t *testing.T) {
	env := map[string]string{
		"OTPD_MANAGEMENT_KEYS": "short,k1=" + key32 + ",k1=" + key32 + "y",
		"OTPD_HTTP_ADDR":       "nonsense", "OTPD_GRPC_ADDR": ":99999", "OTPD_ADMIN_ADDR": "127.0.0.1:metrics",
		"OTPD_WORKERS": "many", "OTPD_SIGNING_KEY_FILE": "/nonexistent/key.pem",
	}
	out, _, err := run(t, env, "config", "check")
	if err == nil {
		t.Fatalf("config check passed:\n%s", out)
	}
	for _, want := range []string{"entry 1 of 3", `id "k1" is listed twice`, "OTPD_HTTP_ADDR", "OTPD_GRPC_ADDR",
		"OTPD_ADMIN_ADDR", "OTPD_WORKERS", "signingKeyFiles[0]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, key32) {
		t.Errorf("config check printed a management key:\n%s", out)
	}
}

// TestConfigCheckNamesUnknownVariables: an OTPD_* variable otpd does not
// read is named, with the setting it probably meant; it is a warning (the
// server starts with it, so config check passes too).
func TestConfigCheckNamesUnknownVariables(t *testing.T) {
	var o, e bytes.Buffer
	te := toolEnv{stdout: &o, stderr: &e, read: os.ReadFile, env: func(string) (string, bool) { return "", false },
		environ: []string{"OTPD_REDIS_ULR=redis://db:6379", "OTPD_HTTP_ADDR=", "OTPD_SOMETHING_ELSE=1", "PATH=/bin", "OTPD_WORKERS=2"}}
	if _, err := runTool(context.Background(), []string{"config", "check"}, te); err != nil {
		t.Fatalf("config check: %v\n%s", err, o.String())
	}
	out := o.String()
	for _, want := range []string{
		"warning: OTPD_REDIS_ULR is set but otpd reads no such variable; it has no effect (did you mean OTPD_REDIS_URL?)",
		"warning: OTPD_SOMETHING_ELSE is set but otpd reads no such variable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, known := range []string{"OTPD_HTTP_ADDR", "OTPD_WORKERS", "PATH"} {
		if strings.Contains(out, "warning: "+known) {
			t.Errorf("%s called unknown:\n%s", known, out)
		}
	}
}
