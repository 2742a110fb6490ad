package mgmt

import (
	"context"
	"errors"
	"slices"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// UserTenant is a tenant membership as create, update and patch carry it.
type UserTenant struct {
	TenantID  string
	RoleNames []string
}

// Assignments are the roles and tenants a create, update or patch gives
// a user; a part whose Set flag is false keeps what the user has.
type Assignments struct {
	SetRoles   bool
	RoleNames  []string
	SetTenants bool
	Tenants    []UserTenant
}

// checkAssignments applies the per-user caps (refused past them, never cut).
func checkAssignments(roles []string, tenants []UserTenant) error {
	if err := checkNames("roleNames", roles, store.MaxRolesPerUser); err != nil {
		return err
	}
	if len(tenants) > store.MaxTenantsPerUser {
		return apierr.ErrValidation.With("The userTenants field has more than %d tenants", store.MaxTenantsPerUser)
	}
	for _, t := range tenants {
		if err := firstErr(errors.Join(checkName("tenantId", t.TenantID),
			checkNames("userTenants.roleNames", t.RoleNames, store.MaxRolesPerMembership))); err != nil {
			return err
		}
	}
	return nil
}

// resolveAssignments turns names into what a user record holds.
func (s *Service) resolveAssignments(ctx context.Context, p *flow.Project, roles []string, tenants []UserTenant) (store.UserAuthz, error) {
	if err := checkAssignments(roles, tenants); err != nil {
		return store.UserAuthz{}, err
	}
	var a store.UserAuthz
	ids, err := s.st.RoleIDs(ctx, p.ID, roles)
	if err != nil {
		return a, authzErr("role", "", err)
	}
	a.Roles = ids
	for _, t := range tenants {
		m, err := s.membership(ctx, p, t.TenantID, t.RoleNames)
		if err != nil {
			return a, err
		}
		a.Tenants = setMembership(a.Tenants, m)
	}
	return a, nil
}

func (s *Service) membership(ctx context.Context, p *flow.Project, tenantID string, roles []string) (store.Membership, error) {
	ten, err := s.st.Tenant(ctx, p.ID, tenantID)
	if err != nil {
		return store.Membership{}, authzErr("tenant", tenantID, err)
	}
	ids, err := s.st.TenantRoleIDs(ctx, p.ID, tenantID, roles)
	if err != nil {
		return store.Membership{}, authzErr("role", "", err)
	}
	return store.Membership{TenantID: tenantID, Incarnation: ten.Incarnation, Roles: ids}, nil
}

func setMembership(ms []store.Membership, m store.Membership) []store.Membership {
	for i := range ms {
		if ms[i].TenantID == m.TenantID {
			ms[i] = m
			return ms
		}
	}
	return append(ms, m)
}

// prune drops role ids and memberships the model no longer has (deleted
// roles and tenants), so they count against no cap.
func (s *Service) prune(ctx context.Context, p *flow.Project, a store.UserAuthz) (store.UserAuthz, error) {
	if a.Empty() {
		return a, nil
	}
	rs, err := s.st.Roles(ctx, p.ID)
	if err != nil {
		return a, storeErr(err)
	}
	live := make(map[int64]bool, len(rs))
	for _, r := range rs {
		live[r.ID] = true
	}
	keep := func(ids []int64) []int64 {
		return slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return !live[id] })
	}
	out := store.UserAuthz{Roles: keep(a.Roles)}
	for _, m := range a.Tenants {
		t, err := s.st.Tenant(ctx, p.ID, m.TenantID)
		if errors.Is(err, store.ErrAuthzNotFound) || (err == nil && t.Incarnation != m.Incarnation) {
			continue
		}
		if err != nil {
			return a, storeErr(err)
		}
		m.Roles = keep(m.Roles)
		out.Tenants = append(out.Tenants, m)
	}
	return out, nil
}

// RoleOp is what a role call does to the roles it names.
type RoleOp int

// The role calls: update/role/set, add, remove.
const (
	RolesSet RoleOp = iota
	RolesAdd
	RolesRemove
)

// UpdateRoles sets, adds or removes roles of the user of loginID: its
// project roles, or with tenantID its roles in that tenant (set and add
// make the user a member when it is not). In a tenant a name is the
// tenant's own role when it has one of that name, else the project role.
func (s *Service) UpdateRoles(ctx context.Context, p *flow.Project, loginID, tenantID string, names []string, op RoleOp) (store.User, error) {
	limit := store.MaxRolesPerUser
	if tenantID != "" {
		limit = store.MaxRolesPerMembership
		if err := checkName("tenantId", tenantID); err != nil {
			return store.User{}, err
		}
	}
	if err := checkNames("roleNames", names, limit); err != nil {
		return store.User{}, err
	}
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	var ids []int64
	if op != RolesRemove {
		if ids, err = s.st.TenantRoleIDs(ctx, p.ID, tenantID, names); err != nil {
			return store.User{}, authzErr("role", "", err)
		}
	}
	var ten store.Tenant
	if tenantID != "" {
		if ten, err = s.st.Tenant(ctx, p.ID, tenantID); err != nil {
			return store.User{}, authzErr("tenant", tenantID, err)
		}
	}
	return s.modifyAuthz(ctx, p, uid, func(a *store.UserAuthz) error {
		// Removal is by name against the current model: resolved inside
		// the retry so a concurrent rename cannot slip by.
		if op == RolesRemove {
			rs, err := s.st.Roles(ctx, p.ID)
			if err != nil {
				return storeErr(err)
			}
			ids = ids[:0]
			for _, r := range rs {
				if slices.Contains(names, r.Name) && (r.TenantID == "" || r.TenantID == tenantID) {
					ids = append(ids, r.ID)
				}
			}
		}
		apply := func(cur []int64) []int64 {
			switch op {
			case RolesSet:
				return slices.Clone(ids)
			case RolesAdd:
				out := slices.Clone(cur)
				for _, id := range ids {
					out = appendID(out, id)
				}
				return out
			}
			return slices.DeleteFunc(slices.Clone(cur), func(id int64) bool { return slices.Contains(ids, id) })
		}
		if tenantID == "" {
			a.Roles = apply(a.Roles)
			if len(a.Roles) > store.MaxRolesPerUser {
				return apierr.ErrValidation.With("A user has at most %d project roles", store.MaxRolesPerUser)
			}
			return nil
		}
		i := slices.IndexFunc(a.Tenants, func(m store.Membership) bool { return m.TenantID == tenantID })
		if i < 0 {
			if op == RolesRemove {
				return apierr.ErrInvalidArgument.With("The user is not a member of tenant %q", tenantID)
			}
			a.Tenants = append(a.Tenants, store.Membership{TenantID: tenantID, Incarnation: ten.Incarnation})
			i = len(a.Tenants) - 1
		}
		a.Tenants[i].Roles = apply(a.Tenants[i].Roles)
		if len(a.Tenants[i].Roles) > store.MaxRolesPerMembership {
			return apierr.ErrValidation.With("A user has at most %d roles in a tenant", store.MaxRolesPerMembership)
		}
		return checkTenantCap(*a)
	})
}

func appendID(ids []int64, id int64) []int64 {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

func checkTenantCap(a store.UserAuthz) error {
	if len(a.Tenants) > store.MaxTenantsPerUser {
		return apierr.ErrValidation.With("A user is a member of at most %d tenants", store.MaxTenantsPerUser)
	}
	return nil
}

// AddTenant makes the user of loginID a member of tenantID (no roles).
func (s *Service) AddTenant(ctx context.Context, p *flow.Project, loginID, tenantID string) (store.User, error) {
	if err := checkName("tenantId", tenantID); err != nil {
		return store.User{}, err
	}
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	ten, err := s.st.Tenant(ctx, p.ID, tenantID)
	if err != nil {
		return store.User{}, authzErr("tenant", tenantID, err)
	}
	return s.modifyAuthz(ctx, p, uid, func(a *store.UserAuthz) error {
		if !slices.ContainsFunc(a.Tenants, func(m store.Membership) bool { return m.TenantID == tenantID }) {
			a.Tenants = append(a.Tenants, store.Membership{TenantID: tenantID, Incarnation: ten.Incarnation})
		}
		return checkTenantCap(*a)
	})
}

// RemoveTenant ends the membership of the user of loginID in tenantID.
func (s *Service) RemoveTenant(ctx context.Context, p *flow.Project, loginID, tenantID string) (store.User, error) {
	if err := checkName("tenantId", tenantID); err != nil {
		return store.User{}, err
	}
	uid, err := s.resolve(ctx, p, Ref{LoginID: loginID})
	if err != nil {
		return store.User{}, err
	}
	return s.modifyAuthz(ctx, p, uid, func(a *store.UserAuthz) error {
		a.Tenants = slices.DeleteFunc(a.Tenants, func(m store.Membership) bool { return m.TenantID == tenantID })
		return nil
	})
}

// modifyAuthz is modify for the user's assignments: stale ids are
// pruned first, then fn changes them.
func (s *Service) modifyAuthz(ctx context.Context, p *flow.Project, uid string, fn func(a *store.UserAuthz) error) (store.User, error) {
	return s.modify(ctx, p, uid, func(u *store.User) error {
		a, err := s.prune(ctx, p, u.Authz)
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		u.Authz = a
		return nil
	})
}

// applyAssignments sets the user's assignments from names (create,
// update, patch).
func (s *Service) applyAssignments(ctx context.Context, p *flow.Project, u *store.User, as Assignments) error {
	if !as.SetRoles && !as.SetTenants {
		return nil
	}
	a, err := s.resolveAssignments(ctx, p, as.RoleNames, as.Tenants)
	if err != nil {
		return err
	}
	if as.SetRoles {
		u.Authz.Roles = a.Roles
	}
	if as.SetTenants {
		u.Authz.Tenants = a.Tenants
	}
	return nil
}

// Resolved is what the user holds, by name, for responses.
func (s *Service) Resolved(ctx context.Context, p *flow.Project, u store.User) (store.Claims, error) {
	c, err := s.st.Claims(ctx, p.ID, u.Authz)
	return c, storeErr(err)
}

// ResolvedAll is Resolved for each of us, against one read of the model
// (one round trip for the page, none when nobody holds anything).
func (s *Service) ResolvedAll(ctx context.Context, p *flow.Project, us []store.User) ([]store.Claims, error) {
	out := make([]store.Claims, len(us))
	if !slices.ContainsFunc(us, func(u store.User) bool { return !u.Authz.Empty() }) {
		return out, nil
	}
	snap, err := s.st.AuthzSnapshot(ctx, p.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	for i, u := range us {
		out[i] = snap.Claims(u.Authz)
	}
	return out, nil
}

// authzFilter is the search's roleNames/tenantIds filter: a user matches
// when it holds any of the project roles and is a member of any of the
// tenants named (each filter only when given). Alone, the candidates come
// from the holder index (authz_index.go), a superset this filter narrows.
func (s *Service) authzFilter(ctx context.Context, p *flow.Project, q Query) (match func(store.User) bool, failed func() error, err error) {
	var ferr error
	failed = func() error { return ferr }
	if len(q.RoleNames) == 0 && len(q.TenantIDs) == 0 {
		return func(store.User) bool { return true }, failed, nil
	}
	if err := firstErr(errors.Join(checkNames("roleNames", q.RoleNames, MaxBatch), checkNames("tenantIds", q.TenantIDs, MaxBatch))); err != nil {
		return nil, nil, err
	}
	// Every candidate is resolved against one read of the model (one
	// round trip for the whole search, at its first candidate), not one
	// Claims call each.
	var snap *store.AuthzSnapshot
	match = func(u store.User) bool {
		if ferr != nil {
			return false
		}
		if snap == nil {
			sn, err := s.st.AuthzSnapshot(ctx, p.ID)
			if err != nil {
				ferr = storeErr(err)
				return false
			}
			snap = &sn
		}
		c := snap.Claims(u.Authz)
		if len(q.RoleNames) > 0 && !slices.ContainsFunc(c.Roles, func(r string) bool { return slices.Contains(q.RoleNames, r) }) {
			return false
		}
		if len(q.TenantIDs) > 0 && !slices.ContainsFunc(q.TenantIDs, func(id string) bool { _, ok := c.Tenants[id]; return ok }) {
			return false
		}
		return true
	}
	return match, failed, nil
}
