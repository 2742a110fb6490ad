package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// userKeysLeft lists the keys of user uid in project P1 (its erasure
// marker aside).
func userKeysLeft(t *testing.T, c *redis.Client, uid string) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*"+uid+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, k := range keys {
		if k != store.ErasedKey("P1", uid) && !strings.Contains(k, ":login") {
			left = append(left, k)
		}
	}
	return left
}

// TestEraseOrderAndMarker: the store's half of an erasure (issue 19 §2).
// EraseUser deletes every key of the user and sets the marker in one
// script; from then on no login (one script or two), no management create
// and no index write brings the user back; a retry of an unfinished
// erasure gets the login ids again; a finished one is ErrNoUser.
func TestEraseOrderAndMarker(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
				ctx := context.Background()
				s := store.NewRedisStoreSplit(c, split)
				login := fmt.Sprintf("erase-%v@x.io", split)
				uid, _ := store.NewUserID(rand.Reader, "P1", login)
				// A user with a session, history, a refresh bucket.
				if err := s.BindLogin(ctx, "P1", login, uid, "", store.ContactEmail, login); err != nil {
					t.Fatal(err)
				}
				l := oneTripLogin(t0, "rt-1")
				l.Project, l.UserID, l.LoginID, l.Contact, l.Address, l.New = "P1", uid, login, store.ContactEmail, login, true
				if _, _, err := s.CompleteLogin(ctx, l); err != nil {
					t.Fatal(err)
				}
				if _, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: uid, Contact: store.ContactEmail, Address: login, AddLoginID: true}); err != nil {
					t.Fatal(err)
				}
				c.Set(ctx, store.UserLimitKey("P1", uid, "refresh"), "1", time.Minute)
				// A code by the login id, issued before the erasure.
				if _, err := s.StartCode(ctx, newCode(login, "123456", store.RuleExisting)); err != nil {
					t.Fatal(err)
				}

				ids, err := s.EraseUser(ctx, "P1", uid, false)
				if err != nil || fmt.Sprint(ids) != "["+login+"]" {
					t.Fatalf("erase: %v %v", ids, err)
				}
				if left := userKeysLeft(t, c, uid); len(left) != 0 {
					t.Fatalf("keys left after EraseUser: %v", left)
				}
				// The verify by the still-bound login id signs nobody in
				// and writes nothing, in one script or in two.
				a := attempt(login, "123456", t0)
				a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", login)
				v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt-2"))
				if err != nil {
					t.Fatal(err)
				}
				if done != nil || (v.Status != store.VerifyNotFound && !(split && v.Status == store.VerifyOK)) {
					t.Fatalf("verify after the erasure: %+v %+v", v, done)
				}
				l.RefreshID, l.New = "rt-3", false
				if _, _, err := s.CompleteLogin(ctx, l); !errors.Is(err, store.ErrNoUser) {
					t.Fatalf("login after the erasure: %v", err)
				}
				// Even as a "fresh" id (a verify that bound it in an
				// earlier script): the marker refuses.
				l.New = true
				if _, _, err := s.CompleteLogin(ctx, l); !errors.Is(err, store.ErrNoUser) {
					t.Fatalf("fresh login after the erasure: %v", err)
				}
				if _, err := s.WriteUser(ctx, "P1", uid, store.UserWrite{Create: true, Set: map[string]string{"userId": uid}}); !errors.Is(err, store.ErrErased) {
					t.Fatalf("create after the erasure: %v", err)
				}
				if _, err := s.WriteUser(ctx, "P1", uid, store.UserWrite{Set: map[string]string{"name": "x"}}); !errors.Is(err, store.ErrNoUser) {
					t.Fatalf("update after the erasure: %v", err)
				}
				if _, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: uid, Contact: store.ContactEmail, Address: "x@x.io"}); !errors.Is(err, store.ErrNoUser) {
					t.Fatalf("contact change after the erasure: %v", err)
				}
				if err := s.Index(ctx, "P1", store.User{UserID: uid, Email: login, Status: "enabled"}); err != nil {
					t.Fatal(err)
				}
				if found, _ := s.Lookup(ctx, "P1", store.ContactEmail, []string{login}, 10); len(found) != 0 {
					t.Fatalf("an index write after the erasure stayed: %v", found)
				}
				if left := userKeysLeft(t, c, uid); len(left) != 0 {
					t.Fatalf("keys written after the erasure: %v", left)
				}
				// Unfinished: a retry gets the login ids again.
				if ids, err := s.EraseUser(ctx, "P1", uid, false); err != nil || fmt.Sprint(ids) != "["+login+"]" {
					t.Fatalf("retry of an unfinished erase: %v %v", ids, err)
				}
				if err := s.UnbindLoginID(ctx, "P1", login, uid); err != nil {
					t.Fatal(err)
				}
				if err := s.FinishErase(ctx, "P1", uid); err != nil {
					t.Fatal(err)
				}
				mark := c.Get(ctx, store.ErasedKey("P1", uid)).Val()
				ttl := c.PTTL(ctx, store.ErasedKey("P1", uid)).Val()
				if mark != "1" || ttl <= 0 || ttl > store.ErasedTTL {
					t.Fatalf("marker after the erasure: %q, TTL %v", mark, ttl)
				}
				if _, err := s.EraseUser(ctx, "P1", uid, false); !errors.Is(err, store.ErrNoUser) {
					t.Fatalf("erase of an erased user: %v", err)
				}
				if ids, err := s.EraseUser(ctx, "P1", uid, true); err != nil || len(ids) != 0 {
					t.Fatalf("forced erase of an erased user: %v %v", ids, err)
				}
			})
		}
	})
}

// TestLoginNeverRecreatesARecord: a login id left naming a user whose
// record is gone (merged away, or a create that failed half way) signs
// nobody in, and writes no key.
func TestLoginNeverRecreatesARecord(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		const uid = "U2GONEGONEGONEGONEGONEGONE00"
		l := oneTripLogin(t0, "rt")
		l.Project, l.UserID, l.LoginID, l.Contact, l.Address = "P1", uid, "gone@x.io", store.ContactEmail, "gone@x.io"
		if _, _, err := s.CompleteLogin(ctx, l); !errors.Is(err, store.ErrNoUser) {
			t.Fatalf("login of a user without a record: %v", err)
		}
		if left := userKeysLeft(t, c, uid); len(left) != 0 {
			t.Fatalf("keys written: %v", left)
		}
	})
}

// TestSetLoginContactNeverBinds: the copy refreshed on a user's login ids
// after a contact change never binds a login id that is not the user's
// (one an erasure unbound meanwhile stays unbound); and a contact change
// bumps the management version, so a management write that read the
// record before it starts over instead of dropping the login id it added.
func TestSetLoginContactNeverBinds(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if err := s.SetLoginContact(ctx, "P1", "free@x.io", "U1", store.ContactEmail, "a@x.io"); !errors.Is(err, store.ErrNotOwner) {
			t.Fatalf("on an unbound login id: %v", err)
		}
		if owner, _ := s.LoginOwner(ctx, "P1", "free@x.io"); owner != "" {
			t.Fatalf("bound to %q", owner)
		}
		u, err := s.WriteUser(ctx, "P1", "U1", store.UserWrite{Create: true, Set: map[string]string{"userId": "U1", "loginIds": `["a@x.io"]`}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: "U1", Contact: store.ContactEmail, Address: "b@x.io", AddLoginID: true}); err != nil {
			t.Fatal(err)
		}
		_, err = s.WriteUser(ctx, "P1", "U1", store.UserWrite{Set: map[string]string{"loginIds": `["a@x.io"]`}, Expect: map[string]string{"mv": u.Version}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a management write over a contact change it did not read: %v", err)
		}
	})
}
