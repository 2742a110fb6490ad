package fraud_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/fraud"
)

// TestPlan: what the guard judges. The prefix and the country of a phone
// destination; nothing for email, for a project in mode off, or for an
// allowed country, prefix or login id; never the full number.
func TestPlan(t *testing.T) {
	t.Parallel()
	allow := config.FraudGuard{Allow: config.FraudAllow{Countries: []string{"CH"}, Prefixes: []string{"+4479460"}, LoginIDs: []string{"reviewer"}}}
	g, err := fraud.New(map[string]fraud.Settings{
		"P":   {Config: allow, PrefixDigits: 6},
		"Off": {Config: config.FraudGuard{Mode: config.FraudOff}},
	}, nil, clock.NewFake(time.Unix(0, 0)), prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pl := g.Plan("P", "whatsapp", "u", "+33612345678")
	if pl == nil || len(pl.Entities) != 2 || pl.Entities[0].Field != "p:336123" || pl.Entities[1].Field != "c:FR" || pl.Shadow {
		t.Fatalf("plan %+v", pl)
	}
	if pl.Entities[0].MinSends != config.DefaultFraudPrefixSends || pl.Entities[1].MinSends != config.DefaultFraudCountrySends ||
		pl.Window != config.DefaultFraudWindow || pl.CapPerShard != config.DefaultFraudMaxTracked/16 {
		t.Errorf("defaults not applied: %+v", pl)
	}
	for _, c := range []struct{ project, channel, login, to string }{
		{"P", "email", "u", "+33612345678"},
		{"Off", "sms", "u", "+33612345678"},
		{"Unknown", "sms", "u", "+33612345678"},
		{"P", "sms", "u", "+41791234567"},  // allowed country
		{"P", "sms", "u", "+447946012345"}, // allowed prefix
		{"P", "sms", "reviewer", "+33612345678"},
		{"P", "sms", "u", ""},
	} {
		if pl := g.Plan(c.project, c.channel, c.login, c.to); pl != nil {
			t.Errorf("%+v judged: %+v", c, pl)
		}
	}
}
