package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// backend is one Redis the whole suite runs against.
type backend struct {
	name string
	new  func(t *testing.T) *redis.Client
}

func backends() []backend {
	return []backend{
		{"miniredis", func(t *testing.T) *redis.Client { _, c := testredis.Mini(t); return c }},
		{"redis-server", func(t *testing.T) *redis.Client { _, c := testredis.Real(t); return c }},
	}
}

// forEachBackend runs fn against miniredis and a real redis-server.
func forEachBackend(t *testing.T, fn func(t *testing.T, c *redis.Client)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.new(t))
		})
	}
}

// t0 is now: scripts set absolute expiries (PEXPIREAT), which a real
// redis-server measures against its own clock.
var t0 = time.Now().Truncate(time.Second)

func hash(code string) []byte { h := sha256.Sum256([]byte(code)); return h[:] }

func newCode(loginID, code string, rule store.Rule) store.NewCode {
	return store.NewCode{
		Key:            store.CodeKey{Project: "P1", LoginID: loginID, Channel: "email"},
		Rule:           rule,
		Purpose:        string(rule),
		Hash:           hash(code),
		Contact:        store.ContactEmail,
		NewUserAddress: loginID,
		MaxAttempts:    3,
		ExpiresAt:      t0.Add(5 * time.Minute),
		Retain:         15 * time.Minute,
	}
}

func attempt(loginID, code string, now time.Time) store.Attempt {
	return store.Attempt{
		Key:        store.CodeKey{Project: "P1", LoginID: loginID, Channel: "email"},
		Candidates: [][]byte{hash("other-secret" + code), hash(code)},
		Now:        now,
		NewUserID:  "U-" + loginID,
	}
}

func TestStartAndVerify(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)

		// Sign-in for an unknown login id changes nothing.
		res, err := s.StartCode(ctx, newCode("a@x.io", "111111", store.RuleExisting))
		if err != nil || res.Status != store.StartNotFound {
			t.Fatalf("sign-in unknown: %+v %v", res, err)
		}
		if n := c.DBSize(ctx).Val(); n != 0 {
			t.Fatalf("refused start wrote %d keys", n)
		}

		res, err = s.StartCode(ctx, newCode("a@x.io", "111111", store.RuleNew))
		if err != nil || res != (store.StartResult{Status: store.StartOK, Address: "a@x.io"}) {
			t.Fatalf("sign-up: %+v %v", res, err)
		}
		// A resend replaces the first code.
		if _, err := s.StartCode(ctx, newCode("a@x.io", "222222", store.RuleNew)); err != nil {
			t.Fatal(err)
		}
		v, err := s.VerifyCode(ctx, attempt("a@x.io", "111111", t0))
		if err != nil || v.Status != store.VerifyWrong || v.AttemptsLeft != 2 {
			t.Fatalf("old code after resend: %+v %v", v, err)
		}
		v, err = s.VerifyCode(ctx, attempt("a@x.io", "222222", t0))
		if err != nil {
			t.Fatal(err)
		}
		want := store.VerifyResult{Status: store.VerifyOK, Address: "a@x.io",
			Contact: store.ContactEmail, UserID: "U-a@x.io", NewUser: true}
		if d := cmp.Diff(want, v); d != "" {
			t.Fatalf("verify (-want +got):\n%s", d)
		}
		// Consumed: the same code never works twice.
		v, _ = s.VerifyCode(ctx, attempt("a@x.io", "222222", t0))
		if v.Status != store.VerifyNoCode {
			t.Fatalf("second use: %+v", v)
		}
		// Now the user exists: sign-up is refused, sign-in works.
		if res, _ := s.StartCode(ctx, newCode("a@x.io", "333333", store.RuleNew)); res.Status != store.StartExists {
			t.Fatalf("sign-up existing: %+v", res)
		}
		if res, _ := s.StartCode(ctx, newCode("a@x.io", "333333", store.RuleExisting)); res.Status != store.StartOK {
			t.Fatalf("sign-in existing: %+v", res)
		}
		v, _ = s.VerifyCode(ctx, attempt("a@x.io", "333333", t0))
		if v.Status != store.VerifyOK || v.NewUser || v.UserID != "U-a@x.io" {
			t.Fatalf("sign-in verify: %+v", v)
		}
	})
}

func TestExistingUserGetsCodeAtStoredAddress(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		nc := newCode("alice", "111111", store.RuleAny)
		nc.NewUserAddress = "alice@x.io"
		if res, _ := s.StartCode(ctx, nc); res.Address != "alice@x.io" {
			t.Fatalf("new user address: %+v", res)
		}
		if v, _ := s.VerifyCode(ctx, attempt("alice", "111111", t0)); v.Status != store.VerifyOK {
			t.Fatalf("verify: %+v", v)
		}
		// Someone else asks for alice's code to go to their own address.
		nc = newCode("alice", "222222", store.RuleAny)
		nc.NewUserAddress = "mallory@evil.io"
		res, err := s.StartCode(ctx, nc)
		if err != nil || res.Address != "alice@x.io" {
			t.Fatalf("existing user must get the code at the stored address: %+v %v", res, err)
		}
		// No address at all for a new user.
		nc = newCode("bob", "1", store.RuleAny)
		nc.NewUserAddress = ""
		if res, _ := s.StartCode(ctx, nc); res.Status != store.StartNoAddress {
			t.Fatalf("no address: %+v", res)
		}
	})
}

func TestAttemptsCapAndExpiry(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if _, err := s.StartCode(ctx, newCode("b@x.io", "123456", store.RuleAny)); err != nil {
			t.Fatal(err)
		}
		for left := 2; left >= 0; left-- {
			v, _ := s.VerifyCode(ctx, attempt("b@x.io", "000000", t0))
			if v.Status != store.VerifyWrong || v.AttemptsLeft != left {
				t.Fatalf("wrong attempt, want %d left: %+v", left, v)
			}
		}
		// The right code after the cap: the code is dead.
		if v, _ := s.VerifyCode(ctx, attempt("b@x.io", "123456", t0)); v.Status != store.VerifyDead {
			t.Fatalf("after cap: %+v", v)
		}

		if _, err := s.StartCode(ctx, newCode("c@x.io", "123456", store.RuleAny)); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.VerifyCode(ctx, attempt("c@x.io", "123456", t0.Add(5*time.Minute))); v.Status != store.VerifyExpired {
			t.Fatalf("at expiry: %+v", v)
		}
		if v, _ := s.VerifyCode(ctx, attempt("c@x.io", "123456", t0.Add(5*time.Minute-time.Millisecond))); v.Status != store.VerifyOK {
			t.Fatalf("just before expiry: %+v", v)
		}
	})
}

func TestConcurrentVerifyConsumesOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		nc := newCode("d@x.io", "654321", store.RuleAny)
		nc.MaxAttempts = 100
		if _, err := s.StartCode(ctx, nc); err != nil {
			t.Fatal(err)
		}
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.VerifyCode(ctx, attempt("d@x.io", "654321", t0))
				if err != nil {
					t.Error(err)
				}
				if v.Status == store.VerifyOK {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("%d of 50 concurrent verifies succeeded, want exactly 1", ok.Load())
		}
	})
}

func TestCompleteLoginAndTTLs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		nc := newCode("e@x.io", "1", store.RuleNew)
		nc.Payload = []byte(`{"opaque":true}`)
		if _, err := s.StartCode(ctx, nc); err != nil {
			t.Fatal(err)
		}
		// Every key but the durable login index carries a TTL.
		assertTTLs(t, c)
		v, err := s.VerifyCode(ctx, attempt("e@x.io", "1", t0))
		if err != nil || string(v.Payload) != `{"opaque":true}` {
			t.Fatalf("verify: %+v %v", v, err)
		}
		login := store.Login{Project: "P1", UserID: v.UserID, LoginID: "e@x.io", Contact: v.Contact,
			Address: v.Address, Profile: store.Profile{Name: "Eve Q", GivenName: "Eve"}, RefreshID: "jti-1",
			RefreshExpiry: t0.Add(24 * time.Hour), Now: t0, New: v.NewUser}
		u, first, err := s.CompleteLogin(ctx, login)
		if err != nil || !first {
			t.Fatalf("first login: first=%v err=%v", first, err)
		}
		want := store.User{UserID: "U-e@x.io", LoginIDs: []string{"e@x.io"}, Email: "e@x.io",
			VerifiedEmail: true, Profile: store.Profile{Name: "Eve Q", GivenName: "Eve"},
			CreatedTime: t0, ModifiedTime: t0, Status: "enabled"}
		if d := cmp.Diff(want, u); d != "" {
			t.Fatalf("user (-want +got):\n%s", d)
		}
		login.RefreshID, login.Profile = "jti-2", store.Profile{}
		u, first, err = s.CompleteLogin(ctx, login)
		if err != nil || first || u.Name != "Eve Q" {
			t.Fatalf("second login: %+v first=%v err=%v", u, first, err)
		}
		ids := c.ZRange(ctx, store.RefreshKey("P1", u.UserID), 0, -1).Val()
		if d := cmp.Diff([]string{"jti-1", "jti-2"}, ids); d != "" {
			t.Fatalf("refresh ids (-want +got):\n%s", d)
		}
		assertTTLs(t, c)
	})
}

// assertTTLs checks that every key has a TTL, except the documented durable
// ones (login index and user records).
func assertTTLs(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for _, k := range c.Keys(ctx, "*").Val() {
		ttl := c.PTTL(ctx, k).Val()
		durable := strings.HasSuffix(k, ":login") || strings.HasSuffix(k, ":user")
		if durable && ttl > 0 {
			t.Errorf("durable key %s has a TTL", k)
		}
		if !durable && ttl <= 0 {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
}

func TestLoginIDsWithBracesStayApart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for _, id := range []string{"x}:code:email", "x", "{x}", "x%7D:code:email"} {
			nc := newCode(id, "1", store.RuleNew)
			if res, err := s.StartCode(ctx, nc); err != nil || res.Status != store.StartOK {
				t.Fatalf("start %q: %+v %v", id, res, err)
			}
		}
		if n := c.DBSize(ctx).Val(); n != 4 {
			t.Fatalf("4 login ids made %d keys, want 4 distinct code keys", n)
		}
	})
}

// countHook counts commands sent to Redis: each Process or pipeline is one
// round trip.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if err := s.Preload(ctx); err != nil {
			t.Fatal(err)
		}
		h := &countHook{}
		c.AddHook(h)
		count := func(name string, want int64, fn func()) {
			h.n.Store(0)
			fn()
			if got := h.n.Load(); got != want {
				t.Errorf("%s: %d round trips, want %d", name, got, want)
			}
		}
		// With rate limits on: the limits share the script's round trip.
		count("start with limits", 1, func() {
			if r, _ := s.StartCode(ctx, limited("f@x.io", "1", t0, 10, 10)); r.Status != store.StartOK {
				t.Errorf("start: %+v", r)
			}
		})
		var v store.VerifyResult
		count("verify with limits", 1, func() {
			a := attempt("f@x.io", "1", t0)
			a.Limits.Global = []store.Bucket{{Name: "verifies_per_ip", Key: store.LimitKey("P1", "vip", "10.0.0.1"), Count: 5, Window: time.Minute}}
			a.Limits.Login = []store.Bucket{{Name: "verifies_per_login_id", Key: store.LoginLimitKey("P1", "f@x.io", "verify"), Count: 5, Window: time.Minute}}
			v, _ = s.VerifyCode(ctx, a)
		})
		count("login", 1, func() {
			_, _, _ = s.CompleteLogin(ctx, store.Login{Project: "P1", UserID: v.UserID, LoginID: "f@x.io",
				Contact: store.ContactEmail, Address: "f@x.io", RefreshID: "j", RefreshExpiry: t0.Add(time.Hour), Now: t0, New: v.NewUser})
		})
		count("refresh with rotation and limits", 1, func() {
			r, _ := s.Session(ctx, store.SessionRequest{Op: store.OpRefresh, Project: "P1", UserID: v.UserID,
				Token: store.RefreshID{Family: "j"}, Now: t0, Rotate: true, Grace: 10 * time.Second, Limits: store.Limits{
					Global: []store.Bucket{{Name: "refreshes_per_ip", Key: store.LimitKey("P1", "refresh-ip", "10.0.0.1"), Count: 5, Window: time.Minute}},
					Login:  []store.Bucket{{Name: "refreshes_per_user", Key: store.UserLimitKey("P1", v.UserID, "refresh"), Count: 5, Window: time.Minute}}}})
			if r.Status != store.SessionOK || r.Generation != 1 {
				t.Errorf("refresh: %+v", r)
			}
		})
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	_, err = store.NewRedisStore(c).StartCode(context.Background(), newCode("g@x.io", "1", store.RuleAny))
	if err == nil || !strings.Contains(fmt.Sprint(err), "unavailable") {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}
