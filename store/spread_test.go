package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// TestSplitLimitsOnePipeline: in split-slot mode (Cluster) the project-wide
// buckets, each its own hash tag, are charged in ONE round trip (a pipeline
// of single-key scripts); a start is three (limits, start.lua, XADD). When
// one bucket refuses, the others this request charged are refunded
// (refund-on-deny, one more round trip): a refused start keeps no charge.
func TestSplitLimitsOnePipeline(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStoreSplit(c, true)
		if err := s.Preload(ctx); err != nil {
			t.Fatal(err)
		}
		wide := store.Bucket{Name: "sends_per_ip", Key: store.LimitKey("P1", "send-ip", "10.0.0.1"), Count: 10, Window: time.Minute}
		country := store.Bucket{Name: "sends_per_country", Key: store.LimitKey("P1", "send-country", "sms", "US"), Count: 10, Window: time.Minute}
		narrow := store.Bucket{Name: "sends_per_phone_prefix", Key: store.LimitKey("P1", "send-prefix", "sms", "1415555"), Count: 1, Window: time.Minute}
		start := func(id string) store.NewCode {
			nc := newCode(id, "1", store.RuleAny)
			nc.Now = t0
			nc.Limits.Global = []store.Bucket{wide, country, narrow}
			nc.Job = &store.Job{ID: id, Payload: "sealed", Stream: "otpd:{q}:jobs", MaxLen: 100}
			return nc
		}
		h := &rtHook{}
		c.AddHook(h)
		if r, err := s.StartCode(ctx, start("a@x.io")); err != nil || r.Status != store.StartOK {
			t.Fatalf("start: %+v %v", r, err)
		}
		if n := h.n.Load(); n != 3 {
			t.Errorf("start on Cluster: %d round trips, want 3 (one pipeline for 3 buckets, start.lua, XADD)", n)
		}
		before := map[string]string{}
		for _, b := range []store.Bucket{wide, country, narrow} {
			before[b.Key] = c.Get(ctx, b.Key).Val()
			if before[b.Key] == "" {
				t.Fatalf("bucket %s not charged", b.Key)
			}
		}
		h.n.Store(0)
		r, err := s.StartCode(ctx, start("b@x.io"))
		if err != nil || r.Status != store.StartLimited || r.Limit != "sends_per_phone_prefix" {
			t.Fatalf("second start: %+v %v, want limited by the prefix", r, err)
		}
		if n := h.n.Load(); n != 2 {
			t.Errorf("refused start: %d round trips, want 2 (charges, refund)", n)
		}
		for k, v := range before {
			if got := c.Get(ctx, k).Val(); got != v {
				t.Errorf("bucket %s: %s after a refused start, want %s (refunded)", k, got, v)
			}
		}
		if n := c.Exists(ctx, store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: "b@x.io", Channel: "email"})).Val(); n != 0 {
			t.Error("a refused start stored a code")
		}
	})
}

// TestLimitKeysAreTheirOwnTags: every project-wide bucket key is its own
// hash tag (so buckets spread over a Cluster's slots), and none can equal a
// login id's or a user's key, whatever the login id.
func TestLimitKeysAreTheirOwnTags(t *testing.T) {
	t.Parallel()
	a, b := store.LimitKey("P1", "send-ip", "10.0.0.1"), store.LimitKey("P1", "send-ip", "10.0.0.2")
	if a != "otpd:{P1:rl:send-ip:10.0.0.1}" || b == a {
		t.Fatalf("keys %q %q", a, b)
	}
	if k := store.LimitKey("P1", "send-to", "email", "x}y{"); k != "otpd:{P1:rl:send-to:email:x%7Dy%7B}" || !store.IsLimitKey(k) {
		t.Fatalf("escaped key %q", k)
	}
	for _, id := range []string{"rl:send-ip:10.0.0.1", "rl:send-ip:10.0.0.1}", "rl"} {
		for _, k := range []string{store.LoginKey("P1", id), store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: id, Channel: "email"}),
			store.LoginLimitKey("P1", id, "send"), store.UserKey("P1", id)} {
			if store.IsLimitKey(k) || k == a {
				t.Errorf("login id %q: key %q taken for a project-wide bucket", id, k)
			}
		}
	}
}

// TestBudgetShardsOnCluster: on Cluster a project budget of 800 is split
// into 8 sub-buckets of 100 (8 keys, 8 hash tags) charged in turn. Two
// replicas starting in random order get exactly the budget over the
// window (never more), and the first refusal comes within budget - 8x2
// (sub-buckets x replicas). A budget under 200 stays one key; on a single
// node the budget is one exact key.
func TestBudgetShardsOnCluster(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		budget := func(n int) []store.Bucket {
			return []store.Bucket{{Name: "project_sends_per_hour", Key: store.LimitKey("P1", "send-project", "email"), Count: n, Window: time.Hour, Sharded: true}}
		}
		run := func(t *testing.T, stores []*store.RedisStore, n, tries int) (ok, firstRefusal int) {
			t.Helper()
			rng := rand.New(rand.NewPCG(1, 2))
			firstRefusal = -1
			for i := range tries {
				nc := newCode(fmt.Sprintf("b%d@x.io", i), "1", store.RuleAny)
				nc.Now = t0
				nc.Limits.Global = budget(n)
				r, err := stores[rng.IntN(len(stores))].StartCode(ctx, nc)
				if err != nil {
					t.Fatal(err)
				}
				switch r.Status {
				case store.StartOK:
					ok++
				case store.StartLimited:
					if r.Limit != "project_sends_per_hour" {
						t.Fatalf("refused by %s", r.Limit)
					}
					if firstRefusal < 0 {
						firstRefusal = i
					}
				default:
					t.Fatalf("start: %+v", r)
				}
			}
			return ok, firstRefusal
		}
		keys := func() []string { return c.Keys(ctx, "otpd:{P1:rl:send-project:*").Val() }
		t.Run("cluster", func(t *testing.T) {
			_ = c.FlushAll(ctx)
			replicas := []*store.RedisStore{store.NewRedisStoreSplit(c, true), store.NewRedisStoreSplit(c, true)}
			ok, first := run(t, replicas, 800, 1000)
			if ok != 800 {
				t.Errorf("%d starts admitted, want the budget, 800", ok)
			}
			if first < 800-8*2 {
				t.Errorf("first refusal after %d starts, want >= %d", first, 800-8*2)
			}
			if k := keys(); len(k) != 8 {
				t.Errorf("budget keys %v, want 8 sub-buckets", k)
			}
			t.Logf("budget 800 over 8 sub-buckets, 2 replicas: %d admitted of 1000, first refusal at start %d", ok, first)
		})
		t.Run("small budget stays one key", func(t *testing.T) {
			_ = c.FlushAll(ctx)
			ok, first := run(t, []*store.RedisStore{store.NewRedisStoreSplit(c, true)}, 150, 200)
			if ok != 150 || first != 150 || len(keys()) != 1 {
				t.Errorf("budget 150: %d admitted, first refusal %d, keys %v; want 150, 150, one key", ok, first, keys())
			}
		})
		t.Run("single node", func(t *testing.T) {
			_ = c.FlushAll(ctx)
			ok, first := run(t, []*store.RedisStore{store.NewRedisStore(c), store.NewRedisStore(c)}, 800, 1000)
			if ok != 800 || first != 800 || len(keys()) != 1 {
				t.Errorf("budget 800: %d admitted, first refusal %d, keys %v; want exact, one key", ok, first, keys())
			}
		})
	})
}

// rtHook counts round trips like countHook, without a new pooled
// connection's handshake (HELLO, CLIENT SETINFO), which is not the call's work.
type rtHook struct{ n atomic.Int64 }

func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select", "ping":
		return true
	}
	return false
}

func (h *rtHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *rtHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *rtHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}
