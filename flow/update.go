package flow

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/store"
)

// UpdateInput starts an email or phone change for a signed-in user.
type UpdateInput struct {
	Project *Project
	Channel Channel
	Caller  *Caller
	// LoginID must belong to the caller.
	LoginID string
	// Address is the new email or phone; the code goes there.
	Address string
	// AddLoginID makes the new address a login id of the user.
	AddLoginID bool
	// MergeExisting: when the new address is another user's login id,
	// merge into that user instead of failing.
	MergeExisting bool
	// MFA (keep the caller's factors and add this channel) is refused:
	// the new contact is not a second factor of the session adding it.
	MFA bool
	// ClientIP is the end user's address (rate limits).
	ClientIP string
	// Delivery options.
	Locale, TemplateID, ProviderID string
	TemplateOptions                map[string]string
}

// UpdateStart sends a code to the new address. Nothing changes until the
// code is verified.
//
// Only the owner of the login id (401 otherwise), and only while the
// session's sign-in is recent (403 E064403 otherwise: step up first), may
// change a verified contact or add a login id; both are checked before
// anything is stored, charged or sent (recent.go).
func (e *Engine) UpdateStart(ctx context.Context, in UpdateInput) (StartOutput, error) {
	p := in.Project
	if in.Caller == nil {
		return StartOutput{}, apierr.ErrRefreshInvalid
	}
	id, err := normalizeLoginID(in.LoginID, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return StartOutput{}, err
	}
	if err := e.checkOwner(ctx, p, id.ID, in.Caller); err != nil {
		return StartOutput{}, err
	}
	if err := e.requireRecentSignIn(p, in.Caller); err != nil {
		return StartOutput{}, err
	}
	family := callerFamily(in.Caller)
	if family == "" {
		return StartOutput{}, apierr.ErrRefreshInvalid
	}
	if in.MFA {
		// mfa would add the new contact's factor to this session: a
		// second factor proven by a contact the session itself is adding
		// (a thief's own phone). A later sign-in may use it (recent.go).
		return StartOutput{}, apierr.ErrContactNewerThanSession.With("mfa on an update would make the contact this session is adding a " +
			"second factor of it; update without mfa, then sign in again and use mfa with the new contact")
	}
	if in.Address == "" {
		field := "email"
		if in.Channel != Email {
			field = "phone"
		}
		return StartOutput{}, apierr.ErrMissingArgument.With("The %s field is required", field)
	}
	addr, err := normalizeAddress(in.Address, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return StartOutput{}, err
	}
	if err := e.checkDelivery(p, in.Channel, in.TemplateID, in.ProviderID, in.TemplateOptions); err != nil {
		return StartOutput{}, err
	}
	// Refuse a conflict before a code is sent; verify checks again. With
	// enumeration protection the conflict is told only at verify, once the
	// new address is proven, so a signed-in user cannot probe login ids.
	if !in.MergeExisting && !p.EnumerationProtection {
		if err := e.checkConflict(ctx, p, addr, in.Caller.UserID); err != nil {
			return StartOutput{}, err
		}
	}
	return e.start(ctx, startArgs{
		project: p, channel: in.Channel, op: update, rule: store.RuleOwner, loginID: id.ID, ip: in.ClientIP,
		newAddr: addr, owner: in.Caller.UserID,
		pending: pending{OwnerID: in.Caller.UserID, MFA: in.MFA, AMR: in.Caller.AMR, Nsec: in.Caller.Nsec,
			AuthTime: in.Caller.SignedInAt.Unix(), Session: family,
			Update: &pendingUpdate{AddLoginID: in.AddLoginID, MergeExisting: in.MergeExisting}},
		msg: delivery.Message{Locale: in.Locale, TemplateID: in.TemplateID,
			TemplateOptions: in.TemplateOptions, ProviderID: in.ProviderID},
	})
}

// callerFamily is the token family of the caller's refresh JWT ("" when
// it has none otpd minted). Its liveness, not the token itself, is what
// the update's verify checks: the family outlives rotations (checking the
// presented token would fire reuse detection once the family rotated).
func callerFamily(c *Caller) string {
	if c.Claims == nil {
		return ""
	}
	id, ok := store.ParseRefreshID(c.Claims.ID)
	if !ok {
		return ""
	}
	return id.Family
}

// errSessionEnded is the refusal of an update's verify whose session has
// ended since its start (or whose record names none: an older release's).
var errSessionEnded = apierr.ErrRefreshRevoked.With("The session that started this update has ended " +
	"(logged out, or the user was logged out everywhere or disabled); sign in and start the update again")

func (e *Engine) checkConflict(ctx context.Context, p *Project, addr, uid string) error {
	owner, err := e.accounts.LoginOwner(ctx, p.ID, addr)
	if err != nil {
		return storeErr(err)
	}
	if owner != "" && owner != uid {
		return apierr.ErrUpdateConflict
	}
	return nil
}

// applyUpdate makes a verified change. It returns the user the session is
// for: the caller, or the existing owner of the address after a merge.
//
// Not atomic across Redis Cluster slots: each step is one script, ordered
// so that a failure part-way leaves every login id pointing at a user that
// exists; retrying the whole change converges.
//
// A verified address it replaces hears about it (notifyContactChanged),
// after the change is made.
//
// Every step requires the session that started the update (session, its
// token family) to be live: the user read before the first write (which
// also covers a merge, whose writes are on another user's slot) and, in
// the same script as the write, the contact change (ApplyContact) and the
// verify's new session (CompleteLogin, see Verify). A logout, logout-all or
// disable that lands before any of them leaves nothing of the update
// after it but, at most, a change the old address was told of.
func (e *Engine) applyUpdate(ctx context.Context, p *Project, ch Channel, uid, addr, session string, u *pendingUpdate, now time.Time) (store.User, error) {
	contact := ch.Contact()
	owner, err := e.accounts.LoginOwner(ctx, p.ID, addr)
	if err != nil {
		return store.User{}, storeErr(err)
	}
	// The verified address being replaced, told of the change afterwards;
	// read only while the session is live (the same round trip).
	before, err := e.accounts.SessionUser(ctx, p.ID, uid, session, now)
	if err != nil {
		return store.User{}, e.accountErr(err)
	}
	old := verifiedContact(before, contact)
	if owner != "" && owner != uid {
		if !u.MergeExisting {
			return store.User{}, apierr.ErrUpdateConflict
		}
		user, err := e.merge(ctx, p, contact, uid, owner, addr, before, now)
		if err == nil {
			e.notifyContactChanged(ctx, p, ch, old, addr, now)
		}
		return user, err
	}
	if u.AddLoginID {
		if err := e.accounts.BindLogin(ctx, p.ID, addr, uid, "", contact, addr); err != nil {
			if errors.Is(err, store.ErrTaken) {
				return store.User{}, apierr.ErrUpdateConflict
			}
			return store.User{}, storeErr(err)
		}
	}
	user, err := e.accounts.ApplyContact(ctx, store.ContactChange{Project: p.ID, UserID: uid, Contact: contact, Address: addr, AddLoginID: u.AddLoginID, Now: now, Session: session})
	if err != nil {
		if u.AddLoginID && (errors.Is(err, store.ErrNoUser) || errors.Is(err, store.ErrSessionEnded)) {
			// Erased, or the session ended, since: the login id bound
			// above must not name the user.
			e.unbind(ctx, p, uid, addr)
		}
		return store.User{}, e.accountErr(err)
	}
	// Told now: the change is made, and a retry after a failure below
	// finds the new address already in place (and would not tell).
	e.notifyContactChanged(ctx, p, ch, old, addr, now)
	// Sign-ins by any of the user's login ids now reach the new address:
	// the copy is set only on login ids that are still the user's (one
	// unbound meanwhile, by an erasure, stays unbound).
	for _, id := range user.LoginIDs {
		if err := e.accounts.SetLoginContact(ctx, p.ID, id, uid, contact, addr); err != nil && !errors.Is(err, store.ErrNotOwner) {
			return store.User{}, storeErr(err)
		}
	}
	return user, nil
}

// unbind takes back a login id this flow bound to uid, when uid turned
// out to be erased (best effort: a login id left naming an erased user
// signs nobody in, see store.Login.New).
func (e *Engine) unbind(ctx context.Context, p *Project, uid, loginID string) {
	if err := e.accounts.UnbindLoginID(ctx, p.ID, loginID, uid); err != nil {
		e.log.WarnContext(ctx, "login id of an erased user not unbound", "project", p.ID, "error", err)
	}
}

// merge folds user from into user into (who owns addr): into gains from's
// login ids; from's record and sessions are deleted.
func (e *Engine) merge(ctx context.Context, p *Project, contact store.Contact, from, into, addr string, old store.User, now time.Time) (store.User, error) {
	ids := slices.Clone(old.LoginIDs)
	user, err := e.accounts.ApplyContact(ctx, store.ContactChange{Project: p.ID, UserID: into, Contact: contact, Address: addr, MergeLoginIDs: ids, Now: now})
	if err != nil {
		return store.User{}, e.accountErr(err)
	}
	for _, id := range ids {
		if err := e.accounts.BindLogin(ctx, p.ID, id, into, from, "", ""); err != nil && !errors.Is(err, store.ErrTaken) {
			return store.User{}, storeErr(err)
		}
	}
	// The login ids moved after ApplyContact: an erasure of into that
	// began in between (it unbinds the login ids into's record names, and
	// these were still from's) would miss them. Checked after the moves:
	// into still there means its erasure, if any, unbinds them after.
	if _, err := e.accounts.User(ctx, p.ID, into); err != nil {
		if errors.Is(err, store.ErrNoUser) {
			for _, id := range ids {
				// Back to from, whose record is still whole.
				if err := e.accounts.BindLogin(ctx, p.ID, id, from, into, "", ""); err != nil {
					e.log.WarnContext(ctx, "login id not moved back after a merge into an erased user", "project", p.ID, "error", err)
				}
			}
		}
		return store.User{}, e.accountErr(err)
	}
	if err := e.accounts.DropUser(ctx, p.ID, from); err != nil {
		return store.User{}, storeErr(err)
	}
	e.log.InfoContext(ctx, "users merged", "project", p.ID, "from", from, "into", into, "loginIds", len(ids))
	return user, nil
}

func (e *Engine) accountErr(err error) error {
	if errors.Is(err, store.ErrNoUser) {
		return apierr.ErrUserNotFound
	}
	if errors.Is(err, store.ErrSessionEnded) {
		return errSessionEnded
	}
	return storeErr(err)
}
