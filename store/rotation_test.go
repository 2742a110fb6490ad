package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// TestRotationGrace: the previous generation presented within the grace
// period is answered with the current generation and rotates nothing;
// after it, or two generations back, it is reuse.
func TestRotationGrace(t *testing.T) {
	t.Parallel()
	const grace = 10 * time.Second
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		s := store.NewRedisStore(c)
		loginUser(t, s, "a", false)
		loginUser(t, s, "b", false)
		t1 := t0.Add(time.Minute)
		steps := []struct {
			op      store.SessionOp
			id      store.RefreshID
			at      time.Duration // after t1
			want    store.SessionStatus
			wantGen int64
		}{
			{store.OpRefresh, tok("a", 0), 0, store.SessionOK, 1},
			// 19 more tabs with a.0, concurrently: all get generation 1.
			{store.OpRefresh, tok("a", 0), 0, store.SessionOK, 1},
			{store.OpRefresh, tok("a", 0), grace, store.SessionOK, 1},
			{store.OpCheck, tok("a", 0), grace, store.SessionOK, 0},
			{store.OpCheck, tok("a", 1), grace, store.SessionOK, 1},
			// Past the grace period a.0 is dead for me/logout ...
			{store.OpCheck, tok("a", 0), grace + time.Millisecond, store.SessionRevoked, 0},
			{store.OpRefresh, tok("a", 1), grace + time.Second, store.SessionOK, 2},
			// ... and a.1 is late within grace of its own rotation,
			{store.OpRefresh, tok("a", 1), 2 * grace, store.SessionOK, 2},
			// but a.0, two generations back, is reuse even now.
			{store.OpRefresh, tok("a", 0), 2 * grace, store.SessionReused, 0},
			{store.OpCheck, tok("a", 2), 2 * grace, store.SessionRevoked, 0},
			// Family b: a late duplicate after the grace period revokes it.
			{store.OpRefresh, tok("b", 0), 0, store.SessionOK, 1},
			{store.OpRefresh, tok("b", 0), grace + time.Millisecond, store.SessionReused, 0},
			{store.OpRefresh, tok("b", 1), grace + time.Millisecond, store.SessionRevoked, 0},
		}
		for i, st := range steps {
			r := sessionAt(t, s, st.op, st.id, t1.Add(st.at), true, grace)
			if r.Status != st.want || r.Status == store.SessionOK && r.Generation != st.wantGen {
				t.Fatalf("step %d: %s %+v at +%s -> %s gen %d, want %s gen %d", i, st.op, st.id, st.at, r.Status, r.Generation, st.want, st.wantGen)
			}
		}
		// No grace: the first duplicate is reuse.
		loginUser(t, s, "c", false)
		if r := sessionAt(t, s, store.OpRefresh, tok("c", 0), t1, true, 0); r.Generation != 1 {
			t.Fatalf("rotate c: %+v", r)
		}
		if r := sessionAt(t, s, store.OpRefresh, tok("c", 0), t1, true, 0); r.Status != store.SessionReused {
			t.Fatalf("duplicate without grace: %+v", r)
		}
		assertTTLs(t, c)
	})
}

// TestFamilyCapEvictsOldest: a sign-in past the cap evicts the oldest
// family and its rotation state; the new token is never the one evicted.
func TestFamilyCapEvictsOldest(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for i, j := range []string{"a", "b", "c"} {
			loginAt(t, s, j, t0.Add(time.Duration(i)*time.Second), 3, false)
		}
		if r := sessionAt(t, s, store.OpRefresh, tok("a", 0), t0.Add(time.Minute), true, 0); r.Generation != 1 {
			t.Fatalf("rotate a: %+v", r)
		}
		loginAt(t, s, "d", t0.Add(3*time.Second), 3, false)
		want := map[string]store.SessionStatus{"a": store.SessionRevoked, "b": store.SessionOK, "c": store.SessionOK, "d": store.SessionOK}
		for f, st := range want {
			gen := int64(0)
			if f == "a" {
				gen = 1
			}
			if got := session(t, s, store.OpCheck, tok(f, gen), false); got != st {
				t.Fatalf("family %s after the cap: %s, want %s", f, got, st)
			}
		}
		if n := c.HLen(ctx, "otpd:{P1:U1}:rtg").Val(); n != 0 {
			t.Fatalf("the evicted family's generation was kept (%d entries)", n)
		}
		// A new token that expires before the others still survives.
		loginAt(t, s, "early", t0.Add(-30*time.Minute), 3, false)
		if got := session(t, s, store.OpCheck, tok("early", 0), false); got != store.SessionOK {
			t.Fatalf("the new token was evicted: %s", got)
		}
		if n := c.ZCard(ctx, store.RefreshKey("P1", "U1")).Val(); n != 3 {
			t.Fatalf("%d families, want the cap (3)", n)
		}
		assertTTLs(t, c)
	})
}

// TestRefreshLimits: the user's bucket counts live tokens only, the IP's
// counts every refresh; a refused refresh rotates nothing.
func TestRefreshLimits(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		loginUser(t, s, "a", false)
		lim := store.Limits{
			Global: []store.Bucket{{Name: "refreshes_per_ip", Key: store.LimitKey("P1", "refresh-ip", "10.0.0.1"), Count: 4, Window: time.Minute}},
			Login:  []store.Bucket{{Name: "refreshes_per_user", Key: store.UserLimitKey("P1", "U1", "refresh"), Count: 2, Window: time.Minute}},
		}
		refresh := func(id store.RefreshID) store.SessionResult {
			t.Helper()
			r, err := s.Session(context.Background(), store.SessionRequest{Op: store.OpRefresh, Project: "P1", UserID: "U1",
				Token: id, Now: t0, Rotate: true, Grace: 10 * time.Second, Limits: lim})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		for want := int64(1); want <= 2; want++ {
			if r := refresh(tok("a", want-1)); r.Status != store.SessionOK || r.Generation != want {
				t.Fatalf("refresh %d: %+v", want, r)
			}
		}
		r := refresh(tok("a", 2))
		if r.Status != store.SessionLimited || r.Limit != "refreshes_per_user" || r.RetryAfter != 30*time.Second {
			t.Fatalf("third refresh: %+v", r)
		}
		// A revoked token does not spend the user's refreshes, only the IP's.
		if r := refresh(tok("stolen", 0)); r.Status != store.SessionRevoked {
			t.Fatalf("unknown family: %+v", r)
		}
		if r := refresh(tok("a", 2)); r.Status != store.SessionLimited || r.Limit != "refreshes_per_ip" {
			t.Fatalf("past the IP limit: %+v", r)
		}
		// Nothing rotated while refused.
		if r := sessionAt(t, s, store.OpCheck, tok("a", 2), t0, false, 0); r.Status != store.SessionOK {
			t.Fatalf("a.2 after refusals: %+v", r)
		}
		lim.DryRun = true
		if r := refresh(tok("a", 2)); r.Status != store.SessionOK || r.WouldLimit != "refreshes_per_ip" || r.Generation != 3 {
			t.Fatalf("dry run: %+v", r)
		}
	})
}

// TestRotationStateIsFlat: rotations leave no trace but a generation
// number, and reuse detection after 100,000 rotations costs Redis well
// under a millisecond (SLOWLOG: the script's own run time, measured by
// redis-server). The older layout spent 2.6 s here (docs/sessions.md).
func TestRotationStateIsFlat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Real(t)
	s := store.NewRedisStore(c)
	loginUser(t, s, "a", false)
	loginUser(t, s, "b", false)
	usage := func() (n int64) {
		for _, k := range []string{"rt", "rtg"} {
			n += c.MemoryUsage(ctx, "otpd:{P1:U1}:"+k).Val()
		}
		return n
	}
	var after1 int64
	for g := int64(0); g < 1000; g++ {
		if r := sessionAt(t, s, store.OpRefresh, tok("a", g), t0.Add(time.Minute), true, 0); r.Generation != g+1 {
			t.Fatalf("rotation %d: %+v", g, r)
		}
		if g == 0 {
			after1 = usage()
		}
	}
	if after := usage(); after > after1+16 || c.HLen(ctx, "otpd:{P1:U1}:rtg").Val() != 1 || c.ZCard(ctx, "otpd:{P1:U1}:rt").Val() != 2 {
		t.Fatalf("state after 1000 rotations: %d bytes (after 1: %d)", after, after1)
	}
	// The state 100,000 rotations leave is the same entry with a larger
	// number: set it directly rather than spend seconds rotating.
	now := t0.Add(time.Hour / 2)
	c.HSet(ctx, "otpd:{P1:U1}:rtg", "a", fmt.Sprintf("100000:%d", now.Add(-time.Minute).UnixMilli()))
	if err := c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err(); err != nil {
		t.Fatal(err)
	}
	c.SlowLogReset(ctx)
	if r := sessionAt(t, s, store.OpRefresh, tok("a", 0), now, true, 10*time.Second); r.Status != store.SessionReused {
		t.Fatalf("reuse after 100,000 rotations: %+v", r)
	}
	if d := scriptTime(t, c); d >= time.Millisecond {
		t.Fatalf("reuse detection took %s of Redis time, want < 1ms", d)
	} else {
		t.Logf("reuse detection after 100,000 rotations: %s of Redis time (SLOWLOG)", d)
	}
	if n := c.Exists(ctx, "otpd:{P1:U1}:rtg").Val(); n != 0 || session(t, s, store.OpCheck, tok("b", 0), false) != store.SessionOK {
		t.Fatal("reuse must drop the family's state and leave the other family live")
	}
}

// scriptTime is the longest script run in the SLOWLOG.
func scriptTime(t testing.TB, c *redis.Client) time.Duration {
	t.Helper()
	logs, err := c.SlowLogGet(context.Background(), 128).Result()
	if err != nil {
		t.Fatal(err)
	}
	var d time.Duration
	for _, l := range logs {
		if len(l.Args) > 0 && (strings.EqualFold(l.Args[0], "evalsha") || strings.EqualFold(l.Args[0], "eval")) {
			d = max(d, l.Duration)
		}
	}
	if d == 0 {
		t.Fatalf("no script in the SLOWLOG (%d entries)", len(logs))
	}
	return d
}

// TestOlderLayoutIsLeftBehind: a user whose rtf/rtr keys grew under the
// older layout keeps working; those keys are never read (so they cost no
// script time) and logout-all removes them.
func TestOlderLayoutIsLeftBehind(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		// The older layout: live jti in rt, jti -> family in rtf, spent in rtr.
		exp := float64(t0.Add(time.Hour).UnixMilli())
		c.ZAdd(ctx, "otpd:{P1:U1}:rt", redis.Z{Score: exp, Member: "live"})
		c.HSet(ctx, "otpd:{P1:U1}:rtf", "live", "first", "spent", "first")
		c.ZAdd(ctx, "otpd:{P1:U1}:rtr", redis.Z{Score: exp, Member: "spent"})
		loginUser(t, s, "new", false)
		if r := sessionAt(t, s, store.OpRefresh, tok("live", 0), t0.Add(time.Minute), true, 0); r.Status != store.SessionOK || r.Generation != 1 {
			t.Fatalf("a live token of the older layout: %+v", r)
		}
		if st := session(t, s, store.OpRefresh, tok("spent", 0), true); st != store.SessionRevoked {
			t.Fatalf("a token spent under the older layout: %s", st)
		}
		if st := session(t, s, store.OpLogoutAll, tok("new", 0), false); st != store.SessionOK {
			t.Fatalf("logoutall: %s", st)
		}
		if keys := c.Keys(ctx, "otpd:{P1:U1}:rt*").Val(); len(keys) != 0 {
			t.Fatalf("keys left after logout-all: %v", keys)
		}
	})
}

// TestRefreshSetExpiresWithItsLastFamily: a sign-in sets the family keys'
// expiry to the last family's (never shortening it for a family that
// expires sooner), and a set recreated after every family expired gets an
// expiry too (PEXPIREAT GT alone would leave it without one).
func TestRefreshSetExpiresWithItsLastFamily(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		rt, rtg := store.RefreshKey("P1", "U1"), "otpd:{P1:U1}:rtg"
		expiresAt := func(k string, want time.Time) {
			t.Helper()
			got := time.Now().Add(c.PTTL(ctx, k).Val())
			if d := got.Sub(want); d < -2*time.Second || d > 2*time.Second {
				t.Fatalf("%s expires at %v, want %v", k, got, want)
			}
		}
		loginAt(t, s, "a", t0, 0, false) // expires t0+1h
		expiresAt(rt, t0.Add(time.Hour))
		loginAt(t, s, "b", t0.Add(time.Hour), 0, false) // t0+2h: later
		expiresAt(rt, t0.Add(2*time.Hour))
		loginAt(t, s, "c", t0.Add(-30*time.Minute), 0, false) // t0+30m: sooner
		expiresAt(rt, t0.Add(2*time.Hour))
		if got := session(t, s, store.OpCheck, tok("c", 0), false); got != store.SessionOK {
			t.Fatalf("family c: %s", got)
		}
		// A rotation creates the generations hash; the next sign-in extends it too.
		if r := sessionAt(t, s, store.OpRefresh, tok("a", 0), t0.Add(time.Minute), true, 0); r.Generation != 1 {
			t.Fatalf("rotate a: %+v", r)
		}
		loginAt(t, s, "d", t0.Add(90*time.Minute), 0, false) // t0+2.5h
		expiresAt(rt, t0.Add(150*time.Minute))
		expiresAt(rtg, t0.Add(150*time.Minute))
		// Every family gone (as when they all expired): the set this
		// sign-in creates expires with its family.
		c.Del(ctx, rt, rtg)
		loginAt(t, s, "e", t0, 0, false)
		expiresAt(rt, t0.Add(time.Hour))
		assertTTLs(t, c)
	})
}
