package failover_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/failover"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/internal/testredis"
)

// refusing is a provider that refuses every job for good (a bad number).
type refusing struct{ calls int }

func (p *refusing) Send(context.Context, delivery.Outgoing) error {
	p.calls++
	return delivery.Permanent(errors.New("HTTP 400: invalid number"))
}

func singleRig(t *testing.T) (*rig, redis.UniversalClient) {
	t.Helper()
	_, rdb := testredis.Real(t)
	r := &rig{clock: clock.NewFake(time.Unix(1_800_000_000, 0)), reg: prometheus.NewRegistry()}
	rec, err := status.NewRecorder(rdb, r.clock, r.reg, r)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = rec
	r.sender = failover.NewSender(rec, failover.NewBreaker(r.clock, 5, time.Minute), nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return r, rdb
}

// A channel with one provider and no status callback cannot fail over nor
// hear an undelivered status: an accepted job leaves no record in Redis
// (no copy of the sealed job kept 30 minutes), and its status still
// reaches the metric and the console.
func TestSingleProviderAcceptanceHasNoRecord(t *testing.T) {
	r, rdb := singleRig(t)
	ctx := context.Background()
	var seen []status.Update
	r.rec.Observe(func(u status.Update) { seen = append(seen, u) })
	for _, p := range []failover.Provider{{ID: "tw", Provider: &fake{id: "tw", mode: "ok"}}, {ID: "log", Provider: delivery.NewLogProvider(io.Discard)}} {
		j, o := r.job("job-" + p.ID)
		if err := r.sender.Send(ctx, j, o, []failover.Provider{p}, false); err != nil {
			t.Fatalf("send: %v", err)
		}
		if n := rdb.Exists(ctx, status.Key(j.ID)).Val(); n != 0 {
			t.Fatalf("%s's accepted job has a record: %v", p.ID, rdb.HGetAll(ctx, status.Key(j.ID)).Val())
		}
	}
	if len(seen) != 2 || seen[0].Status != status.Queued || seen[0].Provider != "tw" || seen[1].Provider != "log" {
		t.Fatalf("observed %+v", seen)
	}
	if got := counter(t, r, "sms", "queued"); got != 2 {
		t.Fatalf("otpd_delivery_status_total{sms,queued} = %v, want 2", got)
	}
}

// A permanent failure of the only provider is recorded as failed (otpd
// deadletters shows it) and reaches the pumping guard's outcomes.
func TestSingleProviderFailureReachesOutcomes(t *testing.T) {
	r, rdb := singleRig(t)
	ctx := context.Background()
	p := &refusing{}
	j, o := r.job("job-f")
	err := r.sender.Send(ctx, j, o, []failover.Provider{{ID: "wh", Provider: p}}, false)
	if !delivery.IsPermanent(err) {
		t.Fatalf("send = %v, want permanent", err)
	}
	if s := statusOf(t, r, "job-f", "wh"); s.Status != "failed" {
		t.Fatalf("record = %+v", s)
	}
	if len(r.outcome) != 1 || r.outcome[0] != "P1 sms +33612345678 failed" {
		t.Fatalf("outcomes = %v", r.outcome)
	}
	if at := rdb.PExpireTime(ctx, status.Key("job-f")).Val(); at != time.Duration(j.Expires.Add(status.Retention).UnixMilli())*time.Millisecond {
		t.Fatalf("failed record expires at %v, want the code's expiry + Retention", at)
	}
}
