package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

// TestDurationOutOfRange: a number of seconds too large for a duration is
// refused by name on every architecture (the float conversion is
// implementation-defined: negative on amd64, the largest on arm64).
func TestDurationOutOfRange(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1e300", "-1e300", "9.3e9"} {
		_, err := config.Load(envOf(map[string]string{"OTPD_CONFIG": "c.yaml"}),
			filesOf(map[string]string{"c.yaml": "projects:\n  - id: P2x\n    refreshTTL: " + v + "\n"}))
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("refreshTTL %s: %v", v, err)
		}
	}
}

// FuzzLoad: the config file and the environment are the operator's, but
// often templated, merged or hand-edited. Whatever they hold, Load never
// panics, and a configuration it accepts keeps every documented bound, so
// that nothing downstream sees a zero, negative or absurd setting.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"projects:\n  - id: P2one\n    codeLength: 8\n    codeTTL: 3m\n",
		`{"projects":[{"id":"P2j","codeTTL":120,"sessionTTL":"1h","refreshTTL":1e300}]}`,
		"projects:\n  - id: P2x\n    limits:\n      sendsPerIp: {count: 0, window: -1e30}\n      resendCooldown: 1e19\n",
		"projects:\n  - id: P2x\n    codeTTL: 9.3e9\n    sessionTTL: 9.3e9\n    refreshTTL: 9.3e9\n",
		"projects:\n  - id: P2x\n    delivery:\n      providers:\n        - {id: w, type: webhook, webhook: {url: 'http://x', secretEnv: S}}\n",
		"projects: &a [*a]", "a: &a [*a, *a, *a, *a]\nprojects: []", "projects:\n  - id: 'a:b'\n", "\xff", "",
	} {
		f.Add(s, "", "")
	}
	f.Add("", "OTPD_CORS_ORIGINS", " , *,https://a.example")
	f.Add("", "OTPD_TRUSTED_PROXIES", "10.0.0.0/8, ::1, 300.1.1.1")
	f.Add("", "OTPD_QUEUE_MAXLEN", "99999999999999999999")
	f.Add("", "OTPD_SEAL_KEYS", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, file, envKey, envVal string) {
		env := map[string]string{envKey: envVal}
		if file != "" {
			env["OTPD_CONFIG"] = "c.yaml"
		}
		c, err := config.Load(envOf(env), filesOf(map[string]string{"c.yaml": file}))
		if err != nil {
			if c != nil {
				t.Fatal("a configuration returned with an error")
			}
			return
		}
		if len(c.Projects) == 0 {
			t.Fatal("loaded without projects")
		}
		if c.QueueMaxLen < 100 || c.Workers < 0 || c.DeliveryMaxAttempts < 1 {
			t.Fatalf("queue settings %d %d %d", c.QueueMaxLen, c.Workers, c.DeliveryMaxAttempts)
		}
		for _, o := range c.CORSOrigins {
			if o == "" || strings.TrimSpace(o) != o {
				t.Fatalf("CORS origin %q", o)
			}
		}
		for _, k := range c.SealKeys {
			if len(k) != 32 {
				t.Fatalf("seal key of %d bytes", len(k))
			}
		}
		for _, s := range c.HMACSecrets {
			if len(s) < 32 {
				t.Fatalf("HMAC secret of %d bytes", len(s))
			}
		}
		seen := map[string]bool{}
		for _, p := range c.Projects {
			if p.ID == "" || strings.ContainsAny(p.ID, ": \t\r\n{}") || seen[p.ID] {
				t.Fatalf("project id %q", p.ID)
			}
			seen[p.ID] = true
			if p.CodeLength < 4 || p.CodeLength > 10 || p.MaxAttempts < 1 || p.MaxAttempts > 20 {
				t.Fatalf("project %q: code length %d, attempts %d", p.ID, p.CodeLength, p.MaxAttempts)
			}
			if d := p.CodeTTL.D(); d < 30*time.Second || d > time.Hour {
				t.Fatalf("project %q: codeTTL %v", p.ID, d)
			}
			if p.SessionTTL.D() < time.Minute || p.RefreshTTL.D() < p.SessionTTL.D() {
				t.Fatalf("project %q: sessionTTL %v, refreshTTL %v", p.ID, p.SessionTTL.D(), p.RefreshTTL.D())
			}
			l := p.Limits
			for _, r := range []*config.Rate{l.SendsPerLoginID, l.SendsPerIP, l.SendsPerPhonePrefix, l.SendsPerCountry, l.VerifiesPerIP, l.VerifiesPerLoginID} {
				if r == nil || r.Count < 0 || (r.Count > 0 && (r.Window.D() < time.Second || r.Window.D() > 31*24*time.Hour)) {
					t.Fatalf("project %q: rate %+v", p.ID, r)
				}
			}
			if l.ResendCooldown == nil || l.ResendCooldown.D() < 0 || l.ResendCooldown.D() > time.Hour {
				t.Fatalf("project %q: resend cooldown %v", p.ID, l.ResendCooldown)
			}
			for _, pr := range p.Delivery.Providers {
				if pr.ID == "" {
					t.Fatalf("project %q: a provider without id", p.ID)
				}
			}
		}
	})
}
