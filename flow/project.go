package flow

import (
	"time"

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
	Issuer     *token.Issuer
	Keys       *token.KeySet
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
