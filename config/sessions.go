package config

import (
	"fmt"
	"time"
)

// Defaults of the refresh-token settings (docs/sessions.md says why).
const (
	// DefaultMaxRefreshTokensPerUser is how many live refresh tokens (token
	// families) a user keeps; a sign-in past it evicts the oldest.
	DefaultMaxRefreshTokensPerUser = 100
	// MaxMaxRefreshTokensPerUser bounds the setting: the per-user state and
	// the work of one eviction sweep stay small.
	MaxMaxRefreshTokensPerUser = 10000
	// DefaultRefreshRotationGrace is how long a just-rotated refresh token
	// is still answered (concurrent refreshes from two tabs, a retried
	// request whose answer was lost) instead of being treated as reuse.
	DefaultRefreshRotationGrace = Duration(10 * time.Second)
	// MaxRefreshRotationGrace bounds it: a longer window gives a thief who
	// replays a rotated token more time to go unnoticed.
	MaxRefreshRotationGrace = 5 * time.Minute
	// DefaultRecentSignInMaxAge is how old the sign-in behind a refresh JWT
	// may be for it to change a verified contact or a login id without a
	// step-up: a stolen refresh JWT is then worth that for at most this
	// long after the victim signed in (docs/security.md says why 10 min).
	DefaultRecentSignInMaxAge = Duration(10 * time.Minute)
	// MinRecentSignInMaxAge and MaxRecentSignInMaxAge bound it: under a
	// minute a step-up's own refresh JWT goes stale before a person has
	// typed the new address and its code; over a day "recent" means little.
	MinRecentSignInMaxAge = time.Minute
	MaxRecentSignInMaxAge = 24 * time.Hour
)

// The default refresh limits (GCRA: Count per Window, burst Count).
var (
	// Per user: 120 per 10 min, one every 5 s once the burst is spent.
	DefaultRefreshesPerUser = Rate{120, Duration(10 * time.Minute)}
	// Per client IP: 1200 per 10 min (2/s), for many users behind one NAT.
	DefaultRefreshesPerIP = Rate{1200, Duration(10 * time.Minute)}
)

func (p *Project) applySessionDefaults() {
	if p.MaxRefreshTokensPerUser == 0 {
		p.MaxRefreshTokensPerUser = DefaultMaxRefreshTokensPerUser
	}
	if p.RecentSignInMaxAge == 0 {
		p.RecentSignInMaxAge = DefaultRecentSignInMaxAge
	}
	if p.RefreshRotationGrace == nil {
		g := DefaultRefreshRotationGrace
		p.RefreshRotationGrace = &g
	}
}

func (p *Project) validateSessions() []error {
	var errs []error
	if n := p.MaxRefreshTokensPerUser; n < 1 || n > MaxMaxRefreshTokensPerUser {
		errs = append(errs, fmt.Errorf("maxRefreshTokensPerUser %d: must be 1..%d", n, MaxMaxRefreshTokensPerUser))
	}
	if g := p.RefreshRotationGrace.D(); g < 0 || g > MaxRefreshRotationGrace {
		errs = append(errs, fmt.Errorf("refreshRotationGrace %s: must be 0..%s", g, MaxRefreshRotationGrace))
	}
	if a := p.RecentSignInMaxAge.D(); a < MinRecentSignInMaxAge || a > MaxRecentSignInMaxAge {
		errs = append(errs, fmt.Errorf("recentSignInMaxAge %s: must be %s..%s", a, MinRecentSignInMaxAge, MaxRecentSignInMaxAge))
	}
	return errs
}
