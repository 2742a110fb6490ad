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

// The management API's storage (package mgmt): user records written
// whole, login ids bound and unbound, and per-project indexes so that
// search never scans the keyspace.
//
// Index keys (one hash tag per project, so one slot on Cluster):
//
//	otpd:{P}:ix:rec                 hash  uid -> {e, p, s, t, c} as indexed
//	otpd:{P}:ix:email, ix:phone     zset  "address\0uid", lexicographic lookups
//	otpd:{P}:ix:<real|test>:<enabled|disabled>  zset uid -> created ms
//
// The indexes are hints: search re-reads every candidate's record and
// re-applies the filters, so an entry left stale by a crash between two
// steps can hide a user from one search at worst, never show a wrong one.

var (
	//go:embed lua/mgmt_user.lua
	mgmtUserSrc string
	//go:embed lua/mgmt_login.lua
	mgmtLoginSrc string
	//go:embed lua/index_lib.lua
	indexLib string
	//go:embed lua/mgmt_index.lua
	mgmtIndexSrc string
	//go:embed lua/mgmt_search.lua
	mgmtSearchSrc string

	mgmtUserScript   = redis.NewScript(mgmtUserSrc)
	mgmtLoginScript  = redis.NewScript(mgmtLoginSrc)
	mgmtIndexScript  = redis.NewScript(indexLib + mgmtIndexSrc)
	mgmtSearchScript = redis.NewScript(mgmtSearchSrc)
)

// Channels are the pending-code channels a login id may have.
var Channels = []string{"email", "sms", "voice", "whatsapp"}

// ErrExists: a create found the user id taken.
var ErrExists = errors.New("store: user exists")

// ErrConflict: the user changed since it was read; read again and retry.
var ErrConflict = errors.New("store: user changed concurrently")

// ErrNotOwner: the login id is not (or no longer) the user's.
var ErrNotOwner = errors.New("store: login id belongs to another user")

// UserWrite is one change to a user record.
type UserWrite struct {
	// Create makes a new record (ErrExists if there is one); otherwise the
	// record must exist (ErrNoUser).
	Create bool
	// Set and Del are hash fields to write and remove (see UserFields).
	Set map[string]string
	Del []string
	// Revoke drops every refresh token of the user.
	Revoke bool
	// Expect are fields that must still hold these values (ErrConflict).
	Expect map[string]string
}

// LoginFields are the copies a login id carries of its user: the verified
// addresses codes go to, and whether the user is disabled.
type LoginFields struct {
	Email, Phone string
	Disabled     bool
}

// Directory is what the management API needs from the store.
type Directory interface {
	Accounts
	// Authorizer is the authorization model (authz.go).
	Authorizer
	// AccessKeys are the services' access keys (accesskeys.go).
	AccessKeys
	// Users loads records by id; ids without a record are left out.
	Users(ctx context.Context, project string, ids []string) ([]User, error)
	// WriteUser applies w and returns the record after it.
	WriteUser(ctx context.Context, project, userID string, w UserWrite) (User, error)
	// EraseUser is the first step of an erasure: in one script on the
	// user's slot it sets the user's erasure marker and deletes every key
	// of the user (record, refresh tokens, history, its refresh bucket),
	// and returns the login ids to unbind: the record's, or those an
	// unfinished erasure kept in the marker. From then on no login, refresh
	// or management write can bring the user back (see lua/mgmt_user.lua).
	// ErrNoUser when there is neither a record nor an unfinished erasure,
	// unless force (a login id still names the user: its erasure goes on).
	EraseUser(ctx context.Context, project, userID string, force bool) ([]string, error)
	// FinishErase is the last step: the marker keeps only "1" until it
	// expires (ErasedTTL).
	FinishErase(ctx context.Context, project, userID string) error
	// RevokeSessions drops every refresh token of the user (ErrNoUser).
	RevokeSessions(ctx context.Context, project, userID string) error
	// BindLoginID points a free (or already own) login id at the user and
	// sets its copies (ErrTaken otherwise).
	BindLoginID(ctx context.Context, project, loginID, userID string, f LoginFields) error
	// SetLoginFields refreshes the copies on a login id of the user
	// (ErrNotOwner when it is not the user's).
	SetLoginFields(ctx context.Context, project, loginID, userID string, f LoginFields) error
	// UnbindLoginID deletes a login id of the user and its pending codes.
	UnbindLoginID(ctx context.Context, project, loginID, userID string) error
	// Index brings the project's indexes in step with u; Unindex drops a user.
	Index(ctx context.Context, project string, u User) error
	Unindex(ctx context.Context, project, userID string) error
	// Page lists ids from the (test, status) sets chosen, oldest first,
	// with the total size of those sets.
	Page(ctx context.Context, project string, sets []IndexSet, offset, count int) ([]string, int, error)
	// PageRange is Page within a created-time range, in either order, with
	// the number of ids in the range.
	PageRange(ctx context.Context, project string, sets []IndexSet, r PageRange) ([]string, int, error)
	// Lookup returns the ids of users indexed with any of the addresses,
	// at most limit of them.
	Lookup(ctx context.Context, project string, c Contact, addresses []string, limit int) ([]string, error)
	// History returns a user's logins, newest first.
	History(ctx context.Context, project, userID string, now time.Time) ([]LoginRecord, error)
}

// IndexSet names one of a project's (test, status) user sets.
type IndexSet struct {
	Test     bool
	Disabled bool
}

var _ Directory = (*RedisStore)(nil)

func projectTag(project string) string { return "otpd:{" + escape(project) + "}:" }

func (k IndexSet) key(project string) string {
	kind, st := "real", "enabled"
	if k.Test {
		kind = "test"
	}
	if k.Disabled {
		st = "disabled"
	}
	return projectTag(project) + "ix:" + kind + ":" + st
}

func indexKeys(project string) []string {
	t := projectTag(project)
	keys := []string{t + "ix:rec", t + "ix:email", t + "ix:phone"}
	for _, s := range []IndexSet{{}, {Disabled: true}, {Test: true}, {Test: true, Disabled: true}} {
		keys = append(keys, s.key(project))
	}
	return keys
}

// UserFields is the hash layout of a user record's settable fields.
func UserFields(u User) map[string]string {
	ids, _ := json.Marshal(u.LoginIDs)
	f := map[string]string{
		"userId": u.UserID, "loginIds": string(ids), "email": u.Email, "phone": u.Phone,
		"verifiedEmail": flag(u.VerifiedEmail), "verifiedPhone": flag(u.VerifiedPhone),
		"name": u.Name, "givenName": u.GivenName, "middleName": u.MiddleName, "familyName": u.FamilyName,
		"status": u.Status, "test": flag(u.Test), "picture": u.Picture,
		"createdTime": strconv.FormatInt(u.CreatedTime.Unix(), 10), "customAttributes": "",
		"authz":     u.Authz.Field(),
		"createdMs": strconv.FormatInt(u.CreatedTime.UnixMilli(), 10),
	}
	if !u.ModifiedTime.IsZero() {
		f["modifiedMs"] = strconv.FormatInt(u.ModifiedTime.UnixMilli(), 10)
	}
	if len(u.CustomAttributes) > 0 {
		b, _ := json.Marshal(u.CustomAttributes)
		f["customAttributes"] = string(b)
	}
	return f
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ErasedTTL is how long an erasure marker outlives the erasure: far
// longer than any request that could race it (a verify whose login runs
// in a second script, a management create that bound its login ids, both
// bounded by a request's deadline), and short enough that markers of
// erased users (about 100 bytes each) do not pile up.
const ErasedTTL = 24 * time.Hour

// ErasedKey is a user's erasure marker (see lua/mgmt_user.lua).
func ErasedKey(project, userID string) string { return userTag(project, userID) + "erased" }

func userKeys(project, userID string) []string {
	return append(sessionKeys(project, userID), HistoryKey(project, userID), ErasedKey(project, userID),
		UserLimitKey(project, userID, "refresh"))
}

func (s *RedisStore) runUser(ctx context.Context, project, userID, op string, w UserWrite) ([]string, error) {
	set, del, expect := w.Set, w.Del, w.Expect
	if set == nil {
		set = map[string]string{}
	}
	if del == nil {
		del = []string{}
	}
	if expect == nil {
		expect = map[string]string{}
	}
	sb, _ := json.Marshal(set)
	db, _ := json.Marshal(del)
	eb, _ := json.Marshal(expect)
	res, err := s.run(ctx, mgmtUserScript, userKeys(project, userID), op, sb, db, flag(w.Revoke), eb,
		ErasedTTL.Milliseconds())
	if err != nil {
		return nil, s.runErr(err)
	}
	if len(res) == 0 {
		return nil, errShape("mgmt_user.lua")
	}
	switch res[0] {
	case "ok", "erasing":
		return res[1:], nil
	case "exists":
		return nil, ErrExists
	case "nouser":
		return nil, ErrNoUser
	case "conflict":
		return nil, ErrConflict
	case "erased":
		return nil, ErrErased
	}
	return nil, errShape("mgmt_user.lua")
}

// ErrErased: the user was erased (its erasure marker is set); nothing was
// written.
var ErrErased = errors.New("store: user erased")

// WriteUser implements Directory.
func (s *RedisStore) WriteUser(ctx context.Context, project, userID string, w UserWrite) (User, error) {
	op := "update"
	if w.Create {
		op = "create"
	}
	res, err := s.runUser(ctx, project, userID, op, w)
	if err != nil {
		return User{}, err
	}
	return userFromReply(res)
}

// EraseUser implements Directory.
func (s *RedisStore) EraseUser(ctx context.Context, project, userID string, force bool) ([]string, error) {
	res, err := s.runUser(ctx, project, userID, "erase", UserWrite{Revoke: force})
	if errors.Is(err, ErrErased) {
		return nil, ErrNoUser // finished before, and no login id names it
	}
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, errShape("mgmt_user.lua")
	}
	var ids []string
	if err := json.Unmarshal([]byte(res[0]), &ids); err != nil {
		return nil, fmt.Errorf("store: erased user's loginIds: %w", err)
	}
	return ids, nil
}

// FinishErase implements Directory.
func (s *RedisStore) FinishErase(ctx context.Context, project, userID string) error {
	_, err := s.runUser(ctx, project, userID, "erased", UserWrite{})
	return err
}

// RevokeSessions implements Directory.
func (s *RedisStore) RevokeSessions(ctx context.Context, project, userID string) error {
	_, err := s.runUser(ctx, project, userID, "logout", UserWrite{})
	return err
}

// Users implements Directory: one pipelined round trip (one per node on
// Cluster).
func (s *RedisStore) Users(ctx context.Context, project string, ids []string) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, UserKey(project, id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]User, 0, len(ids))
	for _, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		u, err := userFromHash(c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (s *RedisStore) runLogin(ctx context.Context, project, loginID, userID, op string, f *LoginFields) error {
	set, del := map[string]string{}, []string{}
	if f != nil {
		for _, kv := range [][2]string{{"email", f.Email}, {"phone", f.Phone}} {
			if kv[1] != "" {
				set[kv[0]] = kv[1]
			} else {
				del = append(del, kv[0])
			}
		}
		if f.Disabled {
			set["dis"] = "1"
		} else {
			del = append(del, "dis")
		}
	}
	keys := []string{LoginKey(project, loginID)}
	for _, ch := range Channels {
		keys = append(keys, CodeKeyName(CodeKey{Project: project, LoginID: loginID, Channel: ch}))
	}
	sb, _ := json.Marshal(set)
	db, _ := json.Marshal(del)
	res, err := s.run(ctx, mgmtLoginScript, keys, op, userID, sb, db)
	if err != nil {
		return s.runErr(err)
	}
	if len(res) != 2 {
		return errShape("mgmt_login.lua")
	}
	switch res[0] {
	case "ok":
		return nil
	case "taken":
		return fmt.Errorf("%w (%s)", ErrTaken, res[1])
	case "notowner":
		return ErrNotOwner
	}
	return errShape("mgmt_login.lua")
}

// BindLoginID implements Directory.
func (s *RedisStore) BindLoginID(ctx context.Context, project, loginID, userID string, f LoginFields) error {
	return s.runLogin(ctx, project, loginID, userID, "bind", &f)
}

// SetLoginFields implements Directory.
func (s *RedisStore) SetLoginFields(ctx context.Context, project, loginID, userID string, f LoginFields) error {
	return s.runLogin(ctx, project, loginID, userID, "set", &f)
}

// UnbindLoginID implements Directory.
func (s *RedisStore) UnbindLoginID(ctx context.Context, project, loginID, userID string) error {
	err := s.runLogin(ctx, project, loginID, userID, "unbind", nil)
	if errors.Is(err, ErrNotOwner) {
		return nil // already gone (or moved on): nothing of ours to remove
	}
	return err
}
