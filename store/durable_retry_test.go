package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// shortfalls records a ReplicationObserver's calls.
type shortfalls struct {
	mu               sync.Mutex
	ok, short, taken int
	skip             bool
}

func (o *shortfalls) Replicated(string) { o.mu.Lock(); o.ok++; o.mu.Unlock() }
func (o *shortfalls) ShortOf(_ string, _, _ int, accepted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.short++
	if accepted {
		o.taken++
	}
}
func (o *shortfalls) SkipWait(string) bool { o.mu.Lock(); defer o.mu.Unlock(); return o.skip }

// TestDurableUnreplicatedVerifyIsRetrySafe: in the durability mode (refuse
// policy), a verify whose WAIT fell short (the replica frozen with SIGSTOP)
// answers ErrUnavailable (503) with the code given back on the master and
// the fresh user it created undone, so the SDK's retry, once the replica is
// back, signs the user in instead of hearing "code used" (before: the code
// stayed consumed and the retry got 401). A start refused the same way
// keeps no charge: its retry is not refused by the cooldown.
func TestDurableUnreplicatedVerifyIsRetrySafe(t *testing.T) {
	master, replica := testredis.WithReplica(t)
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	t.Cleanup(func() { _ = c.Close() })
	obs := &shortfalls{}
	s := store.NewRedisStore(c).Durable(1, 100*time.Millisecond).OnShortfall(store.RefuseShortfall, obs)
	ctx := context.Background()
	start := func(login, code string) {
		t.Helper()
		nc := limited(login, code, t0, 100, 1) // one code per login id per minute
		if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
			t.Fatalf("start %s: %+v %v", login, r, err)
		}
	}
	start("v1@x.io", "1")
	start("v2@x.io", "2")
	uid, err := store.NewUserID(rand.Reader, "P1", "v2@x.io")
	if err != nil {
		t.Fatal(err)
	}

	replica.Freeze(t)
	if _, err := s.VerifyCode(ctx, attempt("v1@x.io", "1", t0)); !errors.Is(err, store.ErrNotReplicated) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("verify with the replica frozen: %v, want ErrUnavailable/ErrNotReplicated", err)
	}
	a := attempt("v2@x.io", "2", t0)
	a.NewUserID = uid
	if _, _, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt-1")); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("verify and login with the replica frozen: %v, want ErrNotReplicated", err)
	}
	// The one-script verify created the user on the master: undone, with
	// its binding (no login id left naming a user the caller never heard of).
	if n := c.Exists(ctx, store.UserKey("P1", uid)).Val(); n != 0 {
		t.Error("the unreplicated verify left the user it created")
	}
	if v := c.HGet(ctx, store.LoginKey("P1", "v2@x.io"), "uid").Val(); v != "" {
		t.Errorf("the unreplicated verify left the login id bound to %q", v)
	}
	// A start refused the same way: nothing kept.
	nc := limited("v3@x.io", "3", t0, 100, 1)
	if _, err := s.StartCode(ctx, nc); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("start with the replica frozen: %v, want ErrNotReplicated", err)
	}
	replica.Thaw(t)

	// The SDK's retries.
	if v, err := s.VerifyCode(ctx, attempt("v1@x.io", "1", t0)); err != nil || v.Status != store.VerifyOK {
		t.Fatalf("the retried verify: %+v %v, want ok (the code given back)", v, err)
	}
	if v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt-2")); err != nil || v.Status != store.VerifyOK || done == nil || !done.FirstSeen {
		t.Fatalf("the retried verify and login: %+v %+v %v, want ok, first seen", v, done, err)
	}
	if r, err := s.StartCode(ctx, limited("v3@x.io", "4", t0, 100, 1)); err != nil || r.Status != store.StartOK {
		t.Fatalf("the retried start: %+v %v, want ok (its charge refunded)", r, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.short != 3 || obs.taken != 0 || obs.ok < 5 {
		t.Errorf("observer: %d replicated, %d short (%d accepted), want >= 5, 3 (0)", obs.ok, obs.short, obs.taken)
	}
}

// TestDurableShortfallAccepted: under AcceptShortfall a write whose WAIT fell
// short is kept and answered (the observer hears it, to report the node
// degraded); a write the observer lets skip its WAIT does not wait.
func TestDurableShortfallAccepted(t *testing.T) {
	master, replica := testredis.WithReplica(t)
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	t.Cleanup(func() { _ = c.Close() })
	obs := &shortfalls{}
	const wait = 300 * time.Millisecond
	s := store.NewRedisStore(c).Durable(1, wait).OnShortfall(store.AcceptShortfall, obs)
	ctx := context.Background()
	replica.Freeze(t)
	nc := newCode("acc@x.io", "1", store.RuleAny)
	nc.Now = t0
	begin := time.Now()
	if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
		t.Fatalf("start with the replica frozen, accept policy: %+v %v", r, err)
	}
	if d := time.Since(begin); d < wait {
		t.Errorf("the start did not wait for its replica (%v)", d)
	}
	obs.mu.Lock()
	obs.skip = true
	obs.mu.Unlock()
	begin = time.Now()
	if v, err := s.VerifyCode(ctx, attempt("acc@x.io", "1", t0)); err != nil || v.Status != store.VerifyOK {
		t.Fatalf("verify with the replica frozen, accept policy: %+v %v", v, err)
	}
	if d := time.Since(begin); d >= wait {
		t.Errorf("a write allowed to skip its WAIT took %v", d)
	}
	replica.Thaw(t)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.short != 1 || obs.taken != 1 {
		t.Errorf("observer: %d short, %d accepted, want 1, 1", obs.short, obs.taken)
	}
}
