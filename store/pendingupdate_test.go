package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// An update's verify names the token family that started it
// (ContactChange.Session, Login.Session, SessionUser): each refuses with
// ErrSessionEnded, changing nothing, once the family is logged out,
// logged out everywhere or expired, in the same script as its write, so a
// logout that lands between the verify's steps stops the rest. A rotated
// family is still live: the family is checked, never a generation.
func TestUpdateStepsRequireTheirSession(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		loginUser(t, s, "b", false)
		now := t0.Add(time.Minute)
		if r := sessionAt(t, s, store.OpRefresh, tok("b", 0), now, true, 0); r.Status != store.SessionOK {
			t.Fatalf("rotate b: %v", r.Status)
		}
		for _, fam := range []string{"a", "b"} {
			if _, err := s.SessionUser(ctx, "P1", "U1", fam, now); err != nil {
				t.Fatalf("live family %s: %v", fam, err)
			}
		}
		if _, err := s.SessionUser(ctx, "P1", "U1", "a", t0.Add(time.Hour)); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("expired family: %v", err)
		}
		if _, err := s.SessionUser(ctx, "P1", "U2", "a", now); !errors.Is(err, store.ErrNoUser) {
			t.Fatalf("no user: %v", err)
		}

		if r := sessionAt(t, s, store.OpLogout, tok("a", 0), now, false, 0); r.Status != store.SessionOK {
			t.Fatalf("logout a: %v", r.Status)
		}
		before, err := s.User(ctx, "P1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionUser(ctx, "P1", "U1", "a", now); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("logged-out family: %v", err)
		}
		change := store.ContactChange{Project: "P1", UserID: "U1", Contact: store.ContactEmail, Address: "evil@x.io", AddLoginID: true, Now: now, Session: "a"}
		if _, err := s.ApplyContact(ctx, change); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("contact change of a logged-out session: %v", err)
		}
		if _, _, err := s.CompleteLogin(ctx, store.Login{Project: "P1", UserID: "U1", LoginID: "u1@x.io", Contact: store.ContactEmail,
			RefreshID: "c", RefreshExpiry: now.Add(time.Hour), Now: now, Session: "a"}); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("login of a logged-out session's update: %v", err)
		}
		if r := sessionAt(t, s, store.OpCheck, tok("c", 0), now, false, 0); r.Status != store.SessionRevoked {
			t.Fatalf("the refused login registered its family: %v", r.Status)
		}
		if after, err := s.User(ctx, "P1", "U1"); err != nil || !cmp.Equal(before, after) {
			t.Fatalf("refused steps changed the user (%v): %s", err, cmp.Diff(before, after))
		}

		// The rotated family b still may; then logout-all ends it too.
		change.Session = "b"
		if u, err := s.ApplyContact(ctx, change); err != nil || u.Email != "evil@x.io" {
			t.Fatalf("contact change of a live (rotated) session: %v %+v", err, u)
		}
		if r := sessionAt(t, s, store.OpLogoutAll, tok("b", 1), now, false, 0); r.Status != store.SessionOK {
			t.Fatalf("logoutall: %v", r.Status)
		}
		change.Address = "evil2@x.io"
		if _, err := s.ApplyContact(ctx, change); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("contact change after logoutall: %v", err)
		}
	})
}
