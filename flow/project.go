package flow

import (
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/token"
)

// Project is one project's runtime: its settings and its token issuer.
type Project struct {
	ID                 string
	CodeLength         int
	CodeTTL            time.Duration
	MaxAttempts        int
	DefaultPhoneRegion string
	CookieDomain       string
	CookiePath         string
	// RefreshTTL is the refresh token lifetime (the cookie Max-Age).
	RefreshTTL time.Duration
	// SessionTTL is the session token lifetime (the DS cookie Max-Age).
	SessionTTL time.Duration
	// RotateRefresh issues a new refresh token on every refresh and
	// treats a reused old one as theft (its family is revoked).
	RotateRefresh bool
	// RefreshGrace is how long after a rotation the previous generation
	// is still answered (0: not at all).
	RefreshGrace time.Duration
	// MaxRefreshTokens caps a user's live refresh tokens (token families).
	MaxRefreshTokens int
	// RecentSignIn is how old a session's sign-in may be for its refresh
	// JWT to change a verified contact or a login id (0: the default,
	// config.DefaultRecentSignInMaxAge).
	RecentSignIn time.Duration
	// SessionCookie / RefreshCookie deliver the tokens as DS / DSR cookies
	// on REST; with RefreshCookie the body omits refreshJwt.
	SessionCookie bool
	RefreshCookie bool
	// Limits are the abuse limits (defaults filled in).
	Limits config.Limits
	// PhonePolicy is per phone channel.
	PhonePolicy map[string]config.PhonePolicy
	// EnumerationProtection: sign-in for an unknown user answers like a
	// known one and sends nothing.
	EnumerationProtection bool
	Issuer                *token.Issuer
	Keys                  *token.KeySet
}

// Projects looks projects up by id.
type Projects interface {
	Project(id string) (*Project, bool)
}

// ProjectMap is a fixed set of projects.
type ProjectMap map[string]*Project

// Project implements Projects.
func (m ProjectMap) Project(id string) (*Project, bool) {
	p, ok := m[id]
	return p, ok
}
