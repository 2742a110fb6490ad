package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkPendingCodeBytes stores b.N sign-up-or-in codes as a start with
// the benchmark's settings does (make bench: limits off, no payload) on a
// real redis-server and reports what one pending code costs: used_memory
// growth per code (the README's "Redis bytes per pending code") and
// MEMORY USAGE of a code key. Run with -benchtime=20000x (make bench's n).
func BenchmarkPendingCodeBytes(b *testing.B) {
	_, c := testredis.Real(b)
	ctx := context.Background()
	s := store.NewRedisStore(c)
	const project = "P2benchmark00000000000000000" // make bench's project id
	now := time.Now()
	used := func() int64 {
		info := c.Info(ctx, "memory").Val()
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory")
		return 0
	}
	h := hash("000000")
	before := used()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("mem-%d@bench.test", i)
		res, err := s.StartCode(ctx, store.NewCode{
			Key: store.CodeKey{Project: project, LoginID: id, Channel: "email"}, Rule: store.RuleAny,
			Purpose: "signup-in", Hash: h, Contact: store.ContactEmail, NewUserAddress: id,
			MaxAttempts: 5, ExpiresAt: now.Add(3 * time.Minute), Retain: 4 * time.Minute, Now: now,
		})
		if err != nil || res.Status != store.StartOK {
			b.Fatal(res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(used()-before)/float64(b.N), "used-B/code")
	var sum, k float64
	for i := 0; i < b.N; i += max(1, b.N/100) {
		key := store.CodeKeyName(store.CodeKey{Project: project, LoginID: fmt.Sprintf("mem-%d@bench.test", i), Channel: "email"})
		if v, err := c.MemoryUsage(ctx, key).Result(); err == nil {
			sum += float64(v)
			k++
		}
	}
	b.ReportMetric(sum/k, "usage-B/code")
	_ = redis.Nil
}
