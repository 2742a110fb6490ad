package mgmt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// The authorization model's management (docs/authorization.md): names
// are checked here, the model's own rules (exists, not found, caps) by
// the store's scripts; authzErr maps the store's answers.

// checkName refuses an empty, oversized or non-printable name of field.
func checkName(field, v string) error {
	switch {
	case v == "":
		return apierr.ErrMissingArgument.With("The %s field is required", field)
	case len(v) > store.MaxAuthzName:
		return apierr.ErrValidation.With("The %s field is longer than %d bytes", field, store.MaxAuthzName)
	case !utf8.ValidString(v):
		return apierr.ErrValidation.With("The %s field is not valid UTF-8", field)
	case strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return apierr.ErrValidation.With("The %s field has a control or non-printable character", field)
	case strings.TrimSpace(v) != v:
		return apierr.ErrValidation.With("The %s field starts or ends with white space", field)
	}
	return nil
}

// checkNames checks every name of a list field and its length.
func checkNames(field string, vs []string, max int) error {
	if len(vs) > max {
		return apierr.ErrValidation.With("The %s field has more than %d entries", field, max)
	}
	for _, v := range vs {
		if err := checkName(field, v); err != nil {
			return err
		}
	}
	return nil
}

func checkDescription(v string) error {
	if len(v) > store.MaxAuthzDescription || !utf8.ValidString(v) {
		return apierr.ErrValidation.With("The description field must be valid UTF-8 of at most %d bytes", store.MaxAuthzDescription)
	}
	return nil
}

func authzErr(kind, name string, err error) error {
	var miss *store.ErrAuthzMissing
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrAuthzExists):
		return apierr.ErrInvalidArgument.With("A %s named %q already exists", kind, name)
	case errors.Is(err, store.ErrAuthzNotFound):
		return apierr.ErrInvalidArgument.With("No %s named %q", kind, name)
	case errors.Is(err, store.ErrAuthzCap):
		what := kind + "s"
		if _, w, ok := strings.Cut(err.Error(), store.ErrAuthzCap.Error()+": "); ok {
			what = w // the store names the cap: "default roles"
		}
		return apierr.ErrValidation.With("The project has reached its limit of %s (docs/authorization.md)", what)
	case errors.Is(err, store.ErrDomainTaken):
		return apierr.ErrInvalidArgument.With("A self-provisioning domain of the request belongs to another tenant (%v)", err)
	case errors.As(err, &miss):
		return apierr.ErrInvalidArgument.With("No %s named %q", miss.Kind, miss.Name)
	}
	return storeErr(err)
}

// CreatePermission adds a permission.
func (s *Service) CreatePermission(ctx context.Context, p *flow.Project, name, description string) error {
	if err := errors.Join(checkName("name", name), checkDescription(description)); err != nil {
		return firstErr(err)
	}
	return authzErr("permission", name, s.st.CreatePermission(ctx, p.ID, store.Permission{Name: name, Description: description}))
}

// UpdatePermission renames a permission (newName) and sets its description.
func (s *Service) UpdatePermission(ctx context.Context, p *flow.Project, name, newName, description string) error {
	if err := errors.Join(checkName("name", name), checkName("newName", newName), checkDescription(description)); err != nil {
		return firstErr(err)
	}
	err := s.st.UpdatePermission(ctx, p.ID, name, store.Permission{Name: newName, Description: description})
	if errors.Is(err, store.ErrAuthzExists) {
		return authzErr("permission", newName, err)
	}
	return authzErr("permission", name, err)
}

// DeletePermission removes a permission from the project and every role.
func (s *Service) DeletePermission(ctx context.Context, p *flow.Project, name string) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	return authzErr("permission", name, s.st.DeletePermission(ctx, p.ID, name))
}

// Permissions lists the project's permissions by name.
func (s *Service) Permissions(ctx context.Context, p *flow.Project) ([]store.Permission, error) {
	ps, err := s.st.Permissions(ctx, p.ID)
	return ps, storeErr(err)
}

// RoleInput is a role as create and update carry it.
type RoleInput struct {
	Name, NewName, Description string
	PermissionNames            []string
	TenantID                   string
	Default                    bool
}

// checkRoleTenant checks the tenant of a tenant-scoped role ("" for a
// project role).
func checkRoleTenant(tenantID string) error {
	if tenantID == "" {
		return nil
	}
	return checkName("tenantId", tenantID)
}

func (r RoleInput) check(update bool) error {
	var def error
	if r.TenantID != "" && r.Default {
		def = apierr.ErrValidation.With("The default field is for project roles: a tenant's default roles are set with tenant/updateDefaultRoles")
	}
	errs := []error{checkName("name", r.Name), checkDescription(r.Description), checkRoleTenant(r.TenantID), def,
		checkNames("permissionNames", r.PermissionNames, store.MaxPermissionsPerRole)}
	if update {
		errs = append(errs, checkName("newName", r.NewName))
	}
	return firstErr(errors.Join(errs...))
}

// CreateRole adds a role: a project role, or with TenantID a role of that
// tenant only (its name is unique within the tenant, and may be a project
// role's name).
func (s *Service) CreateRole(ctx context.Context, p *flow.Project, r RoleInput) error {
	if err := r.check(false); err != nil {
		return err
	}
	return authzErr("role", r.Name, s.st.CreateRole(ctx, p.ID, store.Role{Name: r.Name, TenantID: r.TenantID, Description: r.Description,
		PermissionNames: dedupe(r.PermissionNames), Default: r.Default}))
}

// UpdateRole replaces a role (renamed to NewName); its holders keep it.
func (s *Service) UpdateRole(ctx context.Context, p *flow.Project, r RoleInput) error {
	if err := r.check(true); err != nil {
		return err
	}
	err := s.st.UpdateRole(ctx, p.ID, r.Name, store.Role{Name: r.NewName, TenantID: r.TenantID, Description: r.Description,
		PermissionNames: dedupe(r.PermissionNames), Default: r.Default})
	if errors.Is(err, store.ErrAuthzExists) {
		return authzErr("role", r.NewName, err)
	}
	return authzErr("role", r.Name, err)
}

// DeleteRole removes a role (with tenantID, that tenant's role) from the
// project, every user and every tenant.
func (s *Service) DeleteRole(ctx context.Context, p *flow.Project, name, tenantID string) error {
	if err := firstErr(errors.Join(checkName("name", name), checkRoleTenant(tenantID))); err != nil {
		return err
	}
	return authzErr("role", name, s.st.DeleteTenantRole(ctx, p.ID, tenantID, name))
}

// Roles lists the project's roles by name, then the tenants' own roles.
func (s *Service) Roles(ctx context.Context, p *flow.Project) ([]store.Role, error) {
	rs, err := s.st.Roles(ctx, p.ID)
	return rs, storeErr(err)
}

// RoleQuery filters roles; filters combine with AND, values with OR.
type RoleQuery struct {
	TenantIDs, RoleNames, PermissionNames []string
	RoleNameLike                          string
	IncludeProjectRoles                   bool
}

// SearchRoles lists the roles matching q. With TenantIDs it lists those
// tenants' own roles, and the project roles too when IncludeProjectRoles;
// without, every role.
func (s *Service) SearchRoles(ctx context.Context, p *flow.Project, q RoleQuery) ([]store.Role, error) {
	if err := firstErr(errors.Join(checkNames("roleNames", q.RoleNames, MaxBatch),
		checkNames("permissionNames", q.PermissionNames, MaxBatch), checkNames("tenantIds", q.TenantIDs, MaxBatch))); err != nil {
		return nil, err
	}
	if len(q.RoleNameLike) > store.MaxAuthzName {
		return nil, apierr.ErrValidation.With("The roleNameLike field is longer than %d bytes", store.MaxAuthzName)
	}
	rs, err := s.Roles(ctx, p)
	if err != nil {
		return nil, err
	}
	out := []store.Role{}
	for _, r := range rs {
		if len(q.TenantIDs) > 0 && !slices.Contains(q.TenantIDs, r.TenantID) && (r.TenantID != "" || !q.IncludeProjectRoles) {
			continue
		}
		if len(q.RoleNames) > 0 && !slices.Contains(q.RoleNames, r.Name) {
			continue
		}
		if q.RoleNameLike != "" && !strings.Contains(strings.ToLower(r.Name), strings.ToLower(q.RoleNameLike)) {
			continue
		}
		if len(q.PermissionNames) > 0 && !slices.ContainsFunc(r.PermissionNames, func(n string) bool { return slices.Contains(q.PermissionNames, n) }) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// TenantInput is a tenant as create and update carry it.
type TenantInput struct {
	ID, Name                string
	SelfProvisioningDomains []string
	CustomAttributes        map[string]any
}

func (t TenantInput) check(needID bool) error {
	errs := []error{checkName("name", t.Name), checkNames("selfProvisioningDomains", t.SelfProvisioningDomains, store.MaxDomainsPerTenant),
		checkAttributes(t.CustomAttributes)}
	if needID {
		errs = append(errs, checkName("id", t.ID))
	}
	return firstErr(errors.Join(errs...))
}

// normDomains lower-cases the domains (they match email domains).
func normDomains(ds []string) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, strings.ToLower(strings.TrimPrefix(d, "@")))
	}
	return dedupe(out)
}

// CreateTenant adds a tenant; without an id it gets a random one. It
// returns the id.
func (s *Service) CreateTenant(ctx context.Context, p *flow.Project, t TenantInput) (string, error) {
	if t.ID == "" {
		var b [8]byte
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return "", fmt.Errorf("tenant id: %w", err)
		}
		t.ID = "T" + hex.EncodeToString(b[:])
	}
	if err := firstErr(errors.Join(t.check(true), checkTenantID(t.ID))); err != nil {
		return "", err
	}
	err := s.st.CreateTenant(ctx, p.ID, store.Tenant{ID: t.ID, Name: t.Name,
		SelfProvisioningDomains: normDomains(t.SelfProvisioningDomains), CustomAttributes: t.CustomAttributes})
	return t.ID, authzErr("tenant", t.ID, err)
}

// UpdateTenant replaces a tenant's name, domains and custom attributes.
func (s *Service) UpdateTenant(ctx context.Context, p *flow.Project, t TenantInput) error {
	if err := t.check(true); err != nil {
		return err
	}
	return authzErr("tenant", t.ID, s.st.UpdateTenant(ctx, p.ID, store.Tenant{ID: t.ID, Name: t.Name,
		SelfProvisioningDomains: normDomains(t.SelfProvisioningDomains), CustomAttributes: t.CustomAttributes}, false))
}

// SetTenantDefaultRoles sets the roles a user gets on joining the tenant
// by self-provisioning.
func (s *Service) SetTenantDefaultRoles(ctx context.Context, p *flow.Project, id string, roles []string) error {
	if err := firstErr(errors.Join(checkName("id", id), checkNames("defaultRoles", roles, store.MaxDefaultRoles))); err != nil {
		return err
	}
	t, err := s.st.Tenant(ctx, p.ID, id)
	if err != nil {
		return authzErr("tenant", id, err)
	}
	t.DefaultRoles = dedupe(roles)
	return authzErr("tenant", id, s.st.UpdateTenant(ctx, p.ID, t, true))
}

// DeleteTenant removes a tenant; every membership of it is gone at once.
func (s *Service) DeleteTenant(ctx context.Context, p *flow.Project, id string) error {
	if err := checkName("id", id); err != nil {
		return err
	}
	return authzErr("tenant", id, s.st.DeleteTenant(ctx, p.ID, id))
}

// LoadTenant returns one tenant.
func (s *Service) LoadTenant(ctx context.Context, p *flow.Project, id string) (store.Tenant, error) {
	if err := checkName("id", id); err != nil {
		return store.Tenant{}, err
	}
	t, err := s.st.Tenant(ctx, p.ID, id)
	return t, authzErr("tenant", id, err)
}

// Tenants lists the project's tenants by id.
func (s *Service) Tenants(ctx context.Context, p *flow.Project) ([]store.Tenant, error) {
	ts, err := s.st.Tenants(ctx, p.ID)
	return ts, storeErr(err)
}

// TenantQuery filters tenants; filters combine with AND, values with OR.
type TenantQuery struct {
	IDs, Names, Domains []string
}

// SearchTenants lists the tenants matching q.
func (s *Service) SearchTenants(ctx context.Context, p *flow.Project, q TenantQuery) ([]store.Tenant, error) {
	if err := firstErr(errors.Join(checkNames("tenantIds", q.IDs, MaxBatch), checkNames("tenantNames", q.Names, MaxBatch),
		checkNames("tenantSelfProvisioningDomains", q.Domains, MaxBatch))); err != nil {
		return nil, err
	}
	ts, err := s.Tenants(ctx, p)
	if err != nil {
		return nil, err
	}
	doms := normDomains(q.Domains)
	out := []store.Tenant{}
	for _, t := range ts {
		if (len(q.IDs) > 0 && !slices.Contains(q.IDs, t.ID)) || (len(q.Names) > 0 && !slices.Contains(q.Names, t.Name)) ||
			(len(doms) > 0 && !slices.ContainsFunc(t.SelfProvisioningDomains, func(d string) bool { return slices.Contains(doms, d) })) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func dedupe(vs []string) []string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// firstErr is the first error of a Join (each is a domain error whose
// message names its field), or nil.
func firstErr(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if es := j.Unwrap(); len(es) > 0 {
			return es[0]
		}
	}
	return err
}
