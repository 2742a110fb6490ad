package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/start.lua
	startSrc string
	//go:embed lua/verify.lua
	verifySrc string
	//go:embed lua/login.lua
	loginSrc string
)

// Scripter is the narrow client RedisStore needs: running scripts.
// redis.UniversalClient (single node, Sentinel, Cluster) satisfies it.
type Scripter interface {
	redis.Scripter
}

// RedisStore implements Codes and Users on Redis.
type RedisStore struct {
	c      Scripter
	start  *redis.Script
	verify *redis.Script
	login  *redis.Script
}

var (
	_ Codes = (*RedisStore)(nil)
	_ Users = (*RedisStore)(nil)
)

// NewRedisStore returns a store over c.
func NewRedisStore(c Scripter) *RedisStore {
	return &RedisStore{
		c:      c,
		start:  redis.NewScript(startSrc),
		verify: redis.NewScript(verifySrc),
		login:  redis.NewScript(loginSrc),
	}
}

// Preload loads the scripts into the server's cache so that the first
// requests do not pay an EVAL fallback. Optional.
func (s *RedisStore) Preload(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.start, s.verify, s.login, sessionScript, contactScript, bindScript} {
		if err := sc.Load(ctx, s.c).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// escape makes a login id safe inside a hash tag: the tag ends at the
// first '}', so '{', '}' (and '%', the escape itself) are percent-encoded.
func escape(s string) string {
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	r := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
	return r.Replace(s)
}

func loginTag(project, loginID string) string {
	return "otpd:{" + project + ":" + escape(loginID) + "}:"
}

func userTag(project, userID string) string {
	return "otpd:{" + project + ":" + escape(userID) + "}:"
}

// LoginKey is the login index key of a login id (exported for tests and tools).
func LoginKey(project, loginID string) string { return loginTag(project, loginID) + "login" }

// CodeKeyName is the pending-code key of k.
func CodeKeyName(k CodeKey) string { return loginTag(k.Project, k.LoginID) + "code:" + k.Channel }

// UserKey is the user record key.
func UserKey(project, userID string) string { return userTag(project, userID) + "user" }

// RefreshKey is the refresh-token-id set of a user.
func RefreshKey(project, userID string) string { return userTag(project, userID) + "rt" }

// sessionKeys are the user record and its three refresh-token keys.
func sessionKeys(project, userID string) []string {
	t := userTag(project, userID)
	return []string{t + "user", t + "rt", t + "rtf", t + "rtr"}
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// StartCode implements Codes in one round trip.
func (s *RedisStore) StartCode(ctx context.Context, c NewCode) (StartResult, error) {
	expMs := c.ExpiresAt.UnixMilli()
	res, err := s.start.Run(ctx, s.c,
		[]string{LoginKey(c.Key.Project, c.Key.LoginID), CodeKeyName(c.Key)},
		string(c.Rule), c.Hash, c.Purpose, c.NewUserAddress, string(c.Contact),
		c.MaxAttempts, expMs, c.lifetimeMs(), c.Payload, c.LoginAddress, c.OwnerID,
	).StringSlice()
	if err != nil {
		return StartResult{}, unavailable(err)
	}
	if len(res) != 2 {
		return StartResult{}, fmt.Errorf("store: start.lua returned %d values", len(res))
	}
	return StartResult{Status: StartStatus(res[0]), Address: res[1]}, nil
}

// lifetimeMs is the record's TTL in Redis. The store has no clock, so the
// caller sets Retain to the code's lifetime plus a grace period during which
// a late verify is answered "expired".
func (c NewCode) lifetimeMs() int64 {
	ms := c.Retain.Milliseconds()
	if ms < 1000 {
		ms = 1000
	}
	return ms
}

// VerifyCode implements Codes in one round trip.
func (s *RedisStore) VerifyCode(ctx context.Context, a Attempt) (VerifyResult, error) {
	args := make([]any, 0, 2+len(a.Candidates))
	args = append(args, a.Now.UnixMilli(), a.NewUserID)
	for _, c := range a.Candidates {
		args = append(args, c)
	}
	res, err := s.verify.Run(ctx, s.c,
		[]string{CodeKeyName(a.Key), LoginKey(a.Key.Project, a.Key.LoginID)}, args...,
	).StringSlice()
	if err != nil {
		return VerifyResult{}, unavailable(err)
	}
	if len(res) != 7 {
		return VerifyResult{}, fmt.Errorf("store: verify.lua returned %d values", len(res))
	}
	left, _ := strconv.Atoi(res[6])
	r := VerifyResult{
		Status:       VerifyStatus(res[0]),
		Purpose:      res[1],
		Address:      res[2],
		UserID:       res[4],
		NewUser:      res[5] == "1",
		AttemptsLeft: left,
	}
	if r.Status == VerifyOK {
		if res[3] != "" {
			r.Payload = []byte(res[3])
		}
		r.Contact = contactOf(r.Address)
	}
	return r, nil
}

func contactOf(address string) Contact {
	if strings.HasPrefix(address, "+") {
		return ContactPhone
	}
	return ContactEmail
}

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
	res, err := s.login.Run(ctx, s.c, sessionKeys(l.Project, l.UserID),
		l.UserID, l.LoginID, string(l.Contact), l.Address, l.Now.Unix(),
		l.Profile.Name, l.Profile.GivenName, l.Profile.MiddleName, l.Profile.FamilyName,
		l.RefreshID, rtExp, l.Now.UnixMilli(), revoke,
	).StringSlice()
	if err != nil {
		return User{}, false, unavailable(err)
	}
	if len(res) < 1 || len(res)%2 != 1 {
		return User{}, false, errors.New("store: login.lua returned a malformed reply")
	}
	fields := make(map[string]string, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		fields[res[i]] = res[i+1]
	}
	u, err := userFromHash(fields)
	return u, res[0] == "1", err
}

func userFromHash(f map[string]string) (User, error) {
	u := User{
		UserID:        f["userId"],
		Email:         f["email"],
		Phone:         f["phone"],
		VerifiedEmail: f["verifiedEmail"] == "1",
		VerifiedPhone: f["verifiedPhone"] == "1",
		Profile: Profile{
			Name:       f["name"],
			GivenName:  f["givenName"],
			MiddleName: f["middleName"],
			FamilyName: f["familyName"],
		},
		Status: f["status"],
	}
	if ids := f["loginIds"]; ids != "" {
		if err := json.Unmarshal([]byte(ids), &u.LoginIDs); err != nil {
			return User{}, fmt.Errorf("store: user loginIds: %w", err)
		}
	}
	if ct, err := strconv.ParseInt(f["createdTime"], 10, 64); err == nil {
		u.CreatedTime = time.Unix(ct, 0)
	}
	return u, nil
}
