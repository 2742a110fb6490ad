package store

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The holder index: per project, which users may hold a project role (by
// role id) or be a member of a tenant (by incarnation), for the user search
// by roleNames / tenantIds (lua/authz_index.lua). It is a superset of the
// truth, kept on the project's slot beside the model:
//
//   - an entry is added before the user record that needs it is written
//     (IndexAuthz, or NewUserAuthz for a new user's defaults), so a crash
//     between the two leaves an entry too many, never one too few;
//   - an entry is dropped after the write that ended it (UnindexAuthz),
//     only when no later writer stamped it again;
//   - deleting a role or a tenant drops all its entries in the model's
//     own script.
//
// The search reads each candidate's record and keeps only real holders.

// IndexAuthz adds userID to the holder entries of a's project roles and
// tenants, and returns the stamp to give UnindexAuthz after the write.
func (s *RedisStore) IndexAuthz(ctx context.Context, project, userID string, add UserAuthz) (int64, error) {
	k := authzKeys(project)
	args := append([]any{"add", userID, "0"}, holderEntries(add)...)
	res, err := s.run(ctx, authzIndexScript, k[7:9], args...)
	if err != nil {
		return 0, s.runErr(err)
	}
	if len(res) != 1 {
		return 0, errShape("authz_index.lua")
	}
	seq, err := strconv.ParseInt(res[0], 10, 64)
	if err != nil {
		return 0, errShape("authz_index.lua")
	}
	return seq, nil
}

// UnindexAuthz drops userID's holder entries of drop's project roles and
// tenants that were stamped at most upTo.
func (s *RedisStore) UnindexAuthz(ctx context.Context, project, userID string, drop UserAuthz, upTo int64) error {
	ents := holderEntries(drop)
	if len(ents) == 0 {
		return nil
	}
	args := append([]any{"drop", userID, strconv.FormatInt(upTo, 10)}, ents...)
	if _, err := s.run(ctx, authzIndexScript, authzKeys(project)[7:9], args...); err != nil && !errors.Is(err, redis.Nil) {
		return s.runErr(err)
	}
	return nil
}

func holderEntries(a UserAuthz) []any {
	var out []any
	for _, id := range a.Roles {
		out = append(out, "r"+strconv.FormatInt(id, 10))
	}
	for _, m := range a.Tenants {
		out = append(out, "t"+strconv.FormatInt(m.Incarnation, 10))
	}
	return out
}

// ErrTooManyHolders: the roles and tenants asked for have more holder
// entries together than the caller's limit.
var ErrTooManyHolders = errors.New("store: more holder entries than the limit")

// AuthzHolders returns the ids of users that may hold any of the project
// roles or be a member of any of the tenant incarnations. When those have
// more than limit entries together it reads none of them and returns
// ErrTooManyHolders: a first round trip counts (ZLEXCOUNT, cheap), so a
// search never transfers more than limit entries.
func (s *RedisStore) AuthzHolders(ctx context.Context, project string, roleIDs, incarnations []int64, limit int) ([]string, error) {
	key := authzKeys(project)[7]
	var prefixes []string
	for _, id := range roleIDs {
		prefixes = append(prefixes, "r"+strconv.FormatInt(id, 10))
	}
	for _, n := range incarnations {
		prefixes = append(prefixes, "t"+strconv.FormatInt(n, 10))
	}
	if len(prefixes) == 0 {
		return nil, nil
	}
	counts := make([]*redis.IntCmd, len(prefixes))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pre := range prefixes {
			counts[i] = p.ZLexCount(ctx, key, "["+pre+"\x00", "("+pre+"\x01")
		}
		return nil
	}); err != nil {
		return nil, unavailable(err)
	}
	total := int64(0)
	for _, c := range counts {
		total += c.Val()
	}
	if total > int64(limit) {
		return nil, ErrTooManyHolders
	}
	cmds := make([]*redis.StringSliceCmd, len(prefixes))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pre := range prefixes {
			cmds[i] = p.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: "[" + pre + "\x00", Max: "(" + pre + "\x01", Count: int64(limit)})
		}
		return nil
	}); err != nil {
		return nil, unavailable(err)
	}
	seen := map[string]bool{}
	var out []string
	for i, c := range cmds {
		for _, m := range c.Val() {
			uid := strings.SplitN(m[len(prefixes[i])+1:], "\x00", 2)[0]
			if !seen[uid] {
				seen[uid] = true
				out = append(out, uid)
			}
		}
	}
	return out, nil
}
