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
// hear an undelivered status: its record is written once the provider
// accepted, without the sealed job, and kept until the code expires; a
// duplicate run still sends nothing.
func TestSingleProviderRecordIsSmall(t *testing.T) {
	r, rdb := singleRig(t)
	ctx := context.Background()
	p := &fake{id: "tw", mode: "ok"}
	j, o := r.job("job-s")
	if err := r.sender.Send(ctx, j, o, chain(p), false); err != nil {
		t.Fatalf("send: %v", err)
	}
	if s := statusOf(t, r, "job-s", "tw"); s.Status != "queued" || s.MessageID != "SM-tw-job-s" {
		t.Fatalf("record = %+v", s)
	}
	h := rdb.HGetAll(ctx, status.Key("job-s")).Val()
	for _, f := range []string{"j", "to", "c"} {
		if _, ok := h[f]; ok {
			t.Fatalf("the record keeps %q (%v): nothing can send the job again", f, h)
		}
	}
	ttl := rdb.PTTL(ctx, status.Key("job-s")).Val()
	// The fake clock is far in the future of the server's: compare the
	// absolute expiry.
	at := rdb.PExpireTime(ctx, status.Key("job-s")).Val()
	if ttl <= 0 || at != time.Duration(j.Expires.UnixMilli())*time.Millisecond {
		t.Fatalf("record expires at %v (ttl %v), want the code's expiry %v", at, ttl, j.Expires.UnixMilli())
	}
	if err := r.sender.Send(ctx, j, o, chain(p), false); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if p.calls.Load() != 1 {
		t.Fatalf("a duplicate run sent again: %d calls", p.calls.Load())
	}
	if got := counter(t, r, "sms", "queued"); got != 1 {
		t.Fatalf("otpd_delivery_status_total{sms,queued} = %v, want 1", got)
	}
	// Another project's job under the same id is refused for good.
	jo := j
	jo.Project = "P2"
	if err := r.sender.Send(ctx, jo, o, chain(p), false); !delivery.IsPermanent(err) {
		t.Fatalf("another project's run = %v, want permanent", err)
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
	if err := r.sender.Send(ctx, j, o, []failover.Provider{{ID: "wh", Provider: p}}, false); err != nil || p.calls != 1 {
		t.Fatalf("a duplicate run: err %v, calls %d (want nil, 1)", err, p.calls)
	}
}

// The development log provider has no record at all: the console and the
// metric still see the job as queued.
func TestLogProviderHasNoRecord(t *testing.T) {
	r, rdb := singleRig(t)
	ctx := context.Background()
	var seen []status.Update
	r.rec.Observe(func(u status.Update) { seen = append(seen, u) })
	j, o := r.job("job-l")
	lp := delivery.NewLogProvider(io.Discard)
	if err := r.sender.Send(ctx, j, o, []failover.Provider{{ID: "log", Provider: lp}}, false); err != nil {
		t.Fatalf("send: %v", err)
	}
	if n := rdb.Exists(ctx, status.Key("job-l")).Val(); n != 0 {
		t.Fatalf("the log provider's job has a record: %v", rdb.HGetAll(ctx, status.Key("job-l")).Val())
	}
	if len(seen) != 1 || seen[0].Status != status.Queued || seen[0].Provider != "log" {
		t.Fatalf("observed %+v", seen)
	}
	if got := counter(t, r, "sms", "queued"); got != 1 {
		t.Fatalf("otpd_delivery_status_total{sms,queued} = %v, want 1", got)
	}
}
