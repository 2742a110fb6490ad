package config

import (
	"fmt"
	"regexp"
	"time"
)

// FraudGuard is a project's conversion-based SMS pumping guard
// (docs/abuse-protection.md, "Pumping guard"): per phone channel it counts
// sends and verified codes per destination number prefix (the first
// limits.phonePrefixDigits digits) and per country over a sliding window,
// and refuses new sends to a prefix or country whose codes are not
// verified. Unset fields take the defaults below.
type FraudGuard struct {
	// Mode is "enforce" (default), "shadow" (count and log what would be
	// refused, refuse nothing) or "off" (count nothing).
	Mode string `json:"mode,omitempty"`
	// Window is the sliding window sends and verifies are counted over
	// (default 1h, 10m..24h); it moves in 12 steps.
	Window Duration `json:"window,omitempty"`
	// CoolOff is how long a block lasts (default 1h, 1m..24h). A block
	// clears the counts: after it, a prefix is judged again on new sends.
	CoolOff Duration `json:"coolOff,omitempty"`
	// Prefix and Country are the thresholds of each level.
	Prefix  *FraudLevel `json:"prefix,omitempty"`
	Country *FraudLevel `json:"country,omitempty"`
	// MaxTrackedPrefixes caps the prefixes and countries tracked per
	// channel (default 10000, 160..1000000); past it the least recently
	// seen is forgotten.
	MaxTrackedPrefixes int `json:"maxTrackedPrefixes,omitempty"`
	// Allow is never judged nor counted.
	Allow FraudAllow `json:"allow,omitzero"`
}

// FraudLevel: a prefix (or country) with at least MinSends sends in the
// window and fewer than MinConversion of them verified is blocked.
// MinSends 0 turns the level off.
type FraudLevel struct {
	MinSends      *int     `json:"minSends,omitempty"`
	MinConversion *float64 `json:"minConversion,omitempty"`
}

// FraudAllow lists destinations the guard leaves alone.
type FraudAllow struct {
	// Countries: ISO 3166 alpha-2 codes.
	Countries []string `json:"countries,omitempty"`
	// Prefixes: E.164 number prefixes ("+4479460"); a number starting
	// with one is allowed.
	Prefixes []string `json:"prefixes,omitempty"`
	// LoginIDs: login ids as the start names them (normalised like the
	// request's: an E.164 number, a lower-case email, a user name).
	LoginIDs []string `json:"loginIds,omitempty"`
}

// The guard's defaults (docs/abuse-protection.md explains them).
const (
	FraudEnforce = "enforce"
	FraudShadow  = "shadow"
	FraudOff     = "off"

	DefaultFraudWindow        = time.Hour
	DefaultFraudCoolOff       = time.Hour
	DefaultFraudPrefixSends   = 20
	DefaultFraudCountrySends  = 50
	DefaultFraudMinConversion = 0.10
	DefaultFraudMaxTracked    = 10000
)

var fraudPrefix = regexp.MustCompile(`^\+[1-9][0-9]{0,14}$`)

func (g *FraudGuard) applyDefaults() {
	if g.Mode == "" {
		g.Mode = FraudEnforce
	}
	if g.Window == 0 {
		g.Window = Duration(DefaultFraudWindow)
	}
	if g.CoolOff == 0 {
		g.CoolOff = Duration(DefaultFraudCoolOff)
	}
	if g.MaxTrackedPrefixes == 0 {
		g.MaxTrackedPrefixes = DefaultFraudMaxTracked
	}
	level := func(l **FraudLevel, sends int) {
		if *l == nil {
			*l = &FraudLevel{}
		}
		if (*l).MinSends == nil {
			(*l).MinSends = &sends
		}
		if (*l).MinConversion == nil {
			c := DefaultFraudMinConversion
			(*l).MinConversion = &c
		}
	}
	level(&g.Prefix, DefaultFraudPrefixSends)
	level(&g.Country, DefaultFraudCountrySends)
}

func (g *FraudGuard) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("fraudGuard."+format, args...)) }
	switch g.Mode {
	case FraudEnforce, FraudShadow, FraudOff:
	default:
		bad("mode %q: must be enforce, shadow or off", g.Mode)
	}
	if w := g.Window.D(); w < 10*time.Minute || w > 24*time.Hour {
		bad("window %s: must be 10m..24h", w)
	}
	if c := g.CoolOff.D(); c < time.Minute || c > 24*time.Hour {
		bad("coolOff %s: must be 1m..24h", c)
	}
	if n := g.MaxTrackedPrefixes; n < 160 || n > 1000000 {
		bad("maxTrackedPrefixes %d: must be 160..1000000", n)
	}
	for name, l := range map[string]*FraudLevel{"prefix": g.Prefix, "country": g.Country} {
		if l == nil || l.MinSends == nil || l.MinConversion == nil {
			continue
		}
		if n := *l.MinSends; n < 0 || n > 1000000 {
			bad("%s.minSends %d: must be 0 (off)..1000000", name, n)
		}
		if c := *l.MinConversion; !(c >= 0 && c <= 1) {
			bad("%s.minConversion %v: must be 0..1 (a fraction: 0.1 is 10%%)", name, c)
		}
	}
	for _, c := range g.Allow.Countries {
		if !countryCode.MatchString(c) {
			bad("allow.countries: %q is not an upper-case ISO 3166 alpha-2 code", c)
		}
	}
	for _, p := range g.Allow.Prefixes {
		if !fraudPrefix.MatchString(p) {
			bad("allow.prefixes: %q is not an E.164 prefix ('+' then 1 to 15 digits)", p)
		}
	}
	for _, id := range g.Allow.LoginIDs {
		if id == "" || len(id) > 320 {
			bad("allow.loginIds: %q must be 1..320 characters", id)
		}
	}
	if len(g.Allow.Countries)+len(g.Allow.Prefixes)+len(g.Allow.LoginIDs) > 10000 {
		bad("allow: at most 10000 entries in all")
	}
	return errs
}

// Defaulted returns g with the defaults in its unset fields (for
// settings built in code rather than loaded); g is not changed.
func (g FraudGuard) Defaulted() FraudGuard {
	for _, l := range []**FraudLevel{&g.Prefix, &g.Country} {
		if *l != nil {
			c := **l
			*l = &c
		}
	}
	g.applyDefaults()
	return g
}
