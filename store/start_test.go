package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// TestStartReplacesTheRecord: a start replaces whatever record the login
// id had on the channel, field by field: the optional fields of an earlier
// code (address, payload), a previous release's fields ('p'), a counted
// attempt and a decoy all go; the new record holds exactly what the new
// code says, and its TTL.
func TestStartReplacesTheRecord(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		key := store.CodeKey{Project: "P1", LoginID: "alice", Channel: "email"}
		name := store.CodeKeyName(key)
		fields := func() string {
			f := c.HKeys(ctx, name).Val()
			slices.Sort(f)
			return strings.Join(f, ",")
		}
		start := func(nc store.NewCode) {
			t.Helper()
			nc.Key = key
			if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
				t.Fatalf("start: %+v %v", r, err)
			}
		}
		// A user name login id: the address is stored, and a payload.
		nc := newCode("alice", "111111", store.RuleAny)
		nc.NewUserAddress, nc.Payload = "alice@x.io", []byte(`{"x":1}`)
		start(nc)
		if got := fields(); got != "a,c,e,h,m,n,to,u" {
			t.Fatalf("first record: %s", got)
		}
		// A wrong code counts an attempt.
		a := attempt("alice", "999999", t0)
		a.Key = key
		if v, err := s.VerifyCode(ctx, a); err != nil || v.Status != store.VerifyWrong {
			t.Fatalf("wrong code: %+v %v", v, err)
		}
		// The next start has no payload: 'u' goes, the attempts start again.
		nc = newCode("alice", "222222", store.RuleAny)
		nc.NewUserAddress = "alice@x.io"
		start(nc)
		if got := fields(); got != "a,c,e,h,m,n,to" {
			t.Fatalf("second record: %s", got)
		}
		if rec := c.HGetAll(ctx, name).Val(); rec["a"] != "0" || rec["h"] != string(hash("222222")) || rec["to"] != "alice@x.io" ||
			rec["m"] != "3" || rec["e"] != fmt.Sprint(nc.ExpiresAt.UnixMilli()) || rec["c"] != fmt.Sprint(nc.Now.UnixMilli()) || rec["n"] != "1" {
			t.Fatalf("second record: %v", rec)
		}
		if ttl := c.PTTL(ctx, name).Val(); ttl <= 14*time.Minute || ttl > 15*time.Minute {
			t.Fatalf("TTL %v, want the record's 15m", ttl)
		}
		// A previous release's record (every field, 'p' included) and a
		// decoy are replaced the same way.
		c.HSet(ctx, name, "h", hash("333333"), "p", "signup-in", "to", "", "a", 2, "m", 3,
			"e", t0.Add(time.Minute).UnixMilli(), "u", "", "f", "email", "c", t0.UnixMilli(), "o", "", "n", "1")
		nc = newCode("alice", "444444", store.RuleAny)
		nc.NewUserAddress = "alice@x.io"
		start(nc)
		if got := fields(); got != "a,c,e,h,m,n,to" {
			t.Fatalf("over a previous release's record: %s", got)
		}
		c.Del(ctx, name)
		c.HSet(ctx, name, "h", "decoy", "a", 1, "m", 3, "e", t0.Add(time.Minute).UnixMilli(), "c", t0.UnixMilli())
		start(newCode("alice", "555555", store.RuleAny)) // login id = address: no 'to'
		if got := fields(); got != "a,c,e,h,m,n" {
			t.Fatalf("over a decoy: %s", got)
		}
		a = attempt("alice", "555555", t0)
		a.Key = key
		if v, err := s.VerifyCode(ctx, a); err != nil || v.Status != store.VerifyOK || v.Address != "alice" {
			t.Fatalf("the new code: %+v %v", v, err)
		}
	})
}

// TestStartTrimsAFullQueue: a start whose queue shard is far over its cap
// (a provider outage) still trims it, to within one stream node (100
// entries) of the cap, and its own job is kept.
func TestStartTrimsAFullQueue(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, c *redis.Client, s *store.RedisStore) {
		ctx := context.Background()
		const stream = "otpd:{q8-8}:jobs"
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 1000 {
				p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"id", fmt.Sprint("old-", i), "j", "x", "to", "a@x.io", "exp", "1"}})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			nc := newCode(fmt.Sprintf("u%d@x.io", i), "123456", store.RuleAny)
			nc.Job = &store.Job{ID: fmt.Sprint("job-", i), Payload: "sealed", Stream: stream, MaxLen: 10}
			if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
				t.Fatalf("start: %+v %v", r, err)
			}
		}
		if n := c.XLen(ctx, stream).Val(); n < 10 || n > 10+100 {
			t.Fatalf("stream length %d with MaxLen 10: want 10..110", n)
		}
		last := c.XRevRangeN(ctx, stream, "+", "-", 3).Val()
		if len(last) != 3 || last[0].Values["id"] != "job-2" || last[2].Values["id"] != "job-0" {
			t.Fatalf("newest entries: %+v", last)
		}
	})
}
