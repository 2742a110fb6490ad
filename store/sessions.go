package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/refresh_lib.lua
	refreshLib string
	//go:embed lua/session.lua
	sessionSrc string
	//go:embed lua/contact.lua
	contactSrc string
	//go:embed lua/bind.lua
	bindSrc string
	//go:embed lua/session_user.lua
	sessionUserSrc string

	sessionScript = redis.NewScript(refreshLib + limitsLib + sessionSrc)
	contactScript = redis.NewScript(contactSrc)
	bindScript    = redis.NewScript(bindSrc)
	// sessionUserScript reads a user while a token family is live.
	sessionUserScript = redis.NewScript(sessionUserSrc)
)

// SessionStatus is the outcome of a refresh-token operation.
type SessionStatus string

// Session outcomes.
const (
	SessionOK      SessionStatus = "ok"
	SessionRevoked SessionStatus = "revoked" // logged out, expired, evicted, rotated away, or never issued here
	SessionReused  SessionStatus = "reused"  // a rotated token came back after the grace period: its family is now revoked
	SessionNoUser  SessionStatus = "nouser"  // the user record is gone
	SessionLimited SessionStatus = "limited" // a refresh rate limit refused: nothing changed
)

// SessionOp names what to do with a presented refresh token.
type SessionOp string

// The operations.
const (
	OpCheck     SessionOp = "check"     // is it live? (me, step-up, update)
	OpRefresh   SessionOp = "refresh"   // live, and rotate when Rotate is set
	OpLogout    SessionOp = "logout"    // revoke its family
	OpLogoutAll SessionOp = "logoutall" // revoke every token of the user
)

// SessionRequest is one operation on a refresh token the caller presented
// (its signature already verified).
type SessionRequest struct {
	Op      SessionOp
	Project string
	UserID  string
	// Token is the presented token's family and generation (its jti).
	Token RefreshID
	Now   time.Time
	// Rotate (OpRefresh) moves the family to its next generation, whose
	// number SessionResult.Generation returns for the new token's jti.
	Rotate bool
	// Grace is how long after a rotation the previous generation is still
	// live. Presented to OpRefresh within it, it rotates nothing and the
	// result names the current generation (a late duplicate gets a token
	// of it); after it, it is reuse and revokes the family.
	Grace time.Duration
	// Limits (OpRefresh only): Global are the project-wide buckets (per
	// client IP), charged by every refresh; Login are the user's own
	// buckets (keys on the user's slot, see UserLimitKey), charged only by
	// a live token.
	Limits Limits
}

// SessionResult is the outcome of a SessionRequest.
type SessionResult struct {
	Status SessionStatus
	// User is the token's user (SessionOK, except for logouts).
	User User
	// Generation is the generation to mint (SessionOK).
	Generation int64
	// Limit and RetryAfter: the refusing bucket (SessionLimited).
	Limit      string
	RetryAfter time.Duration
	// WouldLimit names the bucket that would have refused in a dry run.
	WouldLimit string
}

// Sessions tracks refresh tokens so that logout takes effect at once.
type Sessions interface {
	// Session applies op to a presented token in one round trip (two on
	// Redis Cluster with project-wide limits) and, when the token is live,
	// returns the user. Its Redis time does not depend on the user's
	// history: the state is one entry per live family, capped per user.
	Session(ctx context.Context, r SessionRequest) (SessionResult, error)
}

// UserLimitKey is the key of a user's own bucket (on the user's slot).
func UserLimitKey(project, userID, name string) string {
	return userTag(project, userID) + "rl:" + name
}

// ContactChange is a verified email/phone change (or a merge) to apply to
// a user record.
type ContactChange struct {
	Project    string
	UserID     string
	Contact    Contact
	Address    string
	AddLoginID bool
	// MergeLoginIDs are login ids moved in from a merged user.
	MergeLoginIDs []string
	// Now is when the change is made: the record's modification time, and
	// the user's <contact>ChangedAt when the verified address changes.
	Now time.Time
	// Session, when set, is a token family of UserID that must still be
	// live at Now (the session that started the update): else
	// ErrSessionEnded and nothing changes, checked in the same script.
	Session string
}

// ErrSessionEnded: the session (token family) a pending change came from
// has ended (logout, logout-all, a disable, reuse, expiry); nothing was
// changed.
var ErrSessionEnded = errors.New("store: the session that started this change has ended")

// Accounts changes users' contacts and login ids.
type Accounts interface {
	// User loads a user record (ErrNoUser when there is none).
	User(ctx context.Context, project, userID string) (User, error)
	// SessionUser loads a user record while family is one of its live
	// token families at now: ErrSessionEnded when it is not, ErrNoUser
	// when there is no record. One round trip (a script on the user's
	// slot), read-only.
	SessionUser(ctx context.Context, project, userID, family string, now time.Time) (User, error)
	// LoginOwner returns the user id a login id belongs to ("" for none).
	LoginOwner(ctx context.Context, project, loginID string) (string, error)
	// ApplyContact updates the user record (one slot).
	ApplyContact(ctx context.Context, c ContactChange) (User, error)
	// BindLogin points loginID at userID unless another user (other than
	// expectFrom) holds it; it sets the contact field when given. It
	// returns ErrTaken with the holder when refused.
	BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, contact Contact, address string) error
	// SetLoginContact sets the contact copy on a login id that is the
	// user's already (ErrNotOwner otherwise: it never binds).
	SetLoginContact(ctx context.Context, project, loginID, userID string, contact Contact, address string) error
	// UnbindLoginID deletes a login id of the user and its pending codes
	// (nothing when it is not the user's).
	UnbindLoginID(ctx context.Context, project, loginID, userID string) error
	// DropUser deletes a user record and all its refresh tokens.
	DropUser(ctx context.Context, project, userID string) error
}

// ErrTaken: the login id belongs to another user.
var ErrTaken = errors.New("store: login id belongs to another user")

// ErrNoUser: the user record does not exist.
var ErrNoUser = errors.New("store: no such user")

var (
	_ Sessions = (*RedisStore)(nil)
	_ Accounts = (*RedisStore)(nil)
)

// Session implements Sessions.
func (s *RedisStore) Session(ctx context.Context, r SessionRequest) (SessionResult, error) {
	var global, own []Bucket
	var would string
	if r.Op == OpRefresh {
		global, own = active(r.Limits.Global), active(r.Limits.Login)
		if len(own) > 1 {
			return SessionResult{}, errors.New("store: at most one per-user refresh bucket")
		}
		if s.split && len(global) > 0 {
			limited, w, retry, _, err := s.applyLimits(ctx, global, r.Now, r.Limits.DryRun)
			if err != nil || limited != "" {
				return SessionResult{Status: SessionLimited, Limit: limited, RetryAfter: retry}, err
			}
			would, global = w, nil
		}
	}
	keys := sessionKeys(r.Project, r.UserID)
	if len(own) == 1 {
		keys = append(keys, own[0].Key)
	} else {
		keys = append(keys, UserLimitKey(r.Project, r.UserID, "refresh"))
	}
	keys = append(keys, bucketKeys(global)...)
	rotate := ""
	if r.Rotate {
		rotate = "1"
	}
	args := []any{string(r.Op), r.Token.Family, r.Token.Generation, r.Now.UnixMilli(), rotate, r.Grace.Milliseconds(),
		len(global), len(own), dryFlag(r.Limits.DryRun)}
	args = appendTriples(appendTriples(args, global), own)
	res, err := s.run(ctx, sessionScript, keys, args...)
	if err != nil {
		return SessionResult{}, s.runErr(err)
	}
	if len(res) == 0 {
		return SessionResult{}, errShape("session.lua")
	}
	out := SessionResult{Status: SessionStatus(res[0]), WouldLimit: would}
	switch {
	case out.Status == SessionLimited && len(res) == 3:
		ms, _ := strconv.ParseInt(res[2], 10, 64)
		out.Limit, out.RetryAfter = res[1], time.Duration(ms)*time.Millisecond
	case out.Status == SessionOK && len(res) >= 3:
		if out.Generation, err = strconv.ParseInt(res[1], 10, 64); err != nil {
			return SessionResult{}, errShape("session.lua")
		}
		if out.WouldLimit == "" {
			out.WouldLimit = res[2]
		}
		if out.User, err = userFromReply(res[3:]); err != nil {
			return SessionResult{}, err
		}
	case len(res) != 1:
		return SessionResult{}, errShape("session.lua")
	}
	return out, nil
}

func userFromReply(flat []string) (User, error) {
	if len(flat)%2 != 0 {
		return User{}, errors.New("store: malformed user reply")
	}
	f := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		f[flat[i]] = flat[i+1]
	}
	return userFromHash(f)
}

// User implements Accounts.
func (s *RedisStore) User(ctx context.Context, project, userID string) (User, error) {
	f, err := s.c.HGetAll(ctx, UserKey(project, userID)).Result()
	if err != nil {
		return User{}, unavailable(err)
	}
	if len(f) == 0 {
		return User{}, ErrNoUser
	}
	return userFromHash(f)
}

// SessionUser implements Accounts. Read-only: never waits for replicas.
func (s *RedisStore) SessionUser(ctx context.Context, project, userID, family string, now time.Time) (User, error) {
	keys := []string{UserKey(project, userID), RefreshKey(project, userID)}
	args := []any{family, strconv.FormatInt(now.UnixMilli(), 10)}
	cmd := redis.NewStringSliceCmd(ctx, evalShaArgs(sessionUserScript, keys, args)...)
	err := s.proc.Process(ctx, cmd)
	res, rerr := cmd.Result()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		res, rerr = sessionUserScript.Eval(ctx, s.c, keys, args...).StringSlice()
	}
	if rerr != nil {
		return User{}, s.runErr(rerr)
	}
	switch {
	case len(res) == 1 && res[0] == "nouser":
		return User{}, ErrNoUser
	case len(res) == 1 && res[0] == "revoked":
		return User{}, ErrSessionEnded
	case len(res) == 0 || res[0] != "ok":
		return User{}, fmt.Errorf("store: session_user.lua answered %q", res)
	}
	return userFromReply(res[1:])
}

// LoginOwner implements Accounts.
func (s *RedisStore) LoginOwner(ctx context.Context, project, loginID string) (string, error) {
	uid, err := s.c.HGet(ctx, LoginKey(project, loginID), "uid").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable(err)
	}
	return uid, nil
}

// ApplyContact implements Accounts.
func (s *RedisStore) ApplyContact(ctx context.Context, c ContactChange) (User, error) {
	add := ""
	if c.AddLoginID {
		add = "1"
	}
	var merge string
	if len(c.MergeLoginIDs) > 0 {
		b, err := json.Marshal(c.MergeLoginIDs)
		if err != nil {
			return User{}, err
		}
		merge = string(b)
	}
	// rt is on the user's slot (userTag): the family check is in the same
	// script as the write.
	res, err := s.run(ctx, contactScript, []string{UserKey(c.Project, c.UserID), RefreshKey(c.Project, c.UserID)},
		string(c.Contact), c.Address, add, merge, strconv.FormatInt(c.Now.UnixMilli(), 10), c.Session)
	if err != nil {
		return User{}, s.runErr(err)
	}
	if len(res) == 1 && res[0] == "revoked" {
		return User{}, ErrSessionEnded
	}
	if len(res) == 0 || res[0] != "ok" {
		return User{}, ErrNoUser
	}
	return userFromReply(res[1:])
}

// BindLogin implements Accounts.
func (s *RedisStore) BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, contact Contact, address string) error {
	return s.bind(ctx, project, loginID, userID, expectFrom, contact, address, "")
}

// SetLoginContact implements Accounts.
func (s *RedisStore) SetLoginContact(ctx context.Context, project, loginID, userID string, contact Contact, address string) error {
	return s.bind(ctx, project, loginID, userID, "", contact, address, "1")
}

func (s *RedisStore) bind(ctx context.Context, project, loginID, userID, expectFrom string, contact Contact, address, ownOnly string) error {
	args := []any{userID, expectFrom, string(contact), address}
	if ownOnly != "" {
		args = append(args, ownOnly)
	}
	res, err := s.run(ctx, bindScript, []string{LoginKey(project, loginID)}, args...)
	if err != nil {
		return s.runErr(err)
	}
	if len(res) != 2 {
		return errors.New("store: bind.lua returned a malformed reply")
	}
	switch res[0] {
	case "taken":
		return fmt.Errorf("%w (%s)", ErrTaken, res[1])
	case "notowner":
		return ErrNotOwner
	}
	return nil
}

// DropUser implements Accounts.
func (s *RedisStore) DropUser(ctx context.Context, project, userID string) error {
	_, err := s.Session(ctx, SessionRequest{Op: "drop", Project: project, UserID: userID})
	return err
}

// unixMs is t in Unix milliseconds, "" for the zero time.
func unixMs(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}
