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
	// Users loads records by id; ids without a record are left out.
	Users(ctx context.Context, project string, ids []string) ([]User, error)
	// WriteUser applies w and returns the record after it.
	WriteUser(ctx context.Context, project, userID string, w UserWrite) (User, error)
	// DeleteUser removes the record, its refresh tokens and its history.
	DeleteUser(ctx context.Context, project, userID string) error
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
	// Lookup returns the ids of users indexed with any of the addresses.
	Lookup(ctx context.Context, project string, c Contact, addresses []string) ([]string, error)
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
		"authz": u.Authz.Field(),
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

func userKeys(project, userID string) []string {
	return append(sessionKeys(project, userID), HistoryKey(project, userID))
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
	res, err := s.run(ctx, mgmtUserScript, userKeys(project, userID), op, sb, db, flag(w.Revoke), eb)
	if err != nil {
		return nil, s.runErr(err)
	}
	if len(res) == 0 {
		return nil, errShape("mgmt_user.lua")
	}
	switch res[0] {
	case "ok":
		return res[1:], nil
	case "exists":
		return nil, ErrExists
	case "nouser":
		return nil, ErrNoUser
	case "conflict":
		return nil, ErrConflict
	}
	return nil, errShape("mgmt_user.lua")
}

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

// DeleteUser implements Directory.
func (s *RedisStore) DeleteUser(ctx context.Context, project, userID string) error {
	_, err := s.runUser(ctx, project, userID, "delete", UserWrite{})
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

type indexRec struct {
	E string `json:"e"`
	P string `json:"p"`
	S string `json:"s"`
	T bool   `json:"t"`
	C int64  `json:"c"`
}

func indexArgs(u User) (string, error) {
	b, err := json.Marshal(indexRec{E: u.Email, P: u.Phone, S: u.Status, T: u.Test, C: u.CreatedTime.UnixMilli()})
	return string(b), err
}

// Index implements Directory.
func (s *RedisStore) Index(ctx context.Context, project string, u User) error {
	b, err := indexArgs(u)
	if err != nil {
		return err
	}
	if err := mgmtIndexScript.Run(ctx, s.c, indexKeys(project), u.UserID, b).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Unindex implements Directory.
func (s *RedisStore) Unindex(ctx context.Context, project, userID string) error {
	if err := mgmtIndexScript.Run(ctx, s.c, indexKeys(project), userID, "").Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Page implements Directory.
func (s *RedisStore) Page(ctx context.Context, project string, sets []IndexSet, offset, count int) ([]string, int, error) {
	if len(sets) == 0 || count <= 0 {
		return nil, 0, nil
	}
	keys := make([]string, len(sets))
	for i, k := range sets {
		keys[i] = k.key(project)
	}
	res, err := mgmtSearchScript.Run(ctx, s.c, keys, "page", offset, count).StringSlice()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	if len(res) == 0 {
		return nil, 0, errShape("mgmt_search.lua")
	}
	total, _ := strconv.Atoi(res[0])
	return res[1:], total, nil
}

// Lookup implements Directory.
func (s *RedisStore) Lookup(ctx context.Context, project string, c Contact, addresses []string) ([]string, error) {
	if len(addresses) == 0 {
		return nil, nil
	}
	key := projectTag(project) + "ix:email"
	if c == ContactPhone {
		key = projectTag(project) + "ix:phone"
	}
	args := []any{"lex"}
	for _, a := range addresses {
		args = append(args, a)
	}
	res, err := mgmtSearchScript.Run(ctx, s.c, []string{key}, args...).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	return res, nil
}
