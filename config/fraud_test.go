package config_test

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestFraudGuardChecked: config.Check (startup and `otpd config check`)
// refuses every bad pumping-guard setting, naming it; the defaults fill
// what is unset.
func TestFraudGuardChecked(t *testing.T) {
	t.Parallel()
	check := func(guard string) (*config.Config, string) {
		yaml := "projects:\n  - id: P1\n    fraudGuard:\n" + guard
		c, r := config.Check(envOf(map[string]string{"OTPD_CONFIG": "/c.yaml", "OTPD_HMAC_SECRETS": "0123456789abcdef0123456789abcdef"}),
			filesOf(map[string]string{"/c.yaml": yaml}), nil)
		return c, strings.Join(r.Problems, "\n")
	}
	for _, c := range []struct{ setting, want string }{
		{"      mode: block\n", "fraudGuard.mode"},
		{"      window: 1m\n", "fraudGuard.window"},
		{"      coolOff: 48h\n", "fraudGuard.coolOff"},
		{"      maxTrackedPrefixes: 5\n", "fraudGuard.maxTrackedPrefixes"},
		{"      prefix: {minConversion: 1.5}\n", "fraudGuard.prefix.minConversion"},
		{"      country: {minSends: -1}\n", "fraudGuard.country.minSends"},
		{"      allow: {countries: [gb]}\n", "fraudGuard.allow.countries"},
		{"      allow: {prefixes: [\"4479\"]}\n", "fraudGuard.allow.prefixes"},
	} {
		if _, got := check(c.setting); !strings.Contains(got, c.want) {
			t.Errorf("%q: problems %q, want one naming %s", c.setting, got, c.want)
		}
	}
	cfg, got := check("      mode: shadow\n      prefix: {minSends: 10}\n      allow: {prefixes: [\"+4479460\"], countries: [GB]}\n")
	if got != "" {
		t.Fatalf("good settings refused: %s", got)
	}
	g := cfg.Projects[0].FraudGuard
	if g.Mode != "shadow" || *g.Prefix.MinSends != 10 || *g.Prefix.MinConversion != config.DefaultFraudMinConversion ||
		*g.Country.MinSends != config.DefaultFraudCountrySends || g.Window.D() != config.DefaultFraudWindow {
		t.Errorf("defaults not filled: %+v prefix %+v country %+v", g, *g.Prefix, *g.Country)
	}
}
