package mgmt

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// The user search by roleNames / tenantIds alone reads its candidates
// from the project's holder index (store/authz_index.go), a superset kept
// by the writes here: entries a write needs are added before it, entries
// it ended are dropped after it. authzFilter then keeps only the users
// whose record holds the role or tenant.

// authzDiff is what nu holds that old does not (project roles by id,
// tenants by incarnation).
func authzDiff(nu, old store.UserAuthz) store.UserAuthz {
	var d store.UserAuthz
	for _, id := range nu.Roles {
		if !slices.Contains(old.Roles, id) {
			d.Roles = append(d.Roles, id)
		}
	}
	for _, m := range nu.Tenants {
		if !slices.ContainsFunc(old.Tenants, func(o store.Membership) bool { return o.Incarnation == m.Incarnation }) {
			d.Tenants = append(d.Tenants, store.Membership{TenantID: m.TenantID, Incarnation: m.Incarnation})
		}
	}
	return d
}

// indexAuthz enters uid in the holder index of what nu holds and old does
// not, before the record is written. It returns the stamp unindexAuthz
// needs (0 when nothing changed).
func (s *Service) indexAuthz(ctx context.Context, p *flow.Project, uid string, old, nu store.UserAuthz) (int64, error) {
	if add, drop := authzDiff(nu, old), authzDiff(old, nu); add.Empty() && drop.Empty() {
		return 0, nil
	}
	seq, err := s.st.IndexAuthz(ctx, p.ID, uid, authzDiff(nu, old))
	return seq, storeErr(err)
}

// unindexAuthz drops uid from the holder index of what old held and the
// written record out does not. A failure leaves an entry too many (the
// search checks the record): it is logged, not returned.
func (s *Service) unindexAuthz(ctx context.Context, p *flow.Project, uid string, old, out store.UserAuthz, seq int64) {
	drop := authzDiff(old, out)
	if drop.Empty() || seq == 0 {
		return
	}
	if err := s.st.UnindexAuthz(ctx, p.ID, uid, drop, seq); err != nil {
		s.log.WarnContext(ctx, "holder index entry not dropped", "project", p.ID, "user", uid, "error", err)
	}
}

// authzCandidates are the users that may match a search by roleNames
// and/or tenantIds with no user-id, address or login-id filter: the
// holders of the first filter given (roles, else tenants). A role or
// tenant the project does not have has no holders. More than
// MaxCandidates holder entries together is refused, never cut.
func (s *Service) authzCandidates(ctx context.Context, p *flow.Project, q Query) ([]string, error) {
	var roleIDs, incs []int64
	field := "roleNames"
	if len(q.RoleNames) > 0 {
		rs, err := s.st.Roles(ctx, p.ID)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, r := range rs {
			if r.TenantID == "" && slices.Contains(q.RoleNames, r.Name) {
				roleIDs = append(roleIDs, r.ID)
			}
		}
	} else {
		field = "tenantIds"
		ts, err := s.st.Tenants(ctx, p.ID)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, t := range ts {
			if slices.Contains(q.TenantIDs, t.ID) {
				incs = append(incs, t.Incarnation)
			}
		}
	}
	ids, err := s.st.AuthzHolders(ctx, p.ID, roleIDs, incs, MaxCandidates)
	if errors.Is(err, store.ErrTooManyHolders) {
		return nil, apierr.ErrValidation.With("%s: the roles or tenants asked for have more than %d holders together: "+
			"narrow the search with userIds, loginIds, emails or phones", field, MaxCandidates)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return ids, nil
}

// heldAuthz is what user uid holds, read before an erasure so that its
// holder entries can be dropped after it (nothing when unreadable: its
// entries then stay, costing a search a read until the role or tenant
// goes).
func (s *Service) heldAuthz(ctx context.Context, p *flow.Project, uid string) store.UserAuthz {
	u, err := s.st.User(ctx, p.ID, uid)
	if err != nil {
		return store.UserAuthz{}
	}
	return u.Authz
}

// unindexErased drops every holder entry of an erased user (it can never
// come back: its id is not reused), whatever its stamp.
func (s *Service) unindexErased(ctx context.Context, p *flow.Project, uid string, held store.UserAuthz) {
	if held.Empty() {
		return
	}
	if err := s.st.UnindexAuthz(ctx, p.ID, uid, held, math.MaxInt64); err != nil {
		s.log.WarnContext(ctx, "holder index entry not dropped", "project", p.ID, "user", uid, "error", err)
	}
}
