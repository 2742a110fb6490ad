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

// loginUser creates user U1 with a live refresh token jti (a new family).
func loginUser(t *testing.T, s *store.RedisStore, jti string, revokeOthers bool) {
	t.Helper()
	loginAt(t, s, jti, t0, 0, revokeOthers)
}

func loginAt(t *testing.T, s *store.RedisStore, jti string, now time.Time, maxTokens int, revokeOthers bool) {
	t.Helper()
	_, _, err := s.CompleteLogin(context.Background(), store.Login{Project: "P1", UserID: "U1", LoginID: "u1@x.io",
		Contact: store.ContactEmail, Address: "u1@x.io", RefreshID: jti, RefreshExpiry: now.Add(time.Hour), Now: now,
		RevokeOthers: revokeOthers, MaxRefreshTokens: maxTokens, New: true})
	if err != nil {
		t.Fatal(err)
	}
}

// tok names a token: family f, generation g.
func tok(f string, g int64) store.RefreshID { return store.RefreshID{Family: f, Generation: g} }

// sessionAt runs op at now with the given rotation and grace.
func sessionAt(t *testing.T, s *store.RedisStore, op store.SessionOp, id store.RefreshID, now time.Time, rotate bool, grace time.Duration) store.SessionResult {
	t.Helper()
	r, err := s.Session(context.Background(), store.SessionRequest{Op: op, Project: "P1", UserID: "U1", Token: id, Now: now,
		Rotate: rotate, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == store.SessionOK && op != store.OpLogout && op != store.OpLogoutAll && r.User.UserID != "U1" {
		t.Fatalf("%s %+v: ok without the user: %+v", op, id, r)
	}
	return r
}

func session(t *testing.T, s *store.RedisStore, op store.SessionOp, id store.RefreshID, rotate bool) store.SessionStatus {
	t.Helper()
	return sessionAt(t, s, op, id, t0.Add(time.Minute), rotate, 0).Status
}

func TestRefreshTokenLifecycle(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		loginUser(t, s, "b", false)
		steps := []struct {
			op      store.SessionOp
			id      store.RefreshID
			rotate  bool
			want    store.SessionStatus
			wantGen int64
		}{
			{store.OpCheck, tok("a", 0), false, store.SessionOK, 0},
			{store.OpCheck, tok("never-issued", 0), false, store.SessionRevoked, 0},
			{store.OpRefresh, tok("a", 0), false, store.SessionOK, 0}, // no rotation: a stays live
			{store.OpRefresh, tok("a", 0), true, store.SessionOK, 1},  // rotation: a.0 spent, a.1 live
			{store.OpCheck, tok("a", 1), false, store.SessionOK, 1},
			{store.OpCheck, tok("a", 0), false, store.SessionRevoked, 0},
			{store.OpCheck, tok("a", 7), false, store.SessionRevoked, 0}, // never minted
			{store.OpRefresh, tok("a", 1), true, store.SessionOK, 2},
			// The spent a.0 comes back: the whole family dies, b lives.
			{store.OpRefresh, tok("a", 0), true, store.SessionReused, 0},
			{store.OpCheck, tok("a", 2), false, store.SessionRevoked, 0},
			{store.OpRefresh, tok("a", 2), true, store.SessionRevoked, 0},
			{store.OpCheck, tok("b", 0), false, store.SessionOK, 0},
			{store.OpLogout, tok("b", 0), false, store.SessionOK, 0},
			{store.OpCheck, tok("b", 0), false, store.SessionRevoked, 0},
			{store.OpLogout, tok("b", 0), false, store.SessionRevoked, 0},
		}
		for i, st := range steps {
			r := sessionAt(t, s, st.op, st.id, t0.Add(time.Minute), st.rotate, 0)
			if r.Status != st.want || r.Status == store.SessionOK && st.op != store.OpLogout && r.Generation != st.wantGen {
				t.Fatalf("step %d: %s %+v -> %s gen %d, want %s gen %d", i, st.op, st.id, r.Status, r.Generation, st.want, st.wantGen)
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
		if got := session(t, s, store.OpRefresh, tok("c", 0), true); got != store.SessionOK {
			t.Fatalf("rotate c: %s", got)
		}
		if got := session(t, s, store.OpLogoutAll, tok("b", 0), false); got != store.SessionOK {
			t.Fatalf("logoutall: %s", got)
		}
		for _, id := range []store.RefreshID{tok("a", 0), tok("b", 0), tok("c", 1)} {
			if got := session(t, s, store.OpCheck, id, false); got != store.SessionRevoked {
				t.Fatalf("%+v after logoutall: %s", id, got)
			}
		}
		loginUser(t, s, "d", false)
		loginUser(t, s, "e", true) // revokeOtherSessions
		if session(t, s, store.OpCheck, tok("d", 0), false) != store.SessionRevoked || session(t, s, store.OpCheck, tok("e", 0), false) != store.SessionOK {
			t.Fatal("revokeOthers must leave only the new token live")
		}
		// Expired tokens are dead even before Redis drops them.
		if st := sessionAt(t, s, store.OpCheck, tok("e", 0), t0.Add(2*time.Hour), false, 0).Status; st != store.SessionRevoked {
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
		if keys := c.Keys(ctx, "otpd:{P1:U1}:*").Val(); len(keys) != 0 {
			t.Fatalf("keys left after DropUser: %v", keys)
		}
	})
}

// An update that changes the verified address stamps <contact>ChangedAt
// (ms); one that sets the same verified address again does not move it.
func TestContactChangeStampsChangedAt(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		at := t0.Add(1500 * time.Millisecond)
		change := func(addr string, now time.Time) store.User {
			t.Helper()
			u, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: "U1", Contact: store.ContactPhone, Address: addr, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		if u := change("+14155550100", at); !u.PhoneChangedAt.Equal(at) || !u.EmailChangedAt.IsZero() {
			t.Fatalf("after a change: phone %v email %v", u.PhoneChangedAt, u.EmailChangedAt)
		}
		if u := change("+14155550100", at.Add(time.Hour)); !u.PhoneChangedAt.Equal(at) {
			t.Fatalf("the same address again moved the stamp to %v", u.PhoneChangedAt)
		}
		if u := change("+14155550101", at.Add(time.Hour)); !u.PhoneChangedAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("a second change: %v", u.PhoneChangedAt)
		}
	})
}
