package flow

import (
	"context"
	"errors"
	"slices"

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
	// MFA keeps the caller's factors and adds this channel.
	MFA bool
	// ClientIP is the end user's address (rate limits).
	ClientIP string
	// Delivery options.
	Locale, TemplateID, ProviderID string
	TemplateOptions                map[string]string
}

// UpdateStart sends a code to the new address. Nothing changes until the
// code is verified.
func (e *Engine) UpdateStart(ctx context.Context, in UpdateInput) (StartOutput, error) {
	p := in.Project
	if in.Caller == nil {
		return StartOutput{}, apierr.ErrRefreshInvalid
	}
	id, err := normalizeLoginID(in.LoginID, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return StartOutput{}, err
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
			Update: &pendingUpdate{AddLoginID: in.AddLoginID, MergeExisting: in.MergeExisting}},
		msg: delivery.Message{Locale: in.Locale, TemplateID: in.TemplateID,
			TemplateOptions: in.TemplateOptions, ProviderID: in.ProviderID},
	})
}

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
func (e *Engine) applyUpdate(ctx context.Context, p *Project, ch Channel, uid, addr string, u *pendingUpdate) (store.User, error) {
	contact := ch.Contact()
	owner, err := e.accounts.LoginOwner(ctx, p.ID, addr)
	if err != nil {
		return store.User{}, storeErr(err)
	}
	if owner != "" && owner != uid {
		if !u.MergeExisting {
			return store.User{}, apierr.ErrUpdateConflict
		}
		return e.merge(ctx, p, contact, uid, owner, addr)
	}
	if u.AddLoginID {
		if err := e.accounts.BindLogin(ctx, p.ID, addr, uid, "", contact, addr); err != nil {
			if errors.Is(err, store.ErrTaken) {
				return store.User{}, apierr.ErrUpdateConflict
			}
			return store.User{}, storeErr(err)
		}
	}
	user, err := e.accounts.ApplyContact(ctx, store.ContactChange{Project: p.ID, UserID: uid, Contact: contact, Address: addr, AddLoginID: u.AddLoginID, Now: e.clock.Now()})
	if err != nil {
		return store.User{}, e.accountErr(err)
	}
	// Sign-ins by any of the user's login ids now reach the new address.
	for _, id := range user.LoginIDs {
		if err := e.accounts.BindLogin(ctx, p.ID, id, uid, "", contact, addr); err != nil && !errors.Is(err, store.ErrTaken) {
			return store.User{}, storeErr(err)
		}
	}
	return user, nil
}

// merge folds user from into user into (who owns addr): into gains from's
// login ids; from's record and sessions are deleted.
func (e *Engine) merge(ctx context.Context, p *Project, contact store.Contact, from, into, addr string) (store.User, error) {
	old, err := e.accounts.User(ctx, p.ID, from)
	if err != nil {
		return store.User{}, e.accountErr(err)
	}
	ids := slices.Clone(old.LoginIDs)
	user, err := e.accounts.ApplyContact(ctx, store.ContactChange{Project: p.ID, UserID: into, Contact: contact, Address: addr, MergeLoginIDs: ids, Now: e.clock.Now()})
	if err != nil {
		return store.User{}, e.accountErr(err)
	}
	for _, id := range ids {
		if err := e.accounts.BindLogin(ctx, p.ID, id, into, from, "", ""); err != nil && !errors.Is(err, store.ErrTaken) {
			return store.User{}, storeErr(err)
		}
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
	return storeErr(err)
}
