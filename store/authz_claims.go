package store

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// A user's claims under the current model, role ids, and new users' defaults.

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

// Claims implements Authorizer (none when u holds nothing): one GET of
// the model's version on the project's slot when the claims cache holds
// that version (authz_cache.go), else one script more to read the model;
// for a project whose model is over the cache's bound, one claims script.
func (s *RedisStore) Claims(ctx context.Context, project string, u UserAuthz) (Claims, error) {
	if u.Empty() {
		return Claims{}, nil
	}
	m, err := s.currentModel(ctx, project)
	if err != nil {
		return Claims{}, err
	}
	if m != nil {
		return m.claims(u), nil
	}
	return s.scriptClaims(ctx, project, u)
}

// scriptClaims is Claims by authz_claims.lua (no cache).
func (s *RedisStore) scriptClaims(ctx context.Context, project string, u UserAuthz) (Claims, error) {
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
// slot (a GET of the model's version when the claims cache holds it, else
// a script): the project's default roles, and the membership (with its
// default roles) of the tenant whose self-provisioning domain is
// emailDomain. userID enters the holder index of what it gets (before its
// record has them: a superset).
func (s *RedisStore) NewUserAuthz(ctx context.Context, project, userID, emailDomain string) (UserAuthz, error) {
	m, err := s.currentModel(ctx, project)
	if err != nil {
		return UserAuthz{}, err
	}
	if m != nil {
		return s.indexNewUser(ctx, project, userID, m.newUserAuthz(emailDomain))
	}
	return s.scriptNewUserAuthz(ctx, project, userID, emailDomain)
}

// indexNewUser enters a new user's defaults, computed from the cache, in
// the holder index (authz_defaults.lua does it itself): one round trip on
// the project's slot, only when there is anything to enter.
func (s *RedisStore) indexNewUser(ctx context.Context, project, userID string, a UserAuthz) (UserAuthz, error) {
	if a.Empty() || userID == "" {
		return a, nil
	}
	if _, err := s.IndexAuthz(ctx, project, userID, a); err != nil {
		return UserAuthz{}, err
	}
	return a, nil
}

// scriptNewUserAuthz is NewUserAuthz by authz_defaults.lua (no cache).
func (s *RedisStore) scriptNewUserAuthz(ctx context.Context, project, userID, emailDomain string) (UserAuthz, error) {
	k := authzKeys(project)
	res, err := s.run(ctx, authzDefaultsScript, []string{k[1], k[3], k[5], k[6], k[7], k[8]}, emailDomain, userID)
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
