package service

import (
	"context"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/store"
)

// The authorization part of the management service (mgmt/authz.go).

// refuse names the first field set that otpd does not serve.
func refuse(fields ...any) error {
	for i := 0; i+1 < len(fields); i += 2 {
		name := fields[i].(string)
		switch v := fields[i+1].(type) {
		case string:
			if v != "" {
				return apierr.ErrValidation.With("otpd does not serve %s: it must be empty", name)
			}
		case bool:
			if v {
				return apierr.ErrValidation.With("otpd does not serve %s: it must be false", name)
			}
		case int:
			if v > 0 {
				return apierr.ErrValidation.With("otpd does not serve %s: it must be empty", name)
			}
		}
	}
	return nil
}

func empty(err error) (*otpv1.MgmtEmpty, error) {
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtEmpty{}, nil
}

// CreatePermission adds a permission.
func (s *Management) CreatePermission(ctx context.Context, r *otpv1.MgmtPermissionRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId(), "newName on create", r.GetNewName()); err != nil {
		return nil, err
	}
	return empty(s.m.CreatePermission(ctx, p, r.GetName(), r.GetDescription()))
}

// UpdatePermission renames a permission and sets its description.
func (s *Management) UpdatePermission(ctx context.Context, r *otpv1.MgmtPermissionRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId()); err != nil {
		return nil, err
	}
	return empty(s.m.UpdatePermission(ctx, p, r.GetName(), r.GetNewName(), r.GetDescription()))
}

// DeletePermission removes a permission from the project and its roles.
func (s *Management) DeletePermission(ctx context.Context, r *otpv1.MgmtPermissionRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId()); err != nil {
		return nil, err
	}
	return empty(s.m.DeletePermission(ctx, p, r.GetName()))
}

// LoadAllPermissions lists the project's permissions.
func (s *Management) LoadAllPermissions(ctx context.Context, _ *otpv1.MgmtEmpty) (*otpv1.MgmtPermissionsResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := s.m.Permissions(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &otpv1.MgmtPermissionsResponse{Permissions: make([]*otpv1.Permission, 0, len(ps))}
	for _, x := range ps {
		out.Permissions = append(out.Permissions, &otpv1.Permission{Name: x.Name, Description: x.Description})
	}
	return out, nil
}

func roleInput(r *otpv1.MgmtRoleRequest) mgmt.RoleInput {
	return mgmt.RoleInput{Name: r.GetName(), NewName: r.GetNewName(), Description: r.GetDescription(),
		PermissionNames: r.GetPermissionNames(), TenantID: r.GetTenantId(), Default: r.GetDefaultRole()}
}

// CreateRole adds a role.
func (s *Management) CreateRole(ctx context.Context, r *otpv1.MgmtRoleRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId(), "newName on create", r.GetNewName()); err != nil {
		return nil, err
	}
	return empty(s.m.CreateRole(ctx, p, roleInput(r)))
}

// UpdateRole replaces a role.
func (s *Management) UpdateRole(ctx context.Context, r *otpv1.MgmtRoleRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId()); err != nil {
		return nil, err
	}
	return empty(s.m.UpdateRole(ctx, p, roleInput(r)))
}

// DeleteRole removes a role from the project, its users and tenants.
func (s *Management) DeleteRole(ctx context.Context, r *otpv1.MgmtRoleRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("id", r.GetId()); err != nil {
		return nil, err
	}
	return empty(s.m.DeleteRole(ctx, p, r.GetName(), r.GetTenantId()))
}

func rolesOut(rs []store.Role, err error) (*otpv1.MgmtRolesResponse, error) {
	if err != nil {
		return nil, err
	}
	out := &otpv1.MgmtRolesResponse{Roles: make([]*otpv1.Role, 0, len(rs))}
	for _, r := range rs {
		perms := r.PermissionNames
		if perms == nil {
			perms = []string{}
		}
		out.Roles = append(out.Roles, &otpv1.Role{Name: r.Name, Description: r.Description, PermissionNames: perms,
			TenantId: r.TenantID, DefaultRole: r.Default})
	}
	return out, nil
}

// LoadAllRoles lists the project's roles.
func (s *Management) LoadAllRoles(ctx context.Context, _ *otpv1.MgmtEmpty) (*otpv1.MgmtRolesResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return rolesOut(s.m.Roles(ctx, p))
}

// SearchRoles lists the matching roles.
func (s *Management) SearchRoles(ctx context.Context, r *otpv1.MgmtRoleSearchRequest) (*otpv1.MgmtRolesResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return rolesOut(s.m.SearchRoles(ctx, p, mgmt.RoleQuery{TenantIDs: r.GetTenantIds(), RoleNames: r.GetRoleNames(),
		PermissionNames: r.GetPermissionNames(), RoleNameLike: r.GetRoleNameLike(), IncludeProjectRoles: r.GetIncludeProjectRoles()}))
}

func refuseTenantExtras(r *otpv1.MgmtTenantRequest) error {
	return refuse("enforceSSO", r.GetEnforceSso(), "disabled", r.GetDisabled(), "parent", r.GetParent(),
		"roleInheritance", r.GetRoleInheritance(), "cascade", r.GetCascade())
}

func tenantInput(r *otpv1.MgmtTenantRequest) mgmt.TenantInput {
	return mgmt.TenantInput{ID: r.GetId(), Name: r.GetName(), SelfProvisioningDomains: r.GetSelfProvisioningDomains(),
		CustomAttributes: r.GetCustomAttributes().AsMap()}
}

// CreateTenant adds a tenant (a random id when none is given).
func (s *Management) CreateTenant(ctx context.Context, r *otpv1.MgmtTenantRequest) (*otpv1.MgmtCreateTenantResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := firstOf(refuseTenantExtras(r), refuse("defaultRoles (use updateDefaultRoles)", len(r.GetDefaultRoles()))); err != nil {
		return nil, err
	}
	id, err := s.m.CreateTenant(ctx, p, tenantInput(r))
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtCreateTenantResponse{Id: id}, nil
}

// UpdateTenant replaces a tenant's name, domains and custom attributes.
func (s *Management) UpdateTenant(ctx context.Context, r *otpv1.MgmtTenantRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := firstOf(refuseTenantExtras(r), refuse("defaultRoles (use updateDefaultRoles)", len(r.GetDefaultRoles()))); err != nil {
		return nil, err
	}
	return empty(s.m.UpdateTenant(ctx, p, tenantInput(r)))
}

// UpdateTenantDefaultRoles sets a tenant's default roles.
func (s *Management) UpdateTenantDefaultRoles(ctx context.Context, r *otpv1.MgmtTenantRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := firstOf(refuseTenantExtras(r), refuse("name", r.GetName(), "selfProvisioningDomains", len(r.GetSelfProvisioningDomains()),
		"customAttributes", len(r.GetCustomAttributes().GetFields()))); err != nil {
		return nil, err
	}
	return empty(s.m.SetTenantDefaultRoles(ctx, p, r.GetId(), r.GetDefaultRoles()))
}

// DeleteTenant removes a tenant and every membership of it.
func (s *Management) DeleteTenant(ctx context.Context, r *otpv1.MgmtTenantRequest) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuseTenantExtras(r); err != nil {
		return nil, err
	}
	return empty(s.m.DeleteTenant(ctx, p, r.GetId()))
}

func tenantOut(t store.Tenant) *otpv1.MgmtTenant {
	doms, roles := t.SelfProvisioningDomains, t.DefaultRoles
	if doms == nil {
		doms = []string{}
	}
	if roles == nil {
		roles = []string{}
	}
	return &otpv1.MgmtTenant{Id: t.ID, Name: t.Name, SelfProvisioningDomains: doms, CustomAttributes: attributes(t.CustomAttributes),
		DefaultRoles: roles, AuthType: "none"}
}

// LoadTenant returns one tenant.
func (s *Management) LoadTenant(ctx context.Context, r *otpv1.MgmtTenantRef) (*otpv1.MgmtTenant, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.m.LoadTenant(ctx, p, r.GetId())
	if err != nil {
		return nil, err
	}
	return tenantOut(t), nil
}

func tenantsOut(ts []store.Tenant, err error) (*otpv1.MgmtTenantsResponse, error) {
	if err != nil {
		return nil, err
	}
	out := &otpv1.MgmtTenantsResponse{Tenants: make([]*otpv1.MgmtTenant, 0, len(ts))}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, tenantOut(t))
	}
	return out, nil
}

// LoadAllTenants lists the project's tenants.
func (s *Management) LoadAllTenants(ctx context.Context, _ *otpv1.MgmtEmpty) (*otpv1.MgmtTenantsResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return tenantsOut(s.m.Tenants(ctx, p))
}

// SearchTenants lists the matching tenants.
func (s *Management) SearchTenants(ctx context.Context, r *otpv1.MgmtTenantSearchRequest) (*otpv1.MgmtTenantsResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := refuse("customAttributes", len(r.GetCustomAttributes().GetFields()), "parentTenantId", r.GetParentTenantId()); err != nil {
		return nil, err
	}
	return tenantsOut(s.m.SearchTenants(ctx, p, mgmt.TenantQuery{IDs: r.GetTenantIds(), Names: r.GetTenantNames(),
		Domains: r.GetTenantSelfProvisioningDomains()}))
}

func (s *Management) roles(ctx context.Context, r *otpv1.MgmtUserRolesRequest, op mgmt.RoleOp) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.UpdateRoles(ctx, p, r.GetLoginId(), r.GetTenantId(), r.GetRoleNames(), op))
}

// SetUserRoles replaces the user's project roles (or its roles in a tenant).
func (s *Management) SetUserRoles(ctx context.Context, r *otpv1.MgmtUserRolesRequest) (*otpv1.MgmtUserResponse, error) {
	return s.roles(ctx, r, mgmt.RolesSet)
}

// AddUserRoles adds roles to the user.
func (s *Management) AddUserRoles(ctx context.Context, r *otpv1.MgmtUserRolesRequest) (*otpv1.MgmtUserResponse, error) {
	return s.roles(ctx, r, mgmt.RolesAdd)
}

// RemoveUserRoles removes roles from the user.
func (s *Management) RemoveUserRoles(ctx context.Context, r *otpv1.MgmtUserRolesRequest) (*otpv1.MgmtUserResponse, error) {
	return s.roles(ctx, r, mgmt.RolesRemove)
}

// AddUserTenant makes the user a member of a tenant.
func (s *Management) AddUserTenant(ctx context.Context, r *otpv1.MgmtUserTenantRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.AddTenant(ctx, p, r.GetLoginId(), r.GetTenantId()))
}

// RemoveUserTenant ends the user's membership of a tenant.
func (s *Management) RemoveUserTenant(ctx context.Context, r *otpv1.MgmtUserTenantRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.RemoveTenant(ctx, p, r.GetLoginId(), r.GetTenantId()))
}

// out is userOut with the user's roles and tenants resolved by name.
func (s *Management) out(ctx context.Context, p *flow.Project) func(store.User, error) (*otpv1.MgmtUserResponse, error) {
	return func(u store.User, err error) (*otpv1.MgmtUserResponse, error) {
		if err != nil {
			return nil, err
		}
		c, err := s.m.Resolved(ctx, p, u)
		if err != nil {
			return nil, err
		}
		return &otpv1.MgmtUserResponse{User: userResponseWith(u, c)}, nil
	}
}

// assignments are the roles and tenants of a create, update or patch.
func assignments(roles []string, tenants []*otpv1.UserTenant, set bool) mgmt.Assignments {
	a := mgmt.Assignments{SetRoles: set || len(roles) > 0, RoleNames: roles, SetTenants: set || len(tenants) > 0}
	for _, t := range tenants {
		a.Tenants = append(a.Tenants, mgmt.UserTenant{TenantID: t.GetTenantId(), RoleNames: t.GetRoleNames()})
	}
	return a
}

func firstOf(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
