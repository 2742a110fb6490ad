// Package fraud is otpd's conversion-based SMS pumping guard.
//
// SMS pumping is not "many requests" but "codes nobody ever enters",
// spread over number ranges so that no request count trips. For every
// phone channel the guard counts sends and verified codes per destination
// number prefix (the first limits.phonePrefixDigits digits of the E.164
// number) and per destination country, over a sliding window, in Redis
// (store/lua/fraud_lib.lua). A prefix or country with at least minSends
// sends in the window of which fewer than minConversion were verified is
// blocked for coolOff: new sends to it are refused before anything is
// charged, stored or sent (apierr.ErrPumpingBlocked), and the block lifts
// on its own. Per project an allowlist (countries, prefixes, login ids)
// is never judged, and shadow mode counts and logs what would be refused
// while refusing nothing.
//
// Invariants:
//   - The full number never leaves this package: logs, metrics and the
//     store see the prefix and the country only.
//   - Memory is bounded: per project and channel at most
//     maxTrackedPrefixes entities are tracked (least recently seen
//     forgotten first), and every entry ages out after window + coolOff.
//   - A start costs no extra Redis round trip on a single node (start.lua
//     runs the check and the count); a verified code costs one (Verified).
//
// Other components feed outcomes through Outcomes: the flow engine calls
// Verified after a successful verify; delivery status (undelivered,
// failed) calls Failed.
package fraud

import (
	"context"
	"hash/crc32"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/store"
)

// Outcomes is how the rest of otpd tells the guard what became of a send.
// Both are best effort: they log a Redis failure and never fail the
// caller's request. project is the project id, channel "sms", "voice" or
// "whatsapp" (anything else is ignored), e164 the destination number.
type Outcomes interface {
	// Verified: a code sent to e164 was verified; it raises the
	// conversion of the number's prefix and country.
	Verified(ctx context.Context, project, channel, e164 string)
	// Failed: a send to e164 was reported undelivered or failed by the
	// provider. It counts as one more send nobody verified, so a range
	// that cannot be reached is judged sooner (call it once per message).
	Failed(ctx context.Context, project, channel, e164 string)
}

// Recorder is the store the guard counts verifies and failures in.
type Recorder interface {
	RecordGuard(ctx context.Context, g *store.Guard, op store.GuardOp, n int, now time.Time) error
}

// SettingsOf are the guard settings of the configured projects.
func SettingsOf(ps []config.Project) map[string]Settings {
	out := make(map[string]Settings, len(ps))
	for _, p := range ps {
		out[p.ID] = Settings{Config: p.FraudGuard, PrefixDigits: p.Limits.PhonePrefixDigits}
	}
	return out
}

// Settings is one project's guard configuration.
type Settings struct {
	Config config.FraudGuard
	// PrefixDigits is limits.phonePrefixDigits.
	PrefixDigits int
	// the allowlist's countries and login ids as sets (New fills them).
	countries, logins map[string]bool
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Guard plans the store's checks, and reports blocks.
type Guard struct {
	projects map[string]Settings
	rec      Recorder
	clock    clock.Clock
	log      *slog.Logger
	blocks   *prometheus.CounterVec
	outcomes *prometheus.CounterVec
}

var _ Outcomes = (*Guard)(nil)

// New returns a Guard for the projects (by id), counting outcomes in rec.
func New(projects map[string]Settings, rec Recorder, c clock.Clock, reg prometheus.Registerer, log *slog.Logger) (*Guard, error) {
	norm := make(map[string]Settings, len(projects))
	for id, s := range projects {
		s.Config = s.Config.Defaulted()
		s.countries, s.logins = set(s.Config.Allow.Countries), set(s.Config.Allow.LoginIDs)
		if s.PrefixDigits <= 0 {
			s.PrefixDigits = config.DefaultPhonePrefixDigits
		}
		norm[id] = s
	}
	g := &Guard{projects: norm, rec: rec, clock: c, log: log,
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpd_pumping_blocks_total",
			Help: "Sends refused by the pumping guard (in shadow mode: that would have been), by project, channel, level (prefix or country) and mode.",
		}, []string{"project", "channel", "level", "mode"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpd_pumping_outcomes_total",
			Help: "Outcomes fed to the pumping guard (verified, failed) and those it could not record (error).",
		}, []string{"channel", "outcome"}),
	}
	for _, c := range []prometheus.Collector{g.blocks, g.outcomes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func phoneChannel(ch string) bool { return ch == "sms" || ch == "voice" || ch == "whatsapp" }

// Plan is the guard's part of a start to e164 on channel for loginID: nil
// when the guard is off, the channel is not a phone channel, or the
// destination or login id is allowed.
func (g *Guard) Plan(project, channel, loginID, e164 string) *store.Guard {
	s, ok := g.projects[project]
	if !ok || !phoneChannel(channel) || s.Config.Mode == config.FraudOff || e164 == "" {
		return nil
	}
	pl := s.entities(project, channel, e164)
	if pl == nil || s.logins[loginID] {
		return nil
	}
	pl.Shadow = s.Config.Mode == config.FraudShadow
	return pl
}

// entities are the prefix and country of e164, nil when allowed or not a
// number.
func (s Settings) entities(project, channel, e164 string) *store.Guard {
	if len(e164) < 2 || e164[0] != '+' {
		return nil
	}
	c := s.Config
	cc := region(e164)
	if s.countries[cc] || slices.ContainsFunc(c.Allow.Prefixes, func(p string) bool { return strings.HasPrefix(e164, p) }) {
		return nil
	}
	digits := e164[1:]
	if len(digits) > s.PrefixDigits {
		digits = digits[:s.PrefixDigits]
	}
	perShard := (c.MaxTrackedPrefixes + store.GuardShards - 1) / store.GuardShards
	out := &store.Guard{GuardParams: store.GuardParams{Window: c.Window.D(), CoolOff: c.CoolOff.D(), CapPerShard: perShard}}
	add := func(field string, l *config.FraudLevel) {
		out.Entities = append(out.Entities, store.GuardEntity{Key: store.GuardKey(project, channel, shard(field)), Field: field,
			MinSends: *l.MinSends, MinConversion: *l.MinConversion})
	}
	add("p:"+digits, c.Prefix)
	if cc != "" {
		add("c:"+cc, c.Country)
	}
	return out
}

func shard(field string) int { return int(crc32.ChecksumIEEE([]byte(field)) % store.GuardShards) }

func region(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}

// Refused reports a start the guard refused (or, shadow, would have):
// a metric and a log line naming the prefix or country, never the number.
func (g *Guard) Refused(ctx context.Context, project, channel, entity string, shadow bool) {
	level, value, _ := strings.Cut(entity, ":")
	if level == "p" {
		level = "prefix"
	} else {
		level = "country"
	}
	mode := config.FraudEnforce
	if shadow {
		mode = config.FraudShadow
	}
	g.blocks.WithLabelValues(project, channel, level, mode).Inc()
	msg := "pumping guard refused a send"
	if shadow {
		msg = "pumping guard would refuse a send (shadow mode)"
	}
	g.log.WarnContext(ctx, msg, "project", project, "channel", channel, "level", level, level, value)
}

// Verified implements Outcomes.
func (g *Guard) Verified(ctx context.Context, project, channel, e164 string) {
	g.record(ctx, project, channel, e164, store.GuardVerified, "verified")
}

// Failed implements Outcomes.
func (g *Guard) Failed(ctx context.Context, project, channel, e164 string) {
	g.record(ctx, project, channel, e164, store.GuardSend, "failed")
}

func (g *Guard) record(ctx context.Context, project, channel, e164 string, op store.GuardOp, outcome string) {
	s, ok := g.projects[project]
	if !ok || !phoneChannel(channel) || s.Config.Mode == config.FraudOff {
		return
	}
	pl := s.entities(project, channel, e164)
	if pl == nil {
		return
	}
	if err := g.rec.RecordGuard(ctx, pl, op, 1, g.clock.Now()); err != nil {
		g.outcomes.WithLabelValues(channel, "error").Inc()
		g.log.WarnContext(ctx, "pumping guard: could not record an outcome", "project", project, "channel", channel, "outcome", outcome, "error", err)
		return
	}
	g.outcomes.WithLabelValues(channel, outcome).Inc()
}
