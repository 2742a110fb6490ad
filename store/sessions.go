package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/session.lua
	sessionSrc string
	//go:embed lua/contact.lua
	contactSrc string
	//go:embed lua/bind.lua
	bindSrc string

	sessionScript = redis.NewScript(sessionSrc)
	contactScript = redis.NewScript(contactSrc)
	bindScript    = redis.NewScript(bindSrc)
)

// SessionStatus is the outcome of a refresh-token operation.
type SessionStatus string

// Session outcomes.
const (
	SessionOK      SessionStatus = "ok"
	SessionRevoked SessionStatus = "revoked" // logged out, expired, or never issued here
	SessionReused  SessionStatus = "reused"  // a rotated token came back: its family is now revoked
	SessionNoUser  SessionStatus = "nouser"  // the user record is gone
)

// SessionOp names what to do with a presented refresh token.
type SessionOp string

// The operations.
const (
	OpCheck     SessionOp = "check"     // is it live? (me, step-up, update)
	OpRefresh   SessionOp = "refresh"   // live, and rotate when NewID is set
	OpLogout    SessionOp = "logout"    // revoke it
	OpLogoutAll SessionOp = "logoutall" // revoke every token of the user
)

// SessionRequest is one operation on a refresh token the caller presented
// (its signature already verified).
type SessionRequest struct {
	Op      SessionOp
	Project string
	UserID  string
	ID      string // the token's jti
	Now     time.Time
	// Rotation: the new refresh token's jti and expiry (OpRefresh only).
	NewID     string
	NewExpiry time.Time
}

// Sessions tracks refresh tokens so that logout takes effect at once.
type Sessions interface {
	// Session applies op to a presented token in one round trip and, when
	// the token is live, returns the user.
	Session(ctx context.Context, r SessionRequest) (User, SessionStatus, error)
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
}

// Accounts changes users' contacts and login ids.
type Accounts interface {
	// User loads a user record (ErrNoUser when there is none).
	User(ctx context.Context, project, userID string) (User, error)
	// LoginOwner returns the user id a login id belongs to ("" for none).
	LoginOwner(ctx context.Context, project, loginID string) (string, error)
	// ApplyContact updates the user record (one slot).
	ApplyContact(ctx context.Context, c ContactChange) (User, error)
	// BindLogin points loginID at userID unless another user (other than
	// expectFrom) holds it; it sets the contact field when given. It
	// returns ErrTaken with the holder when refused.
	BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, contact Contact, address string) error
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
func (s *RedisStore) Session(ctx context.Context, r SessionRequest) (User, SessionStatus, error) {
	var newExp int64
	if r.NewID != "" {
		newExp = r.NewExpiry.UnixMilli()
	}
	res, err := sessionScript.Run(ctx, s.c, sessionKeys(r.Project, r.UserID),
		string(r.Op), r.ID, r.Now.UnixMilli(), r.NewID, newExp).StringSlice()
	if err != nil {
		return User{}, "", unavailable(err)
	}
	if len(res) == 0 {
		return User{}, "", errors.New("store: session.lua returned nothing")
	}
	st := SessionStatus(res[0])
	if st != SessionOK || len(res) == 1 {
		return User{}, st, nil
	}
	u, err := userFromReply(res[1:])
	return u, st, err
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
	res, err := contactScript.Run(ctx, s.c, []string{UserKey(c.Project, c.UserID)},
		string(c.Contact), c.Address, add, merge).StringSlice()
	if err != nil {
		return User{}, unavailable(err)
	}
	if len(res) == 0 || res[0] != "ok" {
		return User{}, ErrNoUser
	}
	return userFromReply(res[1:])
}

// BindLogin implements Accounts.
func (s *RedisStore) BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, contact Contact, address string) error {
	res, err := bindScript.Run(ctx, s.c, []string{LoginKey(project, loginID)},
		userID, expectFrom, string(contact), address).StringSlice()
	if err != nil {
		return unavailable(err)
	}
	if len(res) != 2 {
		return errors.New("store: bind.lua returned a malformed reply")
	}
	if res[0] == "taken" {
		return fmt.Errorf("%w (%s)", ErrTaken, res[1])
	}
	return nil
}

// DropUser implements Accounts.
func (s *RedisStore) DropUser(ctx context.Context, project, userID string) error {
	_, _, err := s.Session(ctx, SessionRequest{Op: "drop", Project: project, UserID: userID})
	return err
}
