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

// loginUser creates user U1 with a live refresh token jti.
func loginUser(t *testing.T, s *store.RedisStore, jti string, revokeOthers bool) {
	t.Helper()
	_, _, err := s.CompleteLogin(context.Background(), store.Login{Project: "P1", UserID: "U1", LoginID: "u1@x.io",
		Contact: store.ContactEmail, Address: "u1@x.io", RefreshID: jti, RefreshExpiry: t0.Add(time.Hour), Now: t0,
		RevokeOthers: revokeOthers})
	if err != nil {
		t.Fatal(err)
	}
}

func session(t *testing.T, s *store.RedisStore, op store.SessionOp, jti string, rotateTo string) store.SessionStatus {
	t.Helper()
	r := store.SessionRequest{Op: op, Project: "P1", UserID: "U1", ID: jti, Now: t0.Add(time.Minute)}
	if rotateTo != "" {
		r.NewID, r.NewExpiry = rotateTo, t0.Add(time.Hour)
	}
	u, st, err := s.Session(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if st == store.SessionOK && op != store.OpLogout && op != store.OpLogoutAll && u.UserID != "U1" {
		t.Fatalf("%s %s: ok without the user: %+v", op, jti, u)
	}
	return st
}

func TestRefreshTokenLifecycle(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		loginUser(t, s, "b", false)
		steps := []struct {
			op       store.SessionOp
			jti, new string
			want     store.SessionStatus
		}{
			{store.OpCheck, "a", "", store.SessionOK},
			{store.OpCheck, "never-issued", "", store.SessionRevoked},
			{store.OpRefresh, "a", "", store.SessionOK},   // no rotation: a stays live
			{store.OpRefresh, "a", "a2", store.SessionOK}, // rotation: a is spent, a2 live
			{store.OpCheck, "a2", "", store.SessionOK},
			{store.OpCheck, "a", "", store.SessionRevoked},
			{store.OpRefresh, "a2", "a3", store.SessionOK},
			// The spent token a comes back: the whole family (a, a2, a3) dies, b lives.
			{store.OpRefresh, "a", "a4", store.SessionReused},
			{store.OpCheck, "a3", "", store.SessionRevoked},
			{store.OpCheck, "a4", "", store.SessionRevoked},
			{store.OpCheck, "b", "", store.SessionOK},
			{store.OpLogout, "b", "", store.SessionOK},
			{store.OpCheck, "b", "", store.SessionRevoked},
			{store.OpLogout, "b", "", store.SessionRevoked},
		}
		for i, st := range steps {
			if got := session(t, s, st.op, st.jti, st.new); got != st.want {
				t.Fatalf("step %d: %s %s -> %s, want %s", i, st.op, st.jti, got, st.want)
			}
		}
		assertTTLs(t, c)
	})
}

func TestLogoutAllAndRevokeOthers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		s := store.NewRedisStore(c)
		for _, j := range []string{"a", "b", "c"} {
			loginUser(t, s, j, false)
		}
		if got := session(t, s, store.OpLogoutAll, "b", ""); got != store.SessionOK {
			t.Fatalf("logoutall: %s", got)
		}
		for _, j := range []string{"a", "b", "c"} {
			if got := session(t, s, store.OpCheck, j, ""); got != store.SessionRevoked {
				t.Fatalf("%s after logoutall: %s", j, got)
			}
		}
		loginUser(t, s, "d", false)
		loginUser(t, s, "e", true) // revokeOtherSessions
		if session(t, s, store.OpCheck, "d", "") != store.SessionRevoked || session(t, s, store.OpCheck, "e", "") != store.SessionOK {
			t.Fatal("revokeOthers must leave only the new token live")
		}
		// Expired tokens are dead even before Redis drops them.
		r := store.SessionRequest{Op: store.OpCheck, Project: "P1", UserID: "U1", ID: "e", Now: t0.Add(2 * time.Hour)}
		if _, st, _ := s.Session(context.Background(), r); st != store.SessionRevoked {
			t.Fatalf("expired token: %s", st)
		}
	})
}

func TestContactChangeAndBind(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		u, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: "U1", Contact: store.ContactPhone,
			Address: "+14155550100", AddLoginID: true, MergeLoginIDs: []string{"old", "u1@x.io"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"u1@x.io", "+14155550100", "old"}, u.LoginIDs); d != "" || !u.VerifiedPhone || u.Phone != "+14155550100" {
			t.Fatalf("user after change (-want +got loginIds):\n%s\n%+v", d, u)
		}
		if _, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: "nobody", Contact: store.ContactEmail, Address: "x@y.io"}); !errors.Is(err, store.ErrNoUser) {
			t.Fatalf("unknown user: %v", err)
		}
		if err := s.BindLogin(ctx, "P1", "+14155550100", "U1", "", store.ContactPhone, "+14155550100"); err != nil {
			t.Fatal(err)
		}
		if owner, _ := s.LoginOwner(ctx, "P1", "+14155550100"); owner != "U1" {
			t.Fatalf("owner %q", owner)
		}
		if err := s.BindLogin(ctx, "P1", "+14155550100", "U2", "", "", ""); !errors.Is(err, store.ErrTaken) {
			t.Fatalf("binding a taken login id: %v", err)
		}
		if err := s.BindLogin(ctx, "P1", "+14155550100", "U2", "U1", "", ""); err != nil {
			t.Fatalf("moving a login id in a merge: %v", err)
		}
		if owner, _ := s.LoginOwner(ctx, "P1", "nobody@x.io"); owner != "" {
			t.Fatalf("unbound owner %q", owner)
		}
		if err := s.DropUser(ctx, "P1", "U1"); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, store.UserKey("P1", "U1"), store.RefreshKey("P1", "U1")).Val(); n != 0 {
			t.Fatalf("%d keys left after DropUser", n)
		}
	})
}
