package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkRotationsThenReuse rotates one token family b.N times on a real
// redis-server, then presents the family's first token (reuse) and reports
// that script's run time as measured by Redis (SLOWLOG), and the bytes of
// refresh-token state the user has left before it. Issue 10's case:
//
//	go test ./store -run '^$' -bench RotationsThenReuse -benchtime=100000x
func BenchmarkRotationsThenReuse(b *testing.B) {
	ctx := context.Background()
	_, c := testredis.Real(b)
	s := store.NewRedisStore(c)
	now := time.Now()
	if _, _, err := s.CompleteLogin(ctx, store.Login{Project: "P1", UserID: "U1", LoginID: "u@x.io", Contact: store.ContactEmail,
		Address: "u@x.io", RefreshID: "fam", RefreshExpiry: now.Add(30 * 24 * time.Hour), Now: now, New: true}); err != nil {
		b.Fatal(err)
	}
	req := store.SessionRequest{Op: store.OpRefresh, Project: "P1", UserID: "U1", Now: now, Rotate: true}
	b.ResetTimer()
	for i := range b.N {
		req.Token = store.RefreshID{Family: "fam", Generation: int64(i)}
		if r, err := s.Session(ctx, req); err != nil || r.Generation != int64(i+1) {
			b.Fatalf("rotation %d: %+v %v", i, r, err)
		}
	}
	b.StopTimer()
	var state int64
	for _, k := range []string{"rt", "rtg", "rtf", "rtr"} {
		state += c.MemoryUsage(ctx, "otpd:{P1:U1}:"+k).Val()
	}
	if err := c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err(); err != nil {
		b.Fatal(err)
	}
	c.SlowLogReset(ctx)
	req.Token = store.RefreshID{Family: "fam"}
	if r, err := s.Session(ctx, req); err != nil || r.Status != store.SessionReused {
		b.Fatalf("reuse: %+v %v", r, err)
	}
	b.ReportMetric(float64(scriptTime(b, c).Microseconds()), "reuse-redis-µs")
	b.ReportMetric(float64(state), "state-bytes")
}
