package flow

import (
	"context"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// What a refresh JWT alone may do (docs/security.md, "A stolen refresh
// JWT"):
//
//   - Change a verified contact or a login id (update email/phone, with or
//     without addToLoginIDs) only while the sign-in that started its
//     session is recent: Project.RecentSignIn, 10 min by default. The
//     sign-in time is the refresh JWT's auth_time claim, set by the verify
//     that signed the user in (a step-up or MFA verify is such a sign-in:
//     its code went to a contact the user already had) and carried
//     unchanged through rotation and update verifies, so that no refresh
//     makes an old session look recent. Older sessions get 403 E064403 and
//     step up first.
//   - Send a step-up or MFA code only to a contact the user had when the
//     session signed in: a contact an update changed at or after that
//     second is refused (403 E064409), so whoever changed it with this
//     session cannot turn the change into su: true or a second factor.
//   - Whatever the profile of the caller, a login id of another user is
//     refused first (401), before anything that depends on the caller's
//     contacts.

// longAgo stands for a sign-in time that is not known: never recent.
var longAgo = time.Unix(1, 0)

// signedInAt is when the sign-in that started c's session happened: its
// auth_time; for a token minted before the claim existed, its iat when it
// is the family's first token (a verify minted it), else longAgo (a
// rotation minted it, and its iat is not the sign-in).
func signedInAt(c *token.Claims) time.Time {
	if !c.AuthTime.IsZero() {
		return c.AuthTime
	}
	if id, ok := store.ParseRefreshID(c.ID); ok && id.Generation == 0 {
		return c.IssuedAt
	}
	return longAgo
}

// recentSignIn is the project's max age of a session's sign-in for a
// contact or login id change.
func (p *Project) recentSignIn() time.Duration {
	if p.RecentSignIn > 0 {
		return p.RecentSignIn
	}
	return config.DefaultRecentSignInMaxAge.D()
}

// requireRecentSignIn refuses a change of a verified contact or login id
// by a session whose sign-in is older than the project allows.
func (e *Engine) requireRecentSignIn(p *Project, c *Caller) error {
	if e.clock.Now().Sub(c.SignedInAt) > p.recentSignIn() {
		return apierr.ErrStepUpRequired
	}
	return nil
}

// checkOwner refuses a login id that is not the caller's (401). It runs
// before any check whose answer depends on the caller's own record, so
// that a foreign login id gets the same answer whoever asks.
func (e *Engine) checkOwner(ctx context.Context, p *Project, loginID string, c *Caller) error {
	owner, err := e.accounts.LoginOwner(ctx, p.ID, loginID)
	if err != nil {
		return storeErr(err)
	}
	if owner != c.UserID {
		return apierr.ErrRefreshInvalid.With("The loginId does not belong to the signed-in user")
	}
	return nil
}

// contactPredatesSession reports whether the user's verified contact was
// last changed by an update before the session's sign-in. auth_time has
// whole seconds: a change within the sign-in's own second counts as after
// it (refused), never the other way round.
func contactPredatesSession(u store.User, contact store.Contact, signedIn time.Time) bool {
	changed := u.ContactChangedAt(contact)
	return changed.IsZero() || changed.Before(signedIn)
}
