package flow

import (
	"context"
	"fmt"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
)

// What the management API (package mgmt) needs from the flow engine.

// index updates the search indexes after a login changed a user; a failure
// is logged, not returned: the login itself succeeded, and the next
// change of the user indexes it again.
func (e *Engine) index(ctx context.Context, p *Project, u store.User) {
	if e.indexer == nil {
		return
	}
	if err := e.indexer.Index(ctx, p.ID, u); err != nil {
		e.log.WarnContext(ctx, "user index not updated", "project", p.ID, "user", u.UserID, "error", err)
	}
}

// TestCodeOptions are the loginOptions of a test user's code that act on
// the session its verify issues, as a start's do.
type TestCodeOptions struct {
	// CustomClaims land in the nsec claim of both tokens.
	CustomClaims map[string]any
	// RevokeOthers revokes the user's other sessions on verify.
	RevokeOthers bool
}

// TestCode stores a live sign-in code for an existing user's login id on
// a channel, exactly as a start does (same hashing, same record, same
// expiry and attempts, same custom claims), but sends nothing and returns
// the code. The caller (the management API) checks that the user is a
// test user.
func (e *Engine) TestCode(ctx context.Context, p *Project, ch Channel, loginID string, o TestCodeOptions) (string, error) {
	lid, err := normalizeLoginID(loginID, ch, p.DefaultPhoneRegion)
	if err != nil {
		return "", err
	}
	if err := checkCustomClaims(o.CustomClaims); err != nil {
		return "", err
	}
	id, loginAddr := lid.ID, lid.Addr
	payload, err := (&pending{Nsec: o.CustomClaims, RevokeOthers: o.RevokeOthers}).encode()
	if err != nil {
		return "", err
	}
	code, err := e.gen.New(p.CodeLength)
	if err != nil {
		return "", fmt.Errorf("generating code: %w", err)
	}
	now := e.clock.Now()
	res, err := e.codes.StartCode(ctx, store.NewCode{
		Key:            store.CodeKey{Project: p.ID, LoginID: id, Channel: string(ch)},
		Rule:           store.RuleExisting,
		Purpose:        string(SignIn),
		Hash:           e.hasher.Sum(otpcode.Input{Project: p.ID, Channel: string(ch), LoginID: id, Purpose: string(SignIn), Code: code}),
		Contact:        ch.Contact(),
		NewUserAddress: loginAddr,
		Payload:        payload,
		MaxAttempts:    p.MaxAttempts,
		ExpiresAt:      now.Add(p.CodeTTL),
		Retain:         p.CodeTTL + store.CodeRecordGrace,
		Now:            now,
	})
	if err != nil {
		return "", storeErr(err)
	}
	switch res.Status {
	case store.StartOK:
		return code, nil
	case store.StartNotFound:
		return "", apierr.ErrMgmtUserNotFound
	case store.StartDisabled:
		return "", apierr.ErrUserDisabled
	case store.StartNoAddress:
		return "", apierr.ErrInvalidArgument.With("The test user has no verified address for this delivery method (a code record needs one, though nothing is sent)")
	default:
		return "", fmt.Errorf("store: test code start: %q", res.Status)
	}
}

// CanonicalLoginID is the login id as every flow stores it: an email
// lower-cased and validated, a phone number in E.164, a user name trimmed
// and lower-cased.
func CanonicalLoginID(raw, region string) (string, error) {
	id, err := normalizeLoginID(raw, Email, region)
	return id.ID, err
}

// ParseChannel reads a delivery method ("email", "sms", "voice",
// "whatsapp").
func ParseChannel(s string) (Channel, bool) {
	switch c := Channel(s); c {
	case Email, SMS, Voice, WhatsApp:
		return c, true
	}
	return "", false
}
