package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

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

	authzDefaultsScript = redis.NewScript(authzDefaultsSrc)

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

// Role is one named role of a project.
type Role struct {
	ID              int64
	Name            string
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
	// Claims resolves a user's assignments against the current model.
	Claims(ctx context.Context, project string, u UserAuthz) (Claims, error)
	// NewUserAuthz is what a new user with that email domain gets.
	NewUserAuthz(ctx context.Context, project, emailDomain string) (UserAuthz, error)
	// SetUserAuthz writes a user's assignments (ErrNoUser).
	SetUserAuthz(ctx context.Context, project, userID string, a UserAuthz) (User, error)
}

var _ Authorizer = (*RedisStore)(nil)

func authzKeys(project string) []string {
	t := projectTag(project) + "az:"
	return []string{t + "perm", t + "role", t + "rid", t + "ten", t + "seq", t + "def", t + "dom"}
}

var authzCaps = fmt.Sprintf(`{"perms":%d,"roles":%d,"tenants":%d}`, MaxPermissions, MaxRoles, MaxTenants)

func (s *RedisStore) model(ctx context.Context, project, op string, args any) error {
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := s.run(ctx, authzModelScript, authzKeys(project), op, string(b), authzCaps)
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
	Name            string   `json:"name"`
	NewName         string   `json:"newName,omitempty"`
	Description     string   `json:"description,omitempty"`
	PermissionNames []string `json:"permissionNames,omitempty"`
	Default         bool     `json:"default,omitempty"`
}

type tenantArgs struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Domains          []string       `json:"domains,omitempty"`
	CustomAttributes map[string]any `json:"customAttributes,omitempty"`
	DefaultRoles     []string       `json:"defaultRoles,omitempty"`
	SetDefaultRoles  bool           `json:"setDefaultRoles,omitempty"`
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
	return s.model(ctx, project, "role_create", roleArgs{Name: r.Name, Description: r.Description,
		PermissionNames: r.PermissionNames, Default: r.Default})
}

// UpdateRole implements Authorizer: r.Name is the new name.
func (s *RedisStore) UpdateRole(ctx context.Context, project, name string, r Role) error {
	return s.model(ctx, project, "role_update", roleArgs{Name: name, NewName: r.Name, Description: r.Description,
		PermissionNames: r.PermissionNames, Default: r.Default})
}

// DeleteRole implements Authorizer (gone from every user and tenant).
func (s *RedisStore) DeleteRole(ctx context.Context, project, name string) error {
	return s.model(ctx, project, "role_delete", roleArgs{Name: name})
}

// CreateTenant implements Authorizer.
func (s *RedisStore) CreateTenant(ctx context.Context, project string, t Tenant) error {
	return s.model(ctx, project, "tenant_create", tenantArgs{ID: t.ID, Name: t.Name, Domains: t.SelfProvisioningDomains,
		CustomAttributes: t.CustomAttributes, DefaultRoles: t.DefaultRoles})
}

// UpdateTenant implements Authorizer.
func (s *RedisStore) UpdateTenant(ctx context.Context, project string, t Tenant, setDefaultRoles bool) error {
	return s.model(ctx, project, "tenant_update", tenantArgs{ID: t.ID, Name: t.Name, Domains: t.SelfProvisioningDomains,
		CustomAttributes: t.CustomAttributes, DefaultRoles: t.DefaultRoles, SetDefaultRoles: setDefaultRoles})
}

// DeleteTenant implements Authorizer (gone from every member at once).
func (s *RedisStore) DeleteTenant(ctx context.Context, project, id string) error {
	return s.model(ctx, project, "tenant_delete", tenantArgs{ID: id})
}

type permRec struct {
	D string `json:"d"`
}

type roleRec struct {
	ID  int64    `json:"id"`
	D   string   `json:"d"`
	P   []string `json:"p"`
	Def bool     `json:"def"`
}

type tenantRec struct {
	S   int64          `json:"s"`
	N   string         `json:"n"`
	Dom []string       `json:"dom"`
	CA  map[string]any `json:"ca"`
	DR  []string       `json:"dr"`
}

func (s *RedisStore) hashAll(ctx context.Context, key string) (map[string]string, error) {
	m, err := s.c.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return m, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Permissions implements Authorizer, by name.
func (s *RedisStore) Permissions(ctx context.Context, project string) ([]Permission, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[0])
	if err != nil {
		return nil, err
	}
	out := make([]Permission, 0, len(m))
	for _, k := range sortedKeys(m) {
		var r permRec
		if err := json.Unmarshal([]byte(m[k]), &r); err != nil {
			return nil, fmt.Errorf("store: permission record: %w", err)
		}
		out = append(out, Permission{Name: k, Description: r.D})
	}
	return out, nil
}

func parseRole(name, raw string) (Role, error) {
	var r roleRec
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Role{}, fmt.Errorf("store: role record: %w", err)
	}
	return Role{ID: r.ID, Name: name, Description: r.D, PermissionNames: r.P, Default: r.Def}, nil
}

// Roles implements Authorizer, by name.
func (s *RedisStore) Roles(ctx context.Context, project string) ([]Role, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[1])
	if err != nil {
		return nil, err
	}
	out := make([]Role, 0, len(m))
	for _, k := range sortedKeys(m) {
		r, err := parseRole(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseTenant(id, raw string) (Tenant, error) {
	var r tenantRec
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Tenant{}, fmt.Errorf("store: tenant record: %w", err)
	}
	return Tenant{ID: id, Incarnation: r.S, Name: r.N, SelfProvisioningDomains: r.Dom, CustomAttributes: r.CA, DefaultRoles: r.DR}, nil
}

// Tenants implements Authorizer, by id.
func (s *RedisStore) Tenants(ctx context.Context, project string) ([]Tenant, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[3])
	if err != nil {
		return nil, err
	}
	out := make([]Tenant, 0, len(m))
	for _, k := range sortedKeys(m) {
		t, err := parseTenant(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Claims is what a user holds under the current model, by name.
type Claims struct {
	Roles       []string
	Permissions []string
	// Tenants maps a tenant id to the user's roles and permissions there.
	Tenants map[string]TenantClaims
}

// TenantClaims is a user's roles and permissions in one tenant, and the
// tenant's name and custom attributes (for me/tenants).
type TenantClaims struct {
	Roles, Permissions []string
	Name               string
	CustomAttributes   map[string]any
}

// Claims implements Authorizer in one round trip on the project's slot
// (none when u holds nothing).
func (s *RedisStore) Claims(ctx context.Context, project string, u UserAuthz) (Claims, error) {
	if u.Empty() {
		return Claims{}, nil
	}
	keys := authzKeys(project)
	res, err := s.run(ctx, authzClaimsScript, keys[1:4], u.Field())
	if err != nil {
		return Claims{}, s.runErr(err)
	}
	return parseClaims(res)
}

// parseClaims reads authz_claims.lua's reply.
func parseClaims(res []string) (Claims, error) {
	var c Claims
	var cur *TenantClaims
	var curID string
	roles, perms := &c.Roles, &c.Permissions
	seen := map[string]bool{}
	flush := func() {
		if cur != nil {
			c.Tenants[curID] = *cur
		}
	}
	for i := 0; i < len(res); i += 3 {
		if i+2 >= len(res) {
			return Claims{}, errShape("authz_claims.lua")
		}
		switch res[i] {
		case "r":
			r, err := parseRole(res[i+1], res[i+2])
			if err != nil {
				return Claims{}, err
			}
			*roles = appendNew(*roles, r.Name, nil)
			for _, p := range r.PermissionNames {
				*perms = appendNew(*perms, p, seen)
			}
		case "t":
			flush()
			t, err := parseTenant(res[i+1], res[i+2])
			if err != nil {
				return Claims{}, err
			}
			if c.Tenants == nil {
				c.Tenants = map[string]TenantClaims{}
			}
			cur, curID = &TenantClaims{Roles: []string{}, Permissions: []string{}, Name: t.Name, CustomAttributes: t.CustomAttributes}, t.ID
			roles, perms, seen = &cur.Roles, &cur.Permissions, map[string]bool{}
		default:
			return Claims{}, errShape("authz_claims.lua")
		}
	}
	flush()
	return c, nil
}

// appendNew appends v unless seen has it (seen nil: unless list has it).
func appendNew(list []string, v string, seen map[string]bool) []string {
	if seen == nil {
		for _, x := range list {
			if x == v {
				return list
			}
		}
		return append(list, v)
	}
	if seen[v] {
		return list
	}
	seen[v] = true
	return append(list, v)
}

// RoleIDs resolves role names to the ids users hold (ErrAuthzMissing for
// a name with no role).
func (s *RedisStore) RoleIDs(ctx context.Context, project string, names []string) ([]int64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	key := authzKeys(project)[1]
	cmds := make([]*redis.StringCmd, len(names))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.HGet(ctx, key, n)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	ids := make([]int64, 0, len(names))
	for i, c := range cmds {
		raw, err := c.Result()
		if errors.Is(err, redis.Nil) {
			return nil, &ErrAuthzMissing{Kind: "role", Name: names[i]}
		}
		if err != nil {
			return nil, unavailable(err)
		}
		r, err := parseRole(names[i], raw)
		if err != nil {
			return nil, err
		}
		ids = appendID(ids, r.ID)
	}
	return ids, nil
}

func appendID(ids []int64, id int64) []int64 {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

// Tenant loads one tenant (ErrAuthzNotFound).
func (s *RedisStore) Tenant(ctx context.Context, project, id string) (Tenant, error) {
	raw, err := s.c.HGet(ctx, authzKeys(project)[3], id).Result()
	if errors.Is(err, redis.Nil) {
		return Tenant{}, ErrAuthzNotFound
	}
	if err != nil {
		return Tenant{}, unavailable(err)
	}
	return parseTenant(id, raw)
}

// NewUserAuthz implements Authorizer in one round trip on the project's
// slot: the project's default roles, and the membership (with its default
// roles) of the tenant whose self-provisioning domain is emailDomain.
func (s *RedisStore) NewUserAuthz(ctx context.Context, project, emailDomain string) (UserAuthz, error) {
	k := authzKeys(project)
	res, err := s.run(ctx, authzDefaultsScript, []string{k[1], k[3], k[5], k[6]}, emailDomain)
	if err != nil {
		return UserAuthz{}, s.runErr(err)
	}
	var a UserAuthz
	var cur *Membership
	for i := 0; i < len(res); {
		switch {
		case res[i] == "r" && i+1 < len(res):
			id, err := strconv.ParseInt(res[i+1], 10, 64)
			if err != nil {
				return UserAuthz{}, errShape("authz_defaults.lua")
			}
			if cur != nil {
				cur.Roles = appendID(cur.Roles, id)
			} else {
				a.Roles = appendID(a.Roles, id)
			}
			i += 2
		case res[i] == "t" && i+2 < len(res):
			inc, err := strconv.ParseInt(res[i+2], 10, 64)
			if err != nil {
				return UserAuthz{}, errShape("authz_defaults.lua")
			}
			a.Tenants = append(a.Tenants, Membership{TenantID: res[i+1], Incarnation: inc})
			cur = &a.Tenants[len(a.Tenants)-1]
			i += 3
		default:
			return UserAuthz{}, errShape("authz_defaults.lua")
		}
	}
	return a, nil
}

// SetUserAuthz implements Authorizer (one script on the user's slot).
func (s *RedisStore) SetUserAuthz(ctx context.Context, project, userID string, a UserAuthz) (User, error) {
	return s.WriteUser(ctx, project, userID, UserWrite{Set: map[string]string{"authz": a.Field()}})
}
