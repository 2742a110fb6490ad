package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckValidatesAutofill: the SMS autofill settings
// (webOtpDomain, webOtpIframeDomain, androidAppHash) are checked by the
// one validation `otpd config check` and startup share: a malformed host
// or hash, or an app hash the code SMS cannot fit in 140 bytes with, is
// refused by both, naming the setting; good settings pass both.
func TestConfigCheckValidatesAutofill(t *testing.T) {
	project := func(delivery string) map[string]string {
		p := filepath.Join(t.TempDir(), "otpd.yaml")
		y := "projects:\n  - id: P1\n    codeLength: 10\n    delivery:\n" + delivery
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"OTPD_CONFIG": p}
	}
	for _, c := range []struct{ name, delivery, want string }{
		{"domain with a scheme", "      webOtpDomain: https://example.com\n", "webOtpDomain"},
		{"domain with a port", "      webOtpDomain: example.com:443\n", "webOtpDomain"},
		{"iframe domain alone", "      webOtpIframeDomain: shop.example\n", "webOtpIframeDomain"},
		{"short app hash", "      androidAppHash: FA+9qCX9VS\n", "androidAppHash"},
		{"app hash with '='", "      androidAppHash: FA+9qCX9VS=\n", "androidAppHash"},
		{"app hash past 140 bytes", "      androidAppHash: FA+9qCX9VSu\n      productName: " + strings.Repeat("P", 90) + "\n", "140 bytes"},
	} {
		env := project(c.delivery)
		out, _, err := run(t, env, "config", "check")
		if err == nil || !strings.Contains(out, "problem: ") || !strings.Contains(out, c.want) {
			t.Errorf("%s: config check: %v\n%s", c.name, err, out)
		}
		if err := startup(t, env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: startup: %v, want a refusal naming %q", c.name, err, c.want)
		}
	}
	good := project("      webOtpDomain: login.example.com\n      webOtpIframeDomain: shop.example\n      androidAppHash: FA+9qCX9VSu\n")
	if out, _, err := run(t, good, "config", "check"); err != nil {
		t.Errorf("good settings: config check: %v\n%s", err, out)
	}
	if err := startup(t, good); err != nil {
		t.Errorf("good settings: startup: %v", err)
	}
}
