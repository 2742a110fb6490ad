package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// CompleteLogin implements Users in one round trip.
func (s *RedisStore) CompleteLogin(ctx context.Context, l Login) (User, bool, error) {
	var rtExp int64
	if l.RefreshID != "" {
		rtExp = l.RefreshExpiry.UnixMilli()
	}
	revoke := ""
	if l.RevokeOthers {
		revoke = "1"
	}
	entry, err := historyEntry(l.History)
	if err != nil {
		return User{}, false, err
	}
	keys := append(sessionKeys(l.Project, l.UserID), HistoryKey(l.Project, l.UserID), ErasedKey(l.Project, l.UserID))
	fresh := "0"
	if l.New {
		fresh = "n"
	}
	args := []any{l.UserID, l.LoginID, string(l.Contact), l.Address, l.Now.Unix(),
		l.Profile.Name, l.Profile.GivenName, l.Profile.MiddleName, l.Profile.FamilyName,
		l.RefreshID, rtExp, l.Now.UnixMilli(), revoke, l.Unverified,
		cmp.Or(max(l.MaxRefreshTokens, 0), DefaultMaxRefreshTokens),
		entry, HistoryMaxEntries, l.Now.Add(-HistoryMaxAge).UnixMilli(), HistoryMaxAge.Milliseconds(), fresh,
		l.Session,
	}
	var res []string
	if l.Index != nil {
		// A first login also writes the project's search index, pipelined
		// with login.lua (one round trip; the durability WAIT does not
		// cover this path, see docs/scaling.md).
		res, err = s.loginAndIndex(ctx, keys, args, l.Project, *l.Index)
	} else {
		res, err = s.run(ctx, s.login, keys, args...)
	}
	if err != nil {
		return User{}, false, s.runErr(err)
	}
	if len(res) == 1 && res[0] == "disabled" {
		return User{}, false, ErrDisabled
	}
	if len(res) == 1 && res[0] == "revoked" {
		return User{}, false, ErrSessionEnded
	}
	// The index is a hint (search re-reads every record and drops entries
	// without one): failing to take an entry back is not the login's
	// failure, which the caller would undo.
	if len(res) == 1 && res[0] == "nouser" {
		if l.Index != nil {
			// Indexed in the same pipeline: take the entry back.
			_ = s.Unindex(ctx, l.Project, l.UserID)
		}
		return User{}, false, ErrNoUser
	}
	if l.Index != nil {
		// An erasure may have run between the login and the index write.
		_ = s.unindexIfGone(ctx, l.Project, l.UserID)
	}
	return loginReply(res)
}

// loginReply reads login_lib.lua's reply: first seen, then the user hash.
func loginReply(res []string) (User, bool, error) {
	if len(res) < 1 || len(res)%2 != 1 {
		return User{}, false, errors.New("store: login.lua returned a malformed reply")
	}
	// The fields are read pair by pair: no map for a reply read once.
	var u User
	for i := 1; i+1 < len(res); i += 2 {
		if err := u.setField(res[i], res[i+1]); err != nil {
			return User{}, false, err
		}
	}
	return u, res[0] == "1", nil
}

func userFromHash(f map[string]string) (User, error) {
	var u User
	for k, v := range f {
		if err := u.setField(k, v); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// setField sets what field k of a user's hash (login_lib.lua,
// mgmt_user.lua) holds. Unknown fields are ignored.
func (u *User) setField(k, v string) error {
	switch k {
	case "userId":
		u.UserID = v
	case "email":
		u.Email = v
	case "phone":
		u.Phone = v
	case "verifiedEmail":
		u.VerifiedEmail = v == "1"
	case "verifiedPhone":
		u.VerifiedPhone = v == "1"
	case "name":
		u.Profile.Name = v
	case "givenName":
		u.Profile.GivenName = v
	case "middleName":
		u.Profile.MiddleName = v
	case "familyName":
		u.Profile.FamilyName = v
	case "status":
		u.Status = v
	case "test":
		u.Test = v == "1"
	case "picture":
		u.Picture = v
	case "mv":
		u.Version = v
	case "customAttributes":
		if v != "" {
			if err := json.Unmarshal([]byte(v), &u.CustomAttributes); err != nil {
				return fmt.Errorf("store: user customAttributes: %w", err)
			}
		}
	case "authz":
		a, err := parseUserAuthz(v)
		if err != nil {
			return fmt.Errorf("store: user authz: %w", err)
		}
		u.Authz = a
	case "loginIds":
		if v != "" {
			if err := json.Unmarshal([]byte(v), &u.LoginIDs); err != nil {
				return fmt.Errorf("store: user loginIds: %w", err)
			}
		}
	case "emailChangedAt", "phoneChangedAt":
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			if k == "emailChangedAt" {
				u.EmailChangedAt = time.UnixMilli(ms)
			} else {
				u.PhoneChangedAt = time.UnixMilli(ms)
			}
		}
	case "createdTime":
		// Seconds; records written since createdMs exists carry both,
		// and the milliseconds win whichever is read first.
		if ct, err := strconv.ParseInt(v, 10, 64); err == nil && u.CreatedTime.IsZero() {
			u.CreatedTime = time.Unix(ct, 0)
		}
	case "createdMs":
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			u.CreatedTime = time.UnixMilli(ms)
		}
	case "modifiedMs":
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			u.ModifiedTime = time.UnixMilli(ms)
		}
	}
	return nil
}

// loginAndIndex runs login.lua and the index update of a new user in one
// pipelined round trip (on Cluster, one per node, in parallel). Both are
// sent by EVALSHA; a server that lost its script cache answers NOSCRIPT,
// and the pair is then run again one by one (the index update is
// idempotent, and login.lua did not run).
func (s *RedisStore) loginAndIndex(ctx context.Context, keys []string, args []any, project string, u User) ([]string, error) {
	ix, err := indexArgs(u)
	if err != nil {
		return nil, err
	}
	var login *redis.Cmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		login = p.EvalSha(ctx, s.login.Hash(), keys, args...)
		p.EvalSha(ctx, mgmtIndexScript.Hash(), indexKeys(project), u.UserID, ix)
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := mgmtIndexScript.Run(ctx, s.c, indexKeys(project), u.UserID, ix).Err(); err != nil {
			return nil, err
		}
		if login.Err() == nil {
			return login.StringSlice()
		}
		return s.login.Run(ctx, s.c, keys, args...).StringSlice()
	}
	if err != nil {
		return nil, err
	}
	return login.StringSlice()
}
