package flow

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/store"
)

// pending is what a start leaves for its verify, inside the code record.
type pending struct {
	Profile store.Profile `json:"p,omitzero"`
	// Other is an unverified address of the other contact type for a new
	// user (see unverifiedContact).
	Other string `json:"x,omitempty"`
	// OwnerID is the signed-in user a step-up, MFA or update start came
	// from; the verify must resolve to the same user.
	OwnerID      string         `json:"o,omitempty"`
	StepUp       bool           `json:"s,omitempty"`
	MFA          bool           `json:"m,omitempty"`
	AMR          []string       `json:"a,omitempty"` // the caller's factors (MFA keeps them)
	Nsec         map[string]any `json:"c,omitempty"`
	RevokeOthers bool           `json:"r,omitempty"`
	Update       *pendingUpdate `json:"u,omitempty"`
	// AuthTime (unix seconds), on an update, is the caller's session
	// sign-in time: the tokens of its verify carry it on, so an update
	// never makes a session look recently signed in.
	AuthTime int64 `json:"t,omitempty"`
	// Session, on an update, is the token family (refresh session) of the
	// caller that started it. The verify applies the change and mints its
	// session only while that family is live (not logged out, logged out
	// everywhere, revoked by a disable or by reuse, nor expired): a
	// pending update never outlives the session that asked for it.
	Session string `json:"f,omitempty"`
	// DCT is loginOptions.tenantId: the session's current tenant, checked
	// at the start (the user is a member) and again at the verify.
	DCT string `json:"d,omitempty"`
}

// pendingUpdate is an email/phone change waiting for its code.
type pendingUpdate struct {
	AddLoginID    bool `json:"l,omitempty"`
	MergeExisting bool `json:"e,omitempty"`
	// Locale is what older releases kept for the security notice (the
	// requester's); ignored: the notice goes out in the project's default
	// locale (see notifyContactChanged).
	Locale string `json:"L,omitempty"`
}

// authTime is the sign-in time the verify's refresh JWT carries: zero (the
// verify itself is the sign-in) unless an update carries its caller's.
func (p *pending) authTime() time.Time {
	if p.AuthTime <= 0 {
		return time.Time{}
	}
	return time.Unix(p.AuthTime, 0)
}

func (p *pending) encode() ([]byte, error) {
	if p.OwnerID == "" && !p.StepUp && !p.MFA && len(p.Nsec) == 0 && !p.RevokeOthers && p.Update == nil && p.Profile == (store.Profile{}) && p.Other == "" && p.DCT == "" {
		return nil, nil
	}
	return json.Marshal(p)
}

func decodePending(b []byte) (pending, error) {
	var p pending
	if len(b) == 0 {
		return p, nil
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// amr is the factors of the new session: the channel, after the caller's
// existing factors when this is MFA.
func (p *pending) amr(ch Channel) []string {
	if !p.MFA {
		return []string{ch.AMR()}
	}
	out := slices.Clone(p.AMR)
	if !slices.Contains(out, ch.AMR()) {
		out = append(out, ch.AMR())
	}
	return out
}

// MaxCustomClaimsBytes bounds loginOptions.customClaims, encoded as JSON.
const MaxCustomClaimsBytes = 1024

// reservedClaims may not be set through customClaims: they are registered
// JWT claims or ones Descope's SDKs read.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "drn", "amr", "su", "nsec",
	"tenants", "roles", "permissions", "dct", "dsub", "cnf", "azp", "sid", "rexp",
}

// checkCustomClaims validates loginOptions.customClaims.
func checkCustomClaims(c map[string]any) error {
	if len(c) == 0 {
		return nil
	}
	for k := range c {
		if k == "" || slices.Contains(reservedClaims, k) {
			return apierr.ErrInvalidArgument.With("customClaims may not set the reserved claim %q", k)
		}
	}
	b, err := json.Marshal(c)
	if err != nil || len(b) > MaxCustomClaimsBytes {
		return apierr.ErrInvalidArgument.With("customClaims must encode to at most %d bytes of JSON", MaxCustomClaimsBytes)
	}
	return nil
}
