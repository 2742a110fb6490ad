package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestLoadTestPresetIsFlagged: the shipped load-test preset loads (otpd
// serves it) and NotForProduction names every limit it switches off and
// its noop provider; the default embedded configuration is flagged for the
// embedded Redis and the log provider, a production-shaped one not at all.
func TestLoadTestPresetIsFlagged(t *testing.T) {
	env := func(m map[string]string) config.Env {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := config.Load(env(map[string]string{"OTPD_CONFIG": "../loadtest/otpd-loadtest.yaml",
		"OTPD_MANAGEMENT_KEYS": "mk-load-test-key-0123456789abcdefghijkl"}), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(config.NotForProduction(c), "\n")
	for _, want := range []string{"sendsPerIp", "sendsPerRecipient", "verifiesPerIp", "verifiesPerLoginId", "projectSendsPerHour.sms",
		`provider "noop" is noop`, "embedded Redis"} {
		if !strings.Contains(got, want) {
			t.Errorf("the load-test preset's warnings do not mention %q:\n%s", want, got)
		}
	}

	def, err := config.Load(env(nil), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(config.NotForProduction(def), "\n")
	if !strings.Contains(got, "embedded Redis") || !strings.Contains(got, "log provider") || strings.Contains(got, "limits off") {
		t.Errorf("default configuration's warnings:\n%s", got)
	}

	dir := t.TempDir()
	cfg := dir + "/otpd.yaml"
	if err := os.WriteFile(cfg, []byte("projects:\n  - id: Pprod\n    signingKeyFiles: [/k.pem]\n    delivery:\n      providers:\n        - {id: m, type: webhook, channels: [email], webhook: {url: \"https://example.com/h\", secretEnv: WH}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prod, err := config.Load(env(map[string]string{"OTPD_CONFIG": cfg, "OTPD_REDIS_URL": "redis://r:6379/0",
		"OTPD_HMAC_SECRETS": strings.Repeat("h", 64), "OTPD_SEAL_KEYS": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if w := config.NotForProduction(prod); len(w) != 0 {
		t.Errorf("a production configuration is flagged: %q", w)
	}
}

// TestPlaceholderHMACSecretRefused: the placeholder text a manifest or a
// guide carries is refused at startup like the other placeholder keys
// (issue 22: the Kubernetes manifest's "REPLACE: …" HMAC secret was
// accepted, being longer than 32 characters).
func TestPlaceholderHMACSecretRefused(t *testing.T) {
	for _, s := range []string{"REPLACE: otpd keygen writes hmac-secrets", "changeme-changeme-changeme-changeme-0"} {
		m := map[string]string{"OTPD_HMAC_SECRETS": s}
		_, err := config.Load(func(k string) (string, bool) { v, ok := m[k]; return v, ok }, os.ReadFile)
		if err == nil || !strings.Contains(err.Error(), "OTPD_HMAC_SECRETS") || !strings.Contains(err.Error(), "placeholder") {
			t.Errorf("%q: got %v, want a placeholder refusal naming OTPD_HMAC_SECRETS", s, err)
		}
	}
}
