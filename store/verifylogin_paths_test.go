package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// The paths verify_login.lua takes without reading what it knows already:
// a user it creates with a fresh id (one HSET, the reply built from it, no
// sweep of families or history, an index entry without a look-up), and
// the consumed record written with the login flag in one HSET.

// oneTripUser signs loginID in with VerifyLogin (a sign-up-or-in code with
// payload) and returns the result.
func oneTripUser(t *testing.T, s *store.RedisStore, loginID, uid string, payload []byte, now time.Time, rid string) (store.VerifyResult, *store.LoginDone) {
	t.Helper()
	ctx := context.Background()
	nc := newCode(loginID, "123456", store.RuleAny)
	nc.Payload = payload
	if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
		t.Fatalf("start %s: %+v %v", loginID, r, err)
	}
	a := attempt(loginID, "123456", now)
	a.NewUserID = uid
	v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(now, rid))
	if err != nil || v.Status != store.VerifyOK || done == nil {
		t.Fatalf("verify %s: %+v %+v %v", loginID, v, done, err)
	}
	return v, done
}

// TestVerifyLoginReplyIsTheRecord: the user a verify returns is the stored
// record as HGETALL reads it: for a user the script creates (the reply is
// built from what it wrote, profile and unverified phone included), and
// for a returning user whose address the login marks verified, or whose
// record holds fields the login never writes.
func TestVerifyLoginReplyIsTheRecord(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		for _, split := range []bool{false, true} {
			s := store.NewRedisStoreSplit(c, split)
			login := fmt.Sprintf("reply-%v@x.io", split)
			uid, _ := store.NewUserID(rand.Reader, "P1", login)
			stored := func() store.User {
				us, err := s.Users(ctx, "P1", []string{uid})
				if err != nil || len(us) != 1 {
					t.Fatalf("split=%v: reading the user: %v %v", split, us, err)
				}
				return us[0]
			}
			payload := []byte(`{"p":{"name":"Ada L","givenName":"Ada","familyName":"L"},"x":"+15551234567"}`)
			v, done := oneTripUser(t, s, login, uid, payload, t0, "rt-1")
			if !v.NewUser || !done.FirstSeen {
				t.Fatalf("split=%v: first login not reported as new: %+v %+v", split, v, done)
			}
			want := store.User{UserID: uid, LoginIDs: []string{login}, Email: login, VerifiedEmail: true,
				Phone: "+15551234567", Status: "enabled", CreatedTime: t0, ModifiedTime: t0,
				Profile: store.Profile{Name: "Ada L", GivenName: "Ada", FamilyName: "L"}}
			if !reflect.DeepEqual(done.User, want) || !reflect.DeepEqual(stored(), want) {
				t.Fatalf("split=%v: first login\n reply  %+v\n stored %+v\n want   %+v", split, done.User, stored(), want)
			}
			fields := c.HGetAll(ctx, store.UserKey("P1", uid)).Val()
			wantFields := map[string]string{"userId": uid, "loginIds": `["` + login + `"]`, "createdTime": strconv.FormatInt(t0.Unix(), 10),
				"createdMs": strconv.FormatInt(t0.UnixMilli(), 10), "modifiedMs": strconv.FormatInt(t0.UnixMilli(), 10),
				"status": "enabled", "name": "Ada L", "givenName": "Ada", "middleName": "", "familyName": "L",
				"phone": "+15551234567", "email": login, "verifiedEmail": "1"}
			if !reflect.DeepEqual(fields, wantFields) {
				t.Fatalf("split=%v: stored hash %v, want %v", split, fields, wantFields)
			}

			// Returning, with the address unverified meanwhile and fields
			// only the management API writes: the reply is the record
			// after the login marked the address verified again.
			c.HSet(ctx, store.UserKey("P1", uid), "verifiedEmail", "0", "picture", "https://p.example/a.png", "customAttributes", `{"k":"v"}`)
			_, done = oneTripUser(t, s, login, uid, nil, t0.Add(time.Minute), "rt-2")
			if done.FirstSeen || !done.User.VerifiedEmail || done.User.Picture == "" || done.User.CustomAttributes["k"] != "v" {
				t.Fatalf("split=%v: returning login: %+v", split, done)
			}
			if !reflect.DeepEqual(done.User, stored()) {
				t.Fatalf("split=%v: returning reply %+v, stored %+v", split, done.User, stored())
			}
			// Returning without the verified flag at all: appended.
			c.HDel(ctx, store.UserKey("P1", uid), "verifiedEmail")
			_, done = oneTripUser(t, s, login, uid, nil, t0.Add(2*time.Minute), "rt-3")
			if !done.User.VerifiedEmail || !reflect.DeepEqual(done.User, stored()) {
				t.Fatalf("split=%v: reply %+v, stored %+v", split, done.User, stored())
			}
			// A verified address of another value is kept (an update is
			// needed to replace it), in the record and the reply.
			c.HSet(ctx, store.UserKey("P1", uid), "email", "other@x.io")
			_, done = oneTripUser(t, s, login, uid, nil, t0.Add(3*time.Minute), "rt-4")
			if done.User.Email != "other@x.io" || !reflect.DeepEqual(done.User, stored()) {
				t.Fatalf("split=%v: reply %+v, stored %+v", split, done.User, stored())
			}
		}
	})
}

// TestVerifyLoginNewUserIndexed: on a single node a user the script
// creates is in the project's indexes exactly as the management API's
// Index writes it (re-indexing the same user changes nothing).
func TestVerifyLoginNewUserIndexed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		login := "ix@x.io"
		uid, _ := store.NewUserID(rand.Reader, "P1", login)
		_, done := oneTripUser(t, s, login, uid, []byte(`{"x":"+15550001111"}`), t0, "rt-1")
		if !done.Indexed {
			t.Fatal("a new user on a single node is not reported indexed")
		}
		snapshot := func() map[string]any {
			out := map[string]any{"rec": c.HGetAll(ctx, "otpd:{P1}:ix:rec").Val()}
			for _, k := range []string{"email", "phone", "real:enabled", "real:disabled", "test:enabled", "test:disabled"} {
				out[k] = c.ZRangeWithScores(ctx, "otpd:{P1}:ix:"+k, 0, -1).Val()
			}
			return out
		}
		got := snapshot()
		if ids, err := s.Lookup(ctx, "P1", store.ContactPhone, []string{"+15550001111"}, 10); err != nil || len(ids) != 1 || ids[0] != uid {
			t.Fatalf("phone lookup: %v %v", ids, err)
		}
		if ids, err := s.Lookup(ctx, "P1", store.ContactEmail, []string{login}, 10); err != nil || len(ids) != 1 || ids[0] != uid {
			t.Fatalf("email lookup: %v %v", ids, err)
		}
		if err := s.Index(ctx, "P1", done.User); err != nil {
			t.Fatal(err)
		}
		if want := snapshot(); !reflect.DeepEqual(got, want) {
			t.Fatalf("index written by the verify\n %v\ndiffers from Index's\n %v", got, want)
		}
	})
}

// TestVerifyLoginIndexKeepsTheLoginAddress: an unverified address of the
// login address's own type (which the flow never sends, and the user
// record never keeps) does not replace the login address in the search
// index: the index names what the record holds.
func TestVerifyLoginIndexKeepsTheLoginAddress(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		login := "mine@x.io"
		uid, _ := store.NewUserID(rand.Reader, "P1", login)
		_, done := oneTripUser(t, s, login, uid, []byte(`{"x":"someone-else@x.io"}`), t0, "rt-1")
		if done.User.Email != login {
			t.Fatalf("user record email %q, want %q", done.User.Email, login)
		}
		if ids, err := s.Lookup(ctx, "P1", store.ContactEmail, []string{login}, 10); err != nil || len(ids) != 1 || ids[0] != uid {
			t.Fatalf("login address lookup: %v %v", ids, err)
		}
		if ids, err := s.Lookup(ctx, "P1", store.ContactEmail, []string{"someone-else@x.io"}, 10); err != nil || len(ids) != 0 {
			t.Fatalf("the unverified address of the same type is indexed: %v %v", ids, err)
		}
	})
}

// TestVerifyLoginConsumedRecord: the record a verify consumes stays in
// place for a minute, marked with what undo_verify.lua reads (b, fr, ua,
// f, and lg when the login ran in the same script) and with its attempts
// at the maximum (a verify of an earlier release reads it as spent); no
// verify accepts it again; UndoVerify then gives the code back, with its
// expiry and only the wrong attempt counted, and removes the user the
// script created.
func TestVerifyLoginConsumedRecord(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		login := "used@x.io"
		uid, _ := store.NewUserID(rand.Reader, "P1", login)
		key := store.CodeKey{Project: "P1", LoginID: login, Channel: "email"}
		code := store.CodeKeyName(key)
		nc := newCode(login, "123456", store.RuleAny)
		// One wrong attempt first: counted on the live record.
		if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
			t.Fatal(r, err)
		}
		if v, _, err := s.VerifyLogin(ctx, attempt(login, "999999", t0), oneTripLogin(t0, "rt")); err != nil || v.Status != store.VerifyWrong || v.AttemptsLeft != 2 {
			t.Fatalf("wrong code: %+v %v", v, err)
		}
		a := attempt(login, "123456", t0)
		a.NewUserID = uid
		if v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt")); err != nil || v.Status != store.VerifyOK || done == nil {
			t.Fatalf("verify: %+v %v", v, err)
		}
		used := c.HGetAll(ctx, code).Val()
		if used["b"] != uid || used["fr"] != "1" || used["f"] != "email" || used["lg"] != "1" || used["ua"] != "2" || used["a"] != used["m"] {
			t.Fatalf("consumed record %v", used)
		}
		if d := c.PTTL(ctx, code).Val(); d <= nc.Retain-time.Minute || d > nc.Retain {
			t.Fatalf("consumed record TTL %v", d)
		}
		// Spent: the right code again is no code (and counts nothing).
		again := attempt(login, "123456", t0)
		again.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login)
		if v, _, err := s.VerifyLogin(ctx, again, oneTripLogin(t0, "rt2")); err != nil || v.Status != store.VerifyNoCode {
			t.Fatalf("second verify of a consumed code: %+v %v", v, err)
		}
		if v, err := s.VerifyCode(ctx, again); err != nil || v.Status != store.VerifyNoCode {
			t.Fatalf("two-script verify of a consumed code: %+v %v", v, err)
		}
		if err := s.UndoVerify(ctx, key, store.Undo{UserID: uid, Fresh: true, Contact: store.ContactEmail, LoginRan: true}); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, store.UserKey("P1", uid), store.RefreshKey("P1", uid), store.HistoryKey("P1", uid)).Val(); n != 0 {
			t.Fatalf("%d of the created user's keys survived the undo", n)
		}
		if got := c.HGet(ctx, code, "a").Val(); got != "1" {
			t.Fatalf("restored code counts %q attempts, want the wrong one only", got)
		}
		if f := c.HMGet(ctx, code, "b", "fr", "ua", "lg").Val(); f[0] != nil || f[1] != nil || f[2] != nil || f[3] != nil {
			t.Fatalf("restored code keeps consumed marks %v", f)
		}
		want := nc.ExpiresAt.Add(store.CodeRecordGrace).UnixMilli()
		// (miniredis keeps a TTL, not a time: a few ms off)
		if at := c.PExpireTime(ctx, code).Val().Milliseconds(); at < want-100 || at > want+100 {
			t.Fatalf("restored record expires at %d, want the code's expiry + grace %d", at, want)
		}
		// The retry signs up as the first try would have.
		a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login)
		if v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt")); err != nil || v.Status != store.VerifyOK || done == nil || !done.FirstSeen {
			t.Fatalf("retry: %+v %+v %v", v, done, err)
		}
	})
}

// TestUndoAfterANewerStart: when a newer start has replaced the consumed
// record before the undo runs, the undo keeps the newer code but still
// unbinds the fresh user id the verify bound, and removes the user the
// verify's script created (no login id is left naming a user the failed
// sign-up never finished).
func TestUndoAfterANewerStart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		login := "replaced@x.io"
		key := store.CodeKey{Project: "P1", LoginID: login, Channel: "email"}
		if r, err := s.StartCode(ctx, newCode(login, "123456", store.RuleAny)); err != nil || r.Status != store.StartOK {
			t.Fatal(r, err)
		}
		a := attempt(login, "123456", t0)
		a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login)
		v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt"))
		if err != nil || v.Status != store.VerifyOK || done == nil || !v.NewUser {
			t.Fatalf("verify: %+v %v", v, err)
		}
		// A sign-in start for the same login id before the undo runs: it
		// replaces the consumed record.
		if r, err := s.StartCode(ctx, newCode(login, "654321", store.RuleExisting)); err != nil || r.Status != store.StartOK {
			t.Fatal(r, err)
		}
		if err := s.UndoVerify(ctx, key, store.Undo{UserID: v.UserID, Fresh: true, Contact: v.Contact, LoginRan: true}); err != nil {
			t.Fatal(err)
		}
		if uid := c.HGet(ctx, store.LoginKey("P1", login), "uid").Val(); uid != "" {
			t.Fatalf("the login id still names %s after the undo", uid)
		}
		if n := c.Exists(ctx, store.UserKey("P1", v.UserID), store.RefreshKey("P1", v.UserID), store.HistoryKey("P1", v.UserID)).Val(); n != 0 {
			t.Fatalf("%d of the created user's keys survived the undo", n)
		}
		// The newer code is kept (and, its login id unbound again, is now a
		// new user's code only in name: the sign-in rule finds no user).
		if got := c.HGet(ctx, store.CodeKeyName(key), "h").Val(); got != string(hash("654321")) {
			t.Fatal("the undo dropped the newer code")
		}
	})
}

// TestVerifyLoginHistoryOfEarlierEntries: a returning user's login drops
// history entries past the age bound whatever their shape (entries of the
// current layout start with "t"; any other JSON object is read whole) and
// keeps at most HistoryMaxEntries.
func TestVerifyLoginHistoryOfEarlierEntries(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		login := "hist@x.io"
		uid, _ := store.NewUserID(rand.Reader, "P1", login)
		oneTripUser(t, s, login, uid, nil, t0, "rt-1")
		hk := store.HistoryKey("P1", uid)
		old := t0.Add(-store.HistoryMaxAge - time.Hour).UnixMilli()
		recent := t0.Add(-time.Hour).UnixMilli()
		// Oldest last: three old entries in other shapes behind a recent one.
		c.RPush(ctx, hk, fmt.Sprintf(`{"t":%d,"ip":"192.0.2.9"}`, recent),
			fmt.Sprintf(`{"ip":"192.0.2.8","t":%d}`, old), fmt.Sprintf(`{"t":%d}`, old), fmt.Sprintf(`{"ch":"sms", "t": %d.0}`, old))
		_, _ = oneTripUser(t, s, login, uid, nil, t0, "rt-2")
		h, err := s.History(ctx, "P1", uid, t0)
		if err != nil {
			t.Fatal(err)
		}
		if n := c.LLen(ctx, hk).Val(); n != 3 || len(h) != 3 || h[2].IP != "192.0.2.9" {
			t.Fatalf("after aging: %d stored, %+v", n, h)
		}
		// Over the count: the oldest go, the newest stays first.
		for i := range store.HistoryMaxEntries {
			c.RPush(ctx, hk, fmt.Sprintf(`{"t":%d,"ua":"fill-%d"}`, recent-int64(i)-1, i))
		}
		_, _ = oneTripUser(t, s, login, uid, nil, t0.Add(time.Second), "rt-3")
		h, _ = s.History(ctx, "P1", uid, t0.Add(time.Second))
		if n := c.LLen(ctx, hk).Val(); n != store.HistoryMaxEntries || len(h) != store.HistoryMaxEntries ||
			!h[0].Time.Equal(t0.Add(time.Second)) || h[len(h)-1].UserAgent != fmt.Sprintf("fill-%d", store.HistoryMaxEntries-5) {
			t.Fatalf("after the count bound: %d stored; newest %+v, oldest %+v", n, h[0], h[len(h)-1])
		}
		if d := c.PTTL(ctx, hk).Val(); d <= store.HistoryMaxAge-time.Hour || d > store.HistoryMaxAge {
			t.Fatalf("history TTL %v", d)
		}
	})
}
