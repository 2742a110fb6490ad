package store_test

import (
	"context"
	"crypto/rand"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

func oneTripLogin(now time.Time, refreshID string) store.Login {
	return store.Login{RefreshID: refreshID, RefreshExpiry: now.Add(time.Hour).Truncate(time.Second), Now: now,
		History: store.LoginRecord{Time: now, IP: "192.0.2.1", Channel: "email"}}
}

// TestVerifyLoginOneScript: on a single node, and in split-slot mode (the
// Redis Cluster code path) for a user created from the login id, a verify
// creates the user, binds the login id, registers the refresh token id and
// records the login in one script; a returning user's verify too.
func TestVerifyLoginOneScript(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		for _, split := range []bool{false, true} {
			ctx := context.Background()
			s := store.NewRedisStoreSplit(c, split)
			login := "one@x.io"
			if split {
				login = "split@x.io"
			}
			uid, err := store.NewUserID(rand.Reader, "P1", login)
			if err != nil {
				t.Fatal(err)
			}
			for i, rid := range []string{"rt-first", "rt-second"} {
				rule := store.RuleNew
				if i > 0 {
					rule = store.RuleExisting
				}
				if _, err := s.StartCode(ctx, newCode(login, "123456", rule)); err != nil {
					t.Fatal(err)
				}
				a := attempt(login, "123456", t0)
				a.NewUserID = uid
				if i > 0 {
					a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login) // not used: bound already
				}
				v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, rid))
				if err != nil || v.Status != store.VerifyOK || v.UserID != uid || done == nil {
					t.Fatalf("split=%v verify %d: %+v %+v %v", split, i, v, done, err)
				}
				if done.FirstSeen != (i == 0) || done.User.UserID != uid || done.User.Email != login || !done.User.VerifiedEmail {
					t.Fatalf("split=%v verify %d: login %+v", split, i, done)
				}
				if _, err := c.ZScore(ctx, store.RefreshKey("P1", uid), rid).Result(); err != nil {
					t.Fatalf("split=%v: refresh id %s not registered: %v", split, rid, err)
				}
			}
			if n := c.LLen(ctx, store.HistoryKey("P1", uid)).Val(); n != 2 {
				t.Fatalf("split=%v: %d history entries, want 2", split, n)
			}
			if !strings.Contains(store.UserKey("P1", uid), "{"+uid[3:7]+"}") {
				t.Fatalf("user key %s does not carry the home tag", store.UserKey("P1", uid))
			}
		}
	})
}

// TestVerifyLoginOtherSlots: a user whose keys are not on the login id's
// slot (an id of the older layout, or a second login id of the user) is
// signed in by the same script on a single node; in split-slot mode (Redis
// Cluster) the verify binds and the login is left to CompleteLogin, which
// finds the user's keys where the older layout put them.
func TestVerifyLoginOtherSlots(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		const old = "U2ABCDEFGHIJKLMNOPQRSTUVWXYZ" // an id of the previous release
		home, _ := store.NewUserID(rand.Reader, "P1", "home@x.io")
		for _, uid := range []string{old, home} {
			// The user exists (a login never creates the record of a user
			// id it did not bind just now).
			if _, err := store.NewRedisStore(c).WriteUser(ctx, "P1", uid, store.UserWrite{Create: true, Set: map[string]string{"userId": uid}}); err != nil {
				t.Fatal(err)
			}
			for _, split := range []bool{false, true} {
				s := store.NewRedisStoreSplit(c, split)
				login := uid + "-second@x.io"
				if split {
					login = uid + "-split@x.io"
				}
				if err := s.BindLogin(ctx, "P1", login, uid, "", store.ContactEmail, login); err != nil {
					t.Fatal(err)
				}
				if _, err := s.StartCode(ctx, newCode(login, "123456", store.RuleExisting)); err != nil {
					t.Fatal(err)
				}
				a := attempt(login, "123456", t0)
				a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login)
				v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt-"+login))
				if err != nil || v.Status != store.VerifyOK || v.UserID != uid || v.NewUser {
					t.Fatalf("%s split=%v: %+v %v", uid, split, v, err)
				}
				if split {
					if done != nil {
						t.Fatalf("%s split=%v: login ran on another slot: %+v", uid, split, done)
					}
					l := oneTripLogin(t0, "rt-"+login)
					l.Project, l.UserID, l.LoginID, l.Contact, l.Address = "P1", uid, login, store.ContactEmail, login
					if _, _, err := s.CompleteLogin(ctx, l); err != nil {
						t.Fatal(err)
					}
				} else if done == nil || done.User.UserID != uid {
					t.Fatalf("%s: single node: no login in the script: %+v", uid, done)
				}
				if _, err := c.ZScore(ctx, store.RefreshKey("P1", uid), "rt-"+login).Result(); err != nil {
					t.Fatalf("%s split=%v: refresh id not registered under %s: %v", uid, split, store.RefreshKey("P1", uid), err)
				}
			}
		}
		if k := store.UserKey("P1", old); k != "otpd:{P1:"+old+"}:user" {
			t.Fatalf("an older id's user key moved: %s", k)
		}
		if n, _ := c.Exists(ctx, store.UserKey("P1", old), store.UserKey("P1", home)).Result(); n != 2 {
			t.Fatalf("%d of the 2 user records exist", n)
		}
	})
}

// TestVerifyLoginChargesLimits: the merged script charges the login id's
// buckets (its arguments sit at an offset in ARGV).
func TestVerifyLoginChargesLimits(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if _, err := s.StartCode(ctx, newCode("lim@x.io", "123456", store.RuleNew)); err != nil {
			t.Fatal(err)
		}
		a := attempt("lim@x.io", "000000", t0)
		a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", "lim@x.io")
		a.Limits.Login = []store.Bucket{{Name: "verifies_per_login", Key: "otpd:{P1:lim@x.io}:rl:v", Count: 1, Window: time.Hour}}
		if v, _, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "r1")); err != nil || v.Status != store.VerifyWrong {
			t.Fatalf("first attempt: %+v %v", v, err)
		}
		a.Candidates = attempt("lim@x.io", "123456", t0).Candidates
		v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "r2"))
		if err != nil || v.Status != store.VerifyLimited || v.Limit != "verifies_per_login" || done != nil {
			t.Fatalf("second attempt over the limit: %+v %v %v", v, done, err)
		}
	})
}

// TestCodeRecordOfThePreviousRelease: a code stored by the previous
// release (every field, the address and contact field spelled out, empty
// payload and owner) still verifies after an upgrade, and a code stored
// now keeps only the fields that say something.
func TestCodeRecordOfThePreviousRelease(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		key := store.CodeKey{Project: "P1", LoginID: "alice", Channel: "sms"}
		name := store.CodeKeyName(key)
		c.HSet(ctx, name, "h", hash("123456"), "p", "signup-in", "to", "+14155550100", "a", 0, "m", 3,
			"e", t0.Add(time.Minute).UnixMilli(), "u", "", "f", "phone", "c", t0.UnixMilli(), "o", "", "n", "1")
		c.Expire(ctx, name, time.Hour)
		a := attempt("alice", "123456", t0)
		a.Key = key
		a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", "alice")
		v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "r1"))
		if err != nil || v.Status != store.VerifyOK || v.Address != "+14155550100" || done == nil || done.User.Phone != "+14155550100" || !done.User.VerifiedPhone {
			t.Fatalf("old record: %+v %+v %v", v, done, err)
		}
		if got := c.HGet(ctx, store.LoginKey("P1", "alice"), "phone").Val(); got != "+14155550100" {
			t.Fatalf("login index phone = %q", got)
		}

		if _, err := s.StartCode(ctx, newCode("new@x.io", "654321", store.RuleNew)); err != nil {
			t.Fatal(err)
		}
		fields := c.HKeys(ctx, store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: "new@x.io", Channel: "email"})).Val()
		slices.Sort(fields)
		if strings.Join(fields, ",") != "a,c,e,h,m,n" {
			t.Fatalf("a new record's fields: %v", fields)
		}
		a = attempt("new@x.io", "654321", t0)
		a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", "new@x.io")
		if v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "r2")); err != nil || v.Address != "new@x.io" || done == nil || done.User.Email != "new@x.io" {
			t.Fatalf("new record: %+v %+v %v", v, done, err)
		}
	})
}

// TestVerifyLoginFreshReplyMatchesRecord: for a user created from a code
// without payload, verify_login.lua does not send the new record back
// (store.freshUser builds it): the User VerifyLogin returns must equal the
// stored record read back, for an email and a phone login id, on a single
// node and in split-slot mode; a code with a payload (a sign-up profile)
// still gets the record from the script.
func TestVerifyLoginFreshReplyMatchesRecord(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		for _, split := range []bool{false, true} {
			ctx := context.Background()
			s := store.NewRedisStoreSplit(c, split)
			for _, tc := range []struct {
				login, channel string
				contact        store.Contact
				payload        []byte
			}{
				{"fresh-" + strconv.FormatBool(split) + "@x.io", "email", store.ContactEmail, nil},
				{"+1555000" + map[bool]string{false: "0001", true: "0002"}[split], "sms", store.ContactPhone, nil},
				{"profile-" + strconv.FormatBool(split) + "@x.io", "email", store.ContactEmail,
					[]byte(`{"p":{"name":"Ann \"Q\"","givenName":"Ann"},"x":"+15550009999"}`)},
			} {
				nc := newCode(tc.login, "123456", store.RuleNew)
				nc.Key.Channel, nc.Contact, nc.Payload = tc.channel, tc.contact, tc.payload
				if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
					t.Fatalf("start %s: %+v %v", tc.login, r, err)
				}
				uid, err := store.NewUserID(rand.Reader, "P1", tc.login)
				if err != nil {
					t.Fatal(err)
				}
				a := attempt(tc.login, "123456", t0.Add(1234*time.Millisecond))
				a.Key.Channel, a.NewUserID = tc.channel, uid
				v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(a.Now, "rt-"+tc.login))
				if err != nil || v.Status != store.VerifyOK || done == nil || !done.FirstSeen {
					t.Fatalf("split=%v %s: %+v %+v %v", split, tc.login, v, done, err)
				}
				stored, err := s.User(ctx, "P1", uid)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(done.User, stored) {
					t.Fatalf("split=%v %s: VerifyLogin's user\n%+v\nstored record\n%+v", split, tc.login, done.User, stored)
				}
				if done.Indexed == split {
					t.Fatalf("split=%v %s: Indexed %v", split, tc.login, done.Indexed)
				}
			}
		}
	})
}
