package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// tenantRoleField is the role hash field of tenant tenantID's role name.
func tenantRoleField(tenantID, name string) string { return "\x1f" + tenantID + "\x1f" + name }

// TenantRoleIDs implements Authorizer: each name is the tenant's own role
// of that name when it has one, else the project role (one round trip).
func (s *RedisStore) TenantRoleIDs(ctx context.Context, project, tenantID string, names []string) ([]int64, error) {
	if tenantID == "" {
		return s.RoleIDs(ctx, project, names)
	}
	if len(names) == 0 {
		return nil, nil
	}
	key := authzKeys(project)[1]
	own := make([]*redis.StringCmd, len(names))
	proj := make([]*redis.StringCmd, len(names))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			own[i] = p.HGet(ctx, key, tenantRoleField(tenantID, n))
			proj[i] = p.HGet(ctx, key, n)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	ids := make([]int64, 0, len(names))
	for i, n := range names {
		raw, err := own[i].Result()
		if errors.Is(err, redis.Nil) {
			raw, err = proj[i].Result()
		}
		if errors.Is(err, redis.Nil) {
			return nil, &ErrAuthzMissing{Kind: "role", Name: n}
		}
		if err != nil {
			return nil, unavailable(err)
		}
		r, err := parseRole(n, raw)
		if err != nil {
			return nil, err
		}
		ids = appendID(ids, r.ID)
	}
	return ids, nil
}
