package flow

import (
	"strconv"

	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// TokenAuthz converts resolved claims to a token's claims (nil when there
// are none); dct is kept only when c has that tenant. Access keys
// (package accesskey) mint with it, so that their tokens carry the claims
// exactly as users' do.
func TokenAuthz(c store.Claims, dct string) *token.Authz { return tokenAuthz(c, dct) }

// Refused counts a rate-limit refusal (or, in a dry run, a would-be
// refusal) under otpd_limit_refusals_total, as the flows' own do. For
// limits charged outside the engine (access-key exchanges).
func (m *Metrics) Refused(project, limit string, dry bool) {
	if m != nil && limit != "" {
		m.refusals.WithLabelValues(project, limit, strconv.FormatBool(dry)).Inc()
	}
}
