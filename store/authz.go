package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The authorization model (docs/authorization.md): per project,
// permissions, roles (with permission names and a default flag) and tenants
// (name, self-provisioning domains, custom attributes, default roles); per
// user, project roles and tenant memberships with their roles.
//
// Model keys (one hash tag per project, so one slot on Cluster; every
// change is one script, authz_model.lua):
//
//	otpd:{P}:az:perm  hash  name -> {"d"}
//	otpd:{P}:az:role  hash  name -> {"id", "d", "p": [permissions], "def"}
//	otpd:{P}:az:rid   hash  role id -> name
//	otpd:{P}:az:ten   hash  tenant id -> {"s", "n", "dom", "ca", "dr"}
//	otpd:{P}:az:seq   string  counter of role ids and tenant incarnations
//	otpd:{P}:az:def   set   names of the default roles
//	otpd:{P}:az:dom   hash  self-provisioning domain -> tenant id
//	otpd:{P}:az:ux    zset  holder index: who may hold a role or tenant (authz_index.go)
//	otpd:{P}:az:uxn   string  the holder index's counter
//
// A tenant-scoped role lives in the role hash under "\x1f<tenant>\x1f<name>"
// (names are printable: no clash with a project role of the same name),
// its record carrying the tenant id and the name; deleting the tenant
// deletes its roles.
//	otpd:{P}:az:ver   string  the model's version (authz_cache.go)
//
// A user's assignments live in its record (field "authz", UserAuthz), by
// role id and tenant incarnation, never by name: so deleting a role or a
// tenant removes it from every user at once, without touching (or
// scanning) any user record, and renaming a role keeps its holders.
// Permissions are held by roles only; deleting one removes it from every
// role in the same script (roles per project are capped).

var (
	//go:embed lua/authz_model.lua
	authzModelSrc string
	//go:embed lua/authz_claims.lua
	authzClaimsSrc string
	//go:embed lua/authz_defaults.lua
	authzDefaultsSrc string

	//go:embed lua/authz_index.lua
	authzIndexSrc string

	authzDefaultsScript = redis.NewScript(authzDefaultsSrc)
	authzIndexScript    = redis.NewScript(authzIndexSrc)

	authzModelScript  = redis.NewScript(authzModelSrc)
	authzClaimsScript = redis.NewScript(authzClaimsSrc)
)

// Caps on the model. Past them a write is refused (ErrAuthzCap), never cut.
const (
	MaxPermissions        = 1000 // per project
	MaxRoles              = 1000 // per project
	MaxTenants            = 1000 // per project (a role delete rewrites their default roles in one script)
	MaxRolesPerUser       = 20   // project-level roles of one user
	MaxTenantsPerUser     = 20   // tenant memberships of one user
	MaxRolesPerMembership = 20   // roles of one user in one tenant
	MaxPermissionsPerRole = 100
	MaxDomainsPerTenant   = 20
	MaxDefaultRoles       = 20  // a tenant's default roles
	MaxAuthzName          = 100 // bytes of a permission, role or tenant name, or a tenant id
	MaxAuthzDescription   = 1000
)

// Model errors.
var (
	ErrAuthzExists   = errors.New("store: already exists")
	ErrAuthzNotFound = errors.New("store: not found")
	ErrAuthzCap      = errors.New("store: limit reached")
	// ErrDomainTaken: another tenant has that self-provisioning domain.
	ErrDomainTaken = errors.New("store: self-provisioning domain belongs to another tenant")
)

// ErrAuthzMissing is returned when a write names a permission or role
// that does not exist.
type ErrAuthzMissing struct{ Kind, Name string }

func (e *ErrAuthzMissing) Error() string { return fmt.Sprintf("store: no %s named %q", e.Kind, e.Name) }

// Permission is one named permission of a project.
type Permission struct {
	Name        string
	Description string
}

// Role is one named role of a project, or with TenantID of that tenant
// only (a tenant-scoped role: its name is unique within the tenant).
type Role struct {
	ID              int64
	Name            string
	TenantID        string
	Description     string
	PermissionNames []string
	Default         bool
}

// Tenant is one tenant of a project.
type Tenant struct {
	ID                      string
	Incarnation             int64
	Name                    string
	SelfProvisioningDomains []string
	CustomAttributes        map[string]any
	DefaultRoles            []string
}

// UserAuthz is what a user holds: project-level role ids and tenant
// memberships. It is stored in the user record's "authz" field.
type UserAuthz struct {
	Roles   []int64      `json:"r,omitempty"`
	Tenants []Membership `json:"t,omitempty"`
}

// Membership is a user's membership of one tenant incarnation.
type Membership struct {
	TenantID    string  `json:"i"`
	Incarnation int64   `json:"s"`
	Roles       []int64 `json:"r,omitempty"`
}

// Empty reports whether u holds nothing.
func (u UserAuthz) Empty() bool { return len(u.Roles) == 0 && len(u.Tenants) == 0 }

// Field is the user-record value of u ("" for nothing).
func (u UserAuthz) Field() string {
	if u.Empty() {
		return ""
	}
	b, _ := json.Marshal(u)
	return string(b)
}

// Authorizer is the authorization model's storage.
type Authorizer interface {
	// Model changes; each is atomic (one script on the project's slot).
	CreatePermission(ctx context.Context, project string, p Permission) error
	UpdatePermission(ctx context.Context, project, name string, p Permission) error
	DeletePermission(ctx context.Context, project, name string) error
	CreateRole(ctx context.Context, project string, r Role) error
	UpdateRole(ctx context.Context, project, name string, r Role) error
	DeleteRole(ctx context.Context, project, name string) error
	// DeleteTenantRole deletes the role name of tenant tenantID ("": a
	// project role, as DeleteRole).
	DeleteTenantRole(ctx context.Context, project, tenantID, name string) error
	CreateTenant(ctx context.Context, project string, t Tenant) error
	// UpdateTenant changes name, domains and custom attributes; with
	// setDefaultRoles also the default roles.
	UpdateTenant(ctx context.Context, project string, t Tenant, setDefaultRoles bool) error
	DeleteTenant(ctx context.Context, project, id string) error
	// Reads of the whole model (bounded by the caps).
	Permissions(ctx context.Context, project string) ([]Permission, error)
	Roles(ctx context.Context, project string) ([]Role, error)
	Tenants(ctx context.Context, project string) ([]Tenant, error)
	Tenant(ctx context.Context, project, id string) (Tenant, error)
	// RoleIDs resolves role names to the ids users hold (ErrAuthzMissing).
	RoleIDs(ctx context.Context, project string, names []string) ([]int64, error)
	// TenantRoleIDs resolves role names in a tenant: the tenant's own role
	// of that name, else the project role (ErrAuthzMissing).
	TenantRoleIDs(ctx context.Context, project, tenantID string, names []string) ([]int64, error)
	// Claims resolves a user's assignments against the current model.
	Claims(ctx context.Context, project string, u UserAuthz) (Claims, error)
	// AuthzSnapshot is the current model, read once, to resolve many
	// users' claims with no further round trip.
	AuthzSnapshot(ctx context.Context, project string) (AuthzSnapshot, error)
	// NewUserAuthz is what the new user userID with that email domain
	// gets; the user enters the holder index of what it gets.
	NewUserAuthz(ctx context.Context, project, userID, emailDomain string) (UserAuthz, error)
	// The holder index (authz_index.go).
	IndexAuthz(ctx context.Context, project, userID string, add UserAuthz) (int64, error)
	UnindexAuthz(ctx context.Context, project, userID string, drop UserAuthz, upTo int64) error
	AuthzHolders(ctx context.Context, project string, roleIDs, incarnations []int64, limit int) ([]string, error)
	// SetUserAuthz writes a user's assignments (ErrNoUser).
	SetUserAuthz(ctx context.Context, project, userID string, a UserAuthz) (User, error)
}

var _ Authorizer = (*RedisStore)(nil)

func authzKeys(project string) []string {
	t := projectTag(project) + "az:"
	return []string{t + "perm", t + "role", t + "rid", t + "ten", t + "seq", t + "def", t + "dom", t + "ux", t + "uxn", t + "ver"}
}

// "defaults" caps the project's default roles: every new user gets them
// all as project roles, so no more than a user may hold.
var authzCaps = fmt.Sprintf(`{"perms":%d,"roles":%d,"tenants":%d,"defaults":%d}`, MaxPermissions, MaxRoles, MaxTenants, MaxRolesPerUser)

func (s *RedisStore) model(ctx context.Context, project, op string, args any) error {
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	k := authzKeys(project)
	res, err := s.run(ctx, authzModelScript, append(k[:8:8], k[9]), op, string(b), authzCaps, newModelVersion())
	if err != nil {
		return s.runErr(err)
	}
	if len(res) == 0 {
		return errShape("authz_model.lua")
	}
	switch res[0] {
	case "ok":
		return nil
	case "exists":
		return ErrAuthzExists
	case "notfound":
		return ErrAuthzNotFound
	case "cap":
		if len(res) == 2 {
			return fmt.Errorf("%w: %s", ErrAuthzCap, res[1])
		}
	case "missing":
		if len(res) == 3 {
			return &ErrAuthzMissing{Kind: res[1], Name: res[2]}
		}
	case "domain":
		if len(res) == 2 {
			return fmt.Errorf("%w: %s", ErrDomainTaken, res[1])
		}
	}
	return errShape("authz_model.lua")
}

type permArgs struct {
	Name        string `json:"name"`
	NewName     string `json:"newName,omitempty"`
	Description string `json:"description,omitempty"`
}

type roleArgs struct {
	TenantID        string   `json:"tenantId,omitempty"`
	Name            string   `json:"name"`
	NewName         string   `json:"newName,omitempty"`
	Description     string   `json:"description,omitempty"`
	PermissionNames []string `json:"permissionNames,omitempty"`
	Default         bool     `json:"default,omitempty"`
}

type tenantArgs struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains,omitempty"`
	// CustomAttributes is their JSON, kept by the script as a string:
	// cjson would re-encode an object ([] as {}, numbers cut to 14 digits).
	CustomAttributes string   `json:"customAttributes,omitempty"`
	DefaultRoles     []string `json:"defaultRoles,omitempty"`
	SetDefaultRoles  bool     `json:"setDefaultRoles,omitempty"`
}

// CreatePermission implements Authorizer.
func (s *RedisStore) CreatePermission(ctx context.Context, project string, p Permission) error {
	return s.model(ctx, project, "perm_create", permArgs{Name: p.Name, Description: p.Description})
}

// UpdatePermission implements Authorizer: p.Name is the new name.
func (s *RedisStore) UpdatePermission(ctx context.Context, project, name string, p Permission) error {
	return s.model(ctx, project, "perm_update", permArgs{Name: name, NewName: p.Name, Description: p.Description})
}

// DeletePermission implements Authorizer (and removes it from every role).
func (s *RedisStore) DeletePermission(ctx context.Context, project, name string) error {
	return s.model(ctx, project, "perm_delete", permArgs{Name: name})
}

// CreateRole implements Authorizer.
func (s *RedisStore) CreateRole(ctx context.Context, project string, r Role) error {
	return s.model(ctx, project, "role_create", roleArgs{TenantID: r.TenantID, Name: r.Name, Description: r.Description,
		PermissionNames: r.PermissionNames, Default: r.Default})
}

// UpdateRole implements Authorizer: r.Name is the new name (r.TenantID
// names the tenant of a tenant-scoped role).
func (s *RedisStore) UpdateRole(ctx context.Context, project, name string, r Role) error {
	return s.model(ctx, project, "role_update", roleArgs{TenantID: r.TenantID, Name: name, NewName: r.Name, Description: r.Description,
		PermissionNames: r.PermissionNames, Default: r.Default})
}

// DeleteRole implements Authorizer (gone from every user and tenant).
func (s *RedisStore) DeleteRole(ctx context.Context, project, name string) error {
	return s.model(ctx, project, "role_delete", roleArgs{Name: name})
}

// DeleteTenantRole implements Authorizer.
func (s *RedisStore) DeleteTenantRole(ctx context.Context, project, tenantID, name string) error {
	return s.model(ctx, project, "role_delete", roleArgs{TenantID: tenantID, Name: name})
}

// CreateTenant implements Authorizer.
func (s *RedisStore) CreateTenant(ctx context.Context, project string, t Tenant) error {
	ca, err := attributesJSON(t.CustomAttributes)
	if err != nil {
		return err
	}
	return s.model(ctx, project, "tenant_create", tenantArgs{ID: t.ID, Name: t.Name, Domains: t.SelfProvisioningDomains,
		CustomAttributes: ca, DefaultRoles: t.DefaultRoles})
}

// attributesJSON is a tenant's custom attributes as stored ("" for none).
func attributesJSON(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// UpdateTenant implements Authorizer.
func (s *RedisStore) UpdateTenant(ctx context.Context, project string, t Tenant, setDefaultRoles bool) error {
	ca, err := attributesJSON(t.CustomAttributes)
	if err != nil {
		return err
	}
	return s.model(ctx, project, "tenant_update", tenantArgs{ID: t.ID, Name: t.Name, Domains: t.SelfProvisioningDomains,
		CustomAttributes: ca, DefaultRoles: t.DefaultRoles, SetDefaultRoles: setDefaultRoles})
}

// DeleteTenant implements Authorizer (gone from every member at once).
func (s *RedisStore) DeleteTenant(ctx context.Context, project, id string) error {
	return s.model(ctx, project, "tenant_delete", tenantArgs{ID: id})
}
