package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// forEachMode runs fn on both backends, with and without split-slot mode.
func forEachMode(t *testing.T, fn func(t *testing.T, c *redis.Client, s *store.RedisStore)) {
	t.Helper()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
				_ = c.FlushAll(context.Background())
				fn(t, c, store.NewRedisStoreSplit(c, split))
			})
		}
	})
}

func limited(loginID, code string, now time.Time, perIP, perLogin int) store.NewCode {
	nc := newCode(loginID, code, store.RuleAny)
	nc.Now = now
	nc.Limits = store.Limits{
		Global: []store.Bucket{{Name: "sends_per_ip", Key: store.LimitKey("P1", "ip", "10.0.0.1"), Count: perIP, Window: time.Minute}},
		Login:  []store.Bucket{{Name: "sends_per_login_id", Key: store.LoginLimitKey("P1", loginID, "send"), Count: perLogin, Window: time.Minute}},
	}
	return nc
}

func TestStartLimits(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		// Per IP: 3 per minute across login ids.
		for i := range 3 {
			if r, err := s.StartCode(ctx, limited(fmt.Sprintf("u%d@x.io", i), "1", t0, 3, 10)); err != nil || r.Status != store.StartOK {
				t.Fatalf("start %d: %+v %v", i, r, err)
			}
		}
		before := c.HGetAll(ctx, store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: "u0@x.io", Channel: "email"})).Val()
		r, err := s.StartCode(ctx, limited("u0@x.io", "2", t0, 3, 10))
		if err != nil || r.Status != store.StartLimited || r.Limit != "sends_per_ip" || r.RetryAfter != 20*time.Second {
			t.Fatalf("4th start: %+v %v", r, err)
		}
		after := c.HGetAll(ctx, store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: "u0@x.io", Channel: "email"})).Val()
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatal("a refused start replaced the code")
		}
		if v, _ := s.VerifyCode(ctx, attempt("u0@x.io", "1", t0)); v.Status != store.VerifyOK {
			t.Fatalf("the earlier code must still work: %+v", v)
		}
		// 20 s later one more is allowed.
		if r, _ := s.StartCode(ctx, limited("u9@x.io", "1", t0.Add(20*time.Second), 3, 10)); r.Status != store.StartOK {
			t.Fatalf("after the retry delay: %+v", r)
		}
		// Dry run: reported, not enforced.
		nc := limited("u8@x.io", "1", t0.Add(20*time.Second), 3, 10)
		nc.Limits.DryRun = true
		if r, _ := s.StartCode(ctx, nc); r.Status != store.StartOK || r.WouldLimit != "sends_per_ip" {
			t.Fatalf("dry run: %+v", r)
		}
	})
}

func TestLoginBucketsChargeOnlyStoredCodes(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		// Refused sign-ins (unknown user) do not use up the login id's budget.
		for range 5 {
			nc := limited("v@x.io", "1", t0, 100, 1)
			nc.Rule = store.RuleExisting
			if r, _ := s.StartCode(ctx, nc); r.Status != store.StartNotFound {
				t.Fatalf("sign-in unknown: %+v", r)
			}
		}
		if r, _ := s.StartCode(ctx, limited("v@x.io", "1", t0, 100, 1)); r.Status != store.StartOK {
			t.Fatalf("first stored code: %+v", r)
		}
		if r, _ := s.StartCode(ctx, limited("v@x.io", "2", t0.Add(time.Second), 100, 1)); r.Status != store.StartLimited || r.Limit != "sends_per_login_id" {
			t.Fatalf("second within the window: %+v", r)
		}
	})
}

func TestVerifyLimits(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		if _, err := s.StartCode(ctx, newCode("w@x.io", "123456", store.RuleAny)); err != nil {
			t.Fatal(err)
		}
		a := attempt("w@x.io", "000000", t0)
		a.Limits.Global = []store.Bucket{{Name: "verifies_per_ip", Key: store.LimitKey("P1", "vip", "10.0.0.1"), Count: 2, Window: time.Minute}}
		for range 2 {
			if v, _ := s.VerifyCode(ctx, a); v.Status != store.VerifyWrong {
				t.Fatalf("wrong attempt: %+v", v)
			}
		}
		a.Candidates = attempt("w@x.io", "123456", t0).Candidates
		v, err := s.VerifyCode(ctx, a)
		if err != nil || v.Status != store.VerifyLimited || v.Limit != "verifies_per_ip" || v.RetryAfter != 30*time.Second {
			t.Fatalf("3rd verify: %+v %v", v, err)
		}
		// The refused verify did not count an attempt: 3 max, 2 used, the right code still works.
		a.Now = t0.Add(30 * time.Second)
		if v, _ := s.VerifyCode(ctx, a); v.Status != store.VerifyOK {
			t.Fatalf("after the delay: %+v", v)
		}
	})
}

func TestStartEnqueuesTheJob(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		job := func(id string) *store.Job {
			return &store.Job{ID: id, Payload: "sealed-" + id, Stream: "otpd:{q}:jobs", MaxLen: 100}
		}
		nc := newCode("alice", "1", store.RuleAny)
		nc.NewUserAddress, nc.Job = "alice@x.io", job("j1")
		if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
			t.Fatalf("start: %+v %v", r, err)
		}
		// A refused start enqueues nothing.
		nc = newCode("bob", "1", store.RuleExisting)
		nc.Job = job("j2")
		if r, _ := s.StartCode(ctx, nc); r.Status != store.StartNotFound {
			t.Fatalf("refused start: %+v", r)
		}
		msgs := c.XRange(ctx, "otpd:{q}:jobs", "-", "+").Val()
		// Four fields: no attempt number (a worker reads a missing one as 1).
		if len(msgs) != 1 || len(msgs[0].Values) != 4 || msgs[0].Values["id"] != "j1" || msgs[0].Values["to"] != "alice@x.io" ||
			msgs[0].Values["j"] != "sealed-j1" || msgs[0].Values["exp"] != fmt.Sprint(nc.ExpiresAt.UnixMilli()) {
			t.Fatalf("stream: %+v", msgs)
		}
	})
}
