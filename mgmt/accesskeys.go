package mgmt

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/otpd/otpd/accesskey"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// Access keys' management (docs/authorization.md, "Access keys"): names,
// caps and permitted IPs are checked here; roles and tenants are resolved
// to ids like a user's (resolveAssignments), so deleting a role or tenant
// leaves no dangling claim on a key.

// AccessKeyInput is a key as create and update carry it. A Set flag false
// (update) keeps the key's value.
type AccessKeyInput struct {
	ID, Name       string
	SetDescription bool
	Description    string
	// ExpireTime is Unix seconds, 0 for never (create only).
	ExpireTime      int64
	SetRoles        bool
	RoleNames       []string
	SetTenants      bool
	Tenants         []UserTenant
	SetPermittedIPs bool
	PermittedIPs    []string
}

// AccessKeyView is a key with its roles and tenants by name.
type AccessKeyView struct {
	Key store.AccessKey
	// Roles are the key's project roles that exist.
	Roles []string
	// Tenants are the key's live memberships, in the key's order.
	Tenants []AccessKeyTenant
}

// AccessKeyTenant is a key's membership by name.
type AccessKeyTenant struct {
	TenantID, TenantName string
	Roles                []string
}

func accessKeyErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrAccessKeyNotFound):
		return apierr.ErrInvalidArgument.With("No such access key")
	case errors.Is(err, store.ErrAccessKeyCap):
		return apierr.ErrValidation.With("The project has reached its limit of %d access keys (docs/limits.md)", store.MaxAccessKeys)
	case errors.Is(err, store.ErrAccessKeyChanged):
		return errors.Join(apierr.ErrUnavailable.With("The access key changed concurrently; retry"), err)
	}
	return storeErr(err)
}

func checkKeyID(id string) error {
	if id == "" {
		return apierr.ErrMissingArgument.With("The id field is required")
	}
	if !accesskey.ValidID(id) {
		return apierr.ErrInvalidArgument.With("No such access key")
	}
	return nil
}

// check validates the fields of in; create also the expiry.
func (in AccessKeyInput) check(create bool, now int64) error {
	errs := []error{checkName("name", in.Name), checkDescription(in.Description),
		checkNames("roleNames", in.RoleNames, store.MaxRolesPerUser)}
	if len(in.Tenants) > store.MaxAccessKeyTenant {
		errs = append(errs, apierr.ErrValidation.With("The keyTenants field has more than %d tenants", store.MaxAccessKeyTenant))
	}
	for _, t := range in.Tenants {
		errs = append(errs, checkName("keyTenants.tenantId", t.TenantID),
			checkNames("keyTenants.roleNames", t.RoleNames, store.MaxRolesPerMembership))
	}
	if create {
		switch {
		case in.ExpireTime < 0 || in.ExpireTime > math.MaxInt32:
			errs = append(errs, apierr.ErrValidation.With("The expireTime field must be 0 (never) or Unix seconds before 2038"))
		case in.ExpireTime != 0 && in.ExpireTime <= now:
			errs = append(errs, apierr.ErrValidation.With("The expireTime field is in the past"))
		}
	}
	return firstErr(errors.Join(errs...))
}

func permittedIPs(in []string) ([]string, error) {
	ips, err := accesskey.ParsePermitted(in, store.MaxPermittedIPs)
	if err != nil {
		return nil, apierr.ErrValidation.With("The permittedIps field: %v", err)
	}
	return ips, nil
}

// CreateAccessKey makes a key; it answers the key and its cleartext, which
// is never stored or shown again. createdBy is the management key's id.
func (s *Service) CreateAccessKey(ctx context.Context, p *flow.Project, in AccessKeyInput, createdBy string) (AccessKeyView, string, error) {
	now := s.clock.Now()
	if err := in.check(true, now.Unix()); err != nil {
		return AccessKeyView{}, "", err
	}
	ips, err := permittedIPs(in.PermittedIPs)
	if err != nil {
		return AccessKeyView{}, "", err
	}
	a, err := s.resolveAssignments(ctx, p, dedupe(in.RoleNames), in.Tenants)
	if err != nil {
		return AccessKeyView{}, "", err
	}
	id, clear, hash, err := accesskey.New(s.rand)
	if err != nil {
		return AccessKeyView{}, "", err
	}
	k := store.AccessKey{ID: id, Name: in.Name, Description: in.Description, Hash: hash, Status: store.AccessKeyActive,
		Created: now, Authz: a, PermittedIPs: ips, CreatedBy: createdBy}
	if in.ExpireTime != 0 {
		k.Expires = time.Unix(in.ExpireTime, 0)
	}
	if err := s.st.CreateAccessKey(ctx, p.ID, k); err != nil {
		return AccessKeyView{}, "", accessKeyErr(err)
	}
	v, err := s.views(ctx, p, []store.AccessKey{k})
	if err != nil {
		return AccessKeyView{}, "", err
	}
	return v[0], clear, nil
}

// LoadAccessKey loads one key.
func (s *Service) LoadAccessKey(ctx context.Context, p *flow.Project, id string) (AccessKeyView, error) {
	if err := checkKeyID(id); err != nil {
		return AccessKeyView{}, err
	}
	k, err := s.st.AccessKey(ctx, p.ID, id)
	if err != nil {
		return AccessKeyView{}, accessKeyErr(err)
	}
	v, err := s.views(ctx, p, []store.AccessKey{k})
	if err != nil {
		return AccessKeyView{}, err
	}
	return v[0], nil
}

// SearchAccessKeys lists the project's keys (by id), or those in one of
// tenantIDs.
func (s *Service) SearchAccessKeys(ctx context.Context, p *flow.Project, tenantIDs []string) ([]AccessKeyView, error) {
	if err := checkNames("tenantIds", tenantIDs, MaxBatch); err != nil {
		return nil, err
	}
	ks, err := s.st.AllAccessKeys(ctx, p.ID)
	if err != nil {
		return nil, accessKeyErr(err)
	}
	vs, err := s.views(ctx, p, ks)
	if err != nil {
		return nil, err
	}
	if len(tenantIDs) == 0 {
		return vs, nil
	}
	out := []AccessKeyView{}
	for _, v := range vs {
		if slices.ContainsFunc(v.Tenants, func(t AccessKeyTenant) bool { return slices.Contains(tenantIDs, t.TenantID) }) {
			out = append(out, v)
		}
	}
	return out, nil
}

// UpdateAccessKey changes a key's name, and what in sets.
func (s *Service) UpdateAccessKey(ctx context.Context, p *flow.Project, in AccessKeyInput) (AccessKeyView, error) {
	if err := checkKeyID(in.ID); err != nil {
		return AccessKeyView{}, err
	}
	if err := in.check(false, 0); err != nil {
		return AccessKeyView{}, err
	}
	var ips []string
	if in.SetPermittedIPs {
		var err error
		if ips, err = permittedIPs(in.PermittedIPs); err != nil {
			return AccessKeyView{}, err
		}
	}
	var a store.UserAuthz
	if in.SetRoles || in.SetTenants {
		var err error
		if a, err = s.resolveAssignments(ctx, p, dedupe(in.RoleNames), in.Tenants); err != nil {
			return AccessKeyView{}, err
		}
	}
	k, err := s.st.UpdateAccessKey(ctx, p.ID, in.ID, func(k *store.AccessKey) error {
		k.Name = in.Name
		if in.SetDescription {
			k.Description = in.Description
		}
		if in.SetRoles {
			k.Authz.Roles = a.Roles
		}
		if in.SetTenants {
			k.Authz.Tenants = a.Tenants
		}
		if in.SetPermittedIPs {
			k.PermittedIPs = ips
		}
		return nil
	})
	if err != nil {
		return AccessKeyView{}, accessKeyErr(err)
	}
	v, err := s.views(ctx, p, []store.AccessKey{k})
	if err != nil {
		return AccessKeyView{}, err
	}
	return v[0], nil
}

// SetAccessKeyActive activates or deactivates a key.
func (s *Service) SetAccessKeyActive(ctx context.Context, p *flow.Project, id string, active bool) error {
	if err := checkKeyID(id); err != nil {
		return err
	}
	st := store.AccessKeyInactive
	if active {
		st = store.AccessKeyActive
	}
	_, err := s.st.UpdateAccessKey(ctx, p.ID, id, func(k *store.AccessKey) error {
		k.Status = st
		return nil
	})
	return accessKeyErr(err)
}

// DeleteAccessKey deletes a key for good.
func (s *Service) DeleteAccessKey(ctx context.Context, p *flow.Project, id string) error {
	if err := checkKeyID(id); err != nil {
		return err
	}
	return accessKeyErr(s.st.DeleteAccessKey(ctx, p.ID, id))
}

// views resolves keys' roles and tenants by name against the current
// model, read once for all of them (two reads of capped hashes).
func (s *Service) views(ctx context.Context, p *flow.Project, ks []store.AccessKey) ([]AccessKeyView, error) {
	out := make([]AccessKeyView, len(ks))
	need := false
	for i, k := range ks {
		out[i] = AccessKeyView{Key: k, Roles: []string{}, Tenants: []AccessKeyTenant{}}
		need = need || !k.Authz.Empty()
	}
	if !need {
		return out, nil
	}
	rs, err := s.st.Roles(ctx, p.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	ts, err := s.st.Tenants(ctx, p.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	names := make(map[int64]string, len(rs))
	for _, r := range rs {
		names[r.ID] = r.Name
	}
	tenants := make(map[string]store.Tenant, len(ts))
	for _, t := range ts {
		tenants[t.ID] = t
	}
	byName := func(ids []int64) []string {
		out := []string{}
		for _, id := range ids {
			if n, ok := names[id]; ok {
				out = append(out, n)
			}
		}
		return out
	}
	for i, k := range ks {
		out[i].Roles = byName(k.Authz.Roles)
		for _, m := range k.Authz.Tenants {
			t, ok := tenants[m.TenantID]
			if !ok || t.Incarnation != m.Incarnation {
				continue // deleted (or deleted and created again)
			}
			out[i].Tenants = append(out[i].Tenants, AccessKeyTenant{TenantID: t.ID, TenantName: t.Name, Roles: byName(m.Roles)})
		}
	}
	return out, nil
}
