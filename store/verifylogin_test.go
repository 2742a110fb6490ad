package store_test

import (
	"context"
	"crypto/rand"
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
