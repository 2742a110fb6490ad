package mgmt

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// Update replaces a user's profile, addresses, picture and custom
// attributes (fields left out are cleared, as in Descope). A non-empty
// additionalLoginIds replaces the login ids other than the first (an empty
// one keeps them: the SDKs send [] or null when the caller gave none); a
// non-empty status sets it; test=true requires a test user. The test flag
// itself is never changed.
func (s *Service) Update(ctx context.Context, p *flow.Project, in UserInput) (store.User, error) {
	uid, err := s.resolve(ctx, p, Ref{LoginID: in.LoginID})
	if err != nil {
		return store.User{}, err
	}
	return s.modify(ctx, p, uid, func(u *store.User) error {
		if in.Test && !u.Test {
			return apierr.ErrMgmtNotTestUser
		}
		if len(in.AdditionalLoginIDs) > 0 {
			u.LoginIDs = append(u.LoginIDs[:1], in.AdditionalLoginIDs...)
		}
		if in.Status != "" {
			u.Status = in.Status
		}
		u.Email, u.Phone, u.VerifiedEmail, u.VerifiedPhone = in.Email, in.Phone, in.VerifiedEmail, in.VerifiedPhone
		u.Profile = store.Profile{Name: in.Name, GivenName: in.GivenName, MiddleName: in.MiddleName, FamilyName: in.FamilyName}
		u.Picture, u.CustomAttributes = in.Picture, in.CustomAttributes
		return s.applyAssignments(ctx, p, u, in.Assignments)
	})
}

// Patch is a partial update: nil fields are kept; custom attributes are
// merged key by key (a null value removes the key).
type Patch struct {
	Email, Phone, Name, GivenName, MiddleName, FamilyName, Picture, Status *string
	VerifiedEmail, VerifiedPhone                                           *bool
	CustomAttributes                                                       map[string]any
	// AdditionalLoginIDs, when set, replaces the user's login ids other
	// than the first (empty: remove them all).
	AdditionalLoginIDs *[]string
	// Test requires the user to be a test user (the patch changes nothing
	// otherwise).
	Test bool
	// Assignments, when Set, replace the user's roles and tenants.
	Assignments Assignments
}

// PatchUser applies a Patch to the user of loginID.
func (s *Service) PatchUser(ctx context.Context, p *flow.Project, loginID string, pt Patch) (store.User, error) {
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	return s.modify(ctx, p, uid, func(u *store.User) error {
		if pt.Test && !u.Test {
			return apierr.ErrMgmtNotTestUser
		}
		if pt.AdditionalLoginIDs != nil {
			u.LoginIDs = append(u.LoginIDs[:1], *pt.AdditionalLoginIDs...)
		}
		for dst, src := range map[*string]*string{&u.Email: pt.Email, &u.Phone: pt.Phone, &u.Name: pt.Name,
			&u.GivenName: pt.GivenName, &u.MiddleName: pt.MiddleName, &u.FamilyName: pt.FamilyName,
			&u.Picture: pt.Picture, &u.Status: pt.Status} {
			if src != nil {
				*dst = *src
			}
		}
		if pt.VerifiedEmail != nil {
			u.VerifiedEmail = *pt.VerifiedEmail
		}
		if pt.VerifiedPhone != nil {
			u.VerifiedPhone = *pt.VerifiedPhone
		}
		for k, v := range pt.CustomAttributes {
			setAttribute(u, k, v)
		}
		return s.applyAssignments(ctx, p, u, pt.Assignments)
	})
}

func setAttribute(u *store.User, k string, v any) {
	if v == nil {
		delete(u.CustomAttributes, k)
		return
	}
	if u.CustomAttributes == nil {
		u.CustomAttributes = map[string]any{}
	}
	u.CustomAttributes[k] = v
}

// SetStatus enables or disables a user. Disabling revokes every refresh
// token and flags every login id: starts, verifies and refreshes are
// refused from then on.
func (s *Service) SetStatus(ctx context.Context, p *flow.Project, r Ref, status string) (store.User, error) {
	if status != "enabled" && status != store.StatusDisabled {
		return store.User{}, apierr.ErrInvalidArgument.With("The status must be 'enabled' or 'disabled'")
	}
	uid, err := s.resolve(ctx, p, r)
	if err != nil {
		return store.User{}, err
	}
	return s.modify(ctx, p, uid, func(u *store.User) error { u.Status = status; return nil })
}

// UpdateLoginID replaces loginID by newLoginID; an empty newLoginID
// removes loginID (the user must keep at least one).
func (s *Service) UpdateLoginID(ctx context.Context, p *flow.Project, loginID, newLoginID string) (store.User, error) {
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	old, err := s.loginID(p, loginID)
	if err != nil {
		return store.User{}, err
	}
	var repl string
	if strings.TrimSpace(newLoginID) != "" {
		if repl, err = s.loginID(p, newLoginID); err != nil {
			return store.User{}, err
		}
	}
	return s.modify(ctx, p, uid, func(u *store.User) error {
		i := slices.Index(u.LoginIDs, old)
		switch {
		case i < 0:
			return apierr.ErrMgmtUserNotFound
		case repl == "":
			u.LoginIDs = slices.Delete(u.LoginIDs, i, i+1)
		case slices.Contains(u.LoginIDs, repl):
			u.LoginIDs = slices.Delete(u.LoginIDs, i, i+1)
		default:
			u.LoginIDs[i] = repl
		}
		return nil
	})
}

// SetEmail sets (or with "" clears) a user's email. failOnConflict
// refuses an address another user has (E062125).
func (s *Service) SetEmail(ctx context.Context, p *flow.Project, loginID, email string, verified, failOnConflict bool) (store.User, error) {
	return s.setContact(ctx, p, loginID, store.ContactEmail, email, verified, failOnConflict)
}

// SetPhone sets (or with "" clears) a user's phone.
func (s *Service) SetPhone(ctx context.Context, p *flow.Project, loginID, phone string, verified, failOnConflict bool) (store.User, error) {
	return s.setContact(ctx, p, loginID, store.ContactPhone, phone, verified, failOnConflict)
}

func (s *Service) setContact(ctx context.Context, p *flow.Project, loginID string, c store.Contact, addr string, verified, failOnConflict bool) (store.User, error) {
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	if failOnConflict && addr != "" {
		norm := addr
		if c == store.ContactEmail {
			norm, err = address.NormalizeEmail(addr)
		} else {
			norm, err = address.NormalizePhone(addr, p.DefaultPhoneRegion)
		}
		if err != nil {
			return store.User{}, apierr.ErrInvalidArgument.With("The %s is not valid", c)
		}
		if err := s.conflict(ctx, p, uid, c, norm); err != nil {
			return store.User{}, err
		}
	}
	return s.modify(ctx, p, uid, func(u *store.User) error {
		if c == store.ContactEmail {
			u.Email, u.VerifiedEmail = addr, verified
		} else {
			u.Phone, u.VerifiedPhone = addr, verified
		}
		return nil
	})
}

// conflict: another user holds addr as a login id or as this contact.
func (s *Service) conflict(ctx context.Context, p *flow.Project, uid string, c store.Contact, addr string) error {
	owner, err := s.st.LoginOwner(ctx, p.ID, addr)
	if err != nil {
		return storeErr(err)
	}
	holders, err := s.st.Lookup(ctx, p.ID, c, []string{addr}, 2)
	if err != nil {
		return storeErr(err)
	}
	for _, h := range append(holders, owner) {
		if h != "" && h != uid {
			return apierr.ErrUpdateConflict.With("Another user has this %s", c)
		}
	}
	return nil
}

// SetAttribute sets one custom attribute (nil removes it).
func (s *Service) SetAttribute(ctx context.Context, p *flow.Project, loginID, key string, value any) (store.User, error) {
	if key == "" {
		return store.User{}, apierr.ErrMissingArgument.With("The attributeKey field is required")
	}
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	return s.modify(ctx, p, uid, func(u *store.User) error { setAttribute(u, key, value); return nil })
}

// Logout revokes every refresh token of a user.
func (s *Service) Logout(ctx context.Context, p *flow.Project, r Ref) error {
	uid, err := s.resolve(ctx, p, r)
	if err != nil {
		return err
	}
	return storeErr(s.st.RevokeSessions(ctx, p.ID, uid))
}

// Delete erases a user: record, sessions, history, login ids (and their
// pending codes), index entries. Deleting a user that does not exist is
// E112102; a delete whose earlier try failed part-way (503) finishes.
func (s *Service) Delete(ctx context.Context, p *flow.Project, r Ref) error {
	uid, err := s.resolve(ctx, p, r)
	if err != nil {
		return err
	}
	var ref string
	if r.LoginID != "" {
		// resolve found the login id bound to uid: its erasure goes on
		// even when the record is gone.
		if ref, err = s.loginID(p, r.LoginID); err != nil {
			return err
		}
	}
	return storeErr(s.erase(ctx, p, uid, ref))
}

// erase erases user uid (ref: the login id that named it, "" for a user
// id). The order is what keeps an erased user erased when the user's keys
// and its login ids are on different Redis Cluster slots (no transaction
// spans them):
//
//  1. EraseUser, on the user's slot, sets the erasure marker and deletes
//     every key of the user in one script; it returns the login ids. From
//     here on no login can sign the user in (a login never recreates a
//     missing record, and a fresh id's record is not created over a
//     marker), no refresh works (its token ids are gone), and no
//     management write can recreate it (the marker).
//  2. Every login id is unbound (with its pending codes), so no start or
//     verify reaches the user; a verify that read the binding before is
//     refused by step 1.
//  3. The index entry is dropped (an index write racing it sees the
//     record gone and drops its own entry: store.Index).
//  4. FinishErase leaves "1" in the marker (it held the login ids so that
//     a retry after a failure part-way can finish: every step repeats
//     safely), and ref is unbound last, so that a retry by ref still finds
//     the user.
func (s *Service) erase(ctx context.Context, p *flow.Project, uid, ref string) error {
	held := s.heldAuthz(ctx, p, uid)
	ids, err := s.st.EraseUser(ctx, p.ID, uid, ref != "")
	if err != nil {
		return err
	}
	s.unindexErased(ctx, p, uid, held)
	for _, id := range ids {
		if id == ref {
			continue
		}
		if err := s.st.UnbindLoginID(ctx, p.ID, id, uid); err != nil {
			return err
		}
	}
	if err := s.st.Unindex(ctx, p.ID, uid); err != nil {
		return err
	}
	if err := s.st.FinishErase(ctx, p.ID, uid); err != nil {
		return err
	}
	if ref != "" {
		return s.st.UnbindLoginID(ctx, p.ID, ref, uid)
	}
	return nil
}

// DeleteAllTestUsers deletes up to MaxDeleteTestUsers test users and
// returns how many it deleted.
func (s *Service) DeleteAllTestUsers(ctx context.Context, p *flow.Project) (int, error) {
	sets := []store.IndexSet{{Test: true}, {Test: true, Disabled: true}}
	n := 0
	for n < MaxDeleteTestUsers {
		ids, _, err := s.st.Page(ctx, p.ID, sets, 0, MaxBatch)
		if err != nil {
			return n, storeErr(err)
		}
		if len(ids) == 0 {
			return n, nil
		}
		users, err := s.st.Users(ctx, p.ID, ids)
		if err != nil {
			return n, storeErr(err)
		}
		have := map[string]store.User{}
		for _, u := range users {
			have[u.UserID] = u
		}
		for _, id := range ids {
			u, ok := have[id]
			if ok && !u.Test {
				// A stale index entry: re-index, never delete a real user.
				s.index(ctx, p, u)
				continue
			}
			err := s.erase(ctx, p, id, "")
			if errors.Is(err, store.ErrNoUser) {
				// A stale entry of a user gone already.
				err = s.st.Unindex(ctx, p.ID, id)
			}
			if err != nil {
				return n, storeErr(err)
			}
			n++
		}
	}
	return n, nil
}

// HistoryEntry is one login of one user.
type HistoryEntry struct {
	UserID string
	store.LoginRecord
}

// History returns the logins of the users, newest first per user.
func (s *Service) History(ctx context.Context, p *flow.Project, ids []string) ([]HistoryEntry, error) {
	if len(ids) > MaxBatch {
		return nil, apierr.ErrValidation.With("At most %d userIds per call", MaxBatch)
	}
	var out []HistoryEntry
	now := s.clock.Now()
	for _, id := range ids {
		rs, err := s.st.History(ctx, p.ID, id, now)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, r := range rs {
			out = append(out, HistoryEntry{UserID: id, LoginRecord: r})
		}
	}
	return out, nil
}

// TestOTP stores a live sign-in code for a test user's login id on a
// channel and returns it (nothing is sent). Ordinary users are refused.
func (s *Service) TestOTP(ctx context.Context, p *flow.Project, method, loginID string, o flow.TestCodeOptions) (string, string, error) {
	ch, ok := flow.ParseChannel(method)
	if !ok {
		return "", "", apierr.ErrInvalidArgument.With("The deliveryMethod must be email, sms, voice or whatsapp")
	}
	id, err := s.loginID(p, loginID)
	if err != nil {
		return "", "", err
	}
	u, err := s.Load(ctx, p, Ref{LoginID: id})
	if err != nil {
		return "", "", err
	}
	if !u.Test {
		return "", "", apierr.ErrMgmtNotTestUser
	}
	code, err := s.codes.TestCode(ctx, p, ch, id, o)
	if err != nil {
		return "", "", err
	}
	return id, code, nil
}
