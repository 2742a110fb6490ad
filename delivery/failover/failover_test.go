package failover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
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

// fake is a provider that counts its calls: it accepts (with a message
// id), fails transiently, or is slow (waits for the attempt's deadline).
type fake struct {
	id    string
	mode  string // ok, fail, slow
	calls atomic.Int32
}

func (f *fake) SendReceipt(ctx context.Context, o delivery.Outgoing) (string, error) {
	f.calls.Add(1)
	switch f.mode {
	case "fail":
		return "", errors.New(f.id + ": HTTP 503")
	case "slow":
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "SM-" + f.id + "-" + o.ID, nil
}

func (f *fake) Send(ctx context.Context, o delivery.Outgoing) error {
	_, err := f.SendReceipt(ctx, o)
	return err
}

type rig struct {
	rec     *status.Recorder
	sender  *failover.Sender
	clock   *clock.Fake
	reg     *prometheus.Registry
	outcome []string
}

func (r *rig) DeliveryOutcome(project, channel, to, st string) {
	r.outcome = append(r.outcome, project+" "+channel+" "+to+" "+st)
}

// newRig runs on a real redis-server (internal/testredis).
func newRig(t *testing.T, failures int) *rig {
	t.Helper()
	_, rdb := testredis.Real(t)
	r := &rig{clock: clock.NewFake(time.Unix(1_800_000_000, 0)), reg: prometheus.NewRegistry()}
	rec, err := status.NewRecorder(rdb, r.clock, r.reg, r)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = rec
	r.sender = failover.NewSender(rec, failover.NewBreaker(r.clock, failures, time.Minute), nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return r
}

func (r *rig) job(id string) (status.Job, delivery.Outgoing) {
	exp := r.clock.Now().Add(5 * time.Minute)
	j := status.Job{ID: id, Project: "P1", Channel: "sms", To: "+33612345678", Sealed: "sealed-" + id, Expires: exp}
	return j, delivery.Outgoing{ID: id, Attempt: 1, Project: "P1", Channel: "sms", To: j.To, Code: "123456", ExpiresAt: exp}
}

func chain(ps ...*fake) []failover.Provider {
	out := make([]failover.Provider, len(ps))
	for i, p := range ps {
		out[i] = failover.Provider{ID: p.id, Provider: p}
	}
	return out
}

func statusOf(t *testing.T, r *rig, job, provider string) status.ProviderStatus {
	t.Helper()
	all, err := r.rec.Get(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Provider == provider {
			return s
		}
	}
	return status.ProviderStatus{}
}

// A failing first provider hands the job to the second at once, and a job
// that a provider accepted is never sent to it again (a duplicate run of
// the job, as after a reclaim, sends nothing).
func TestFailingProviderHandsToTheNext(t *testing.T) {
	r := newRig(t, 5)
	failing, good := &fake{id: "failing", mode: "fail"}, &fake{id: "good", mode: "ok"}
	j, o := r.job("job-1")
	if err := r.sender.Send(context.Background(), j, o, chain(failing, good), false); err != nil {
		t.Fatalf("send: %v", err)
	}
	if failing.calls.Load() != 1 || good.calls.Load() != 1 {
		t.Fatalf("calls failing=%d good=%d, want 1 and 1", failing.calls.Load(), good.calls.Load())
	}
	if s := statusOf(t, r, "job-1", "good"); s.Status != "queued" || s.MessageID != "SM-good-job-1" {
		t.Fatalf("good's record = %+v", s)
	}
	if err := r.sender.Send(context.Background(), j, o, chain(failing, good), false); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if failing.calls.Load() != 1 || good.calls.Load() != 1 {
		t.Fatalf("a second run sent again: failing=%d good=%d", failing.calls.Load(), good.calls.Load())
	}
	if got := counter(t, r, "sms", "queued"); got != 1 {
		t.Fatalf("otpd_delivery_status_total{sms,queued} = %v, want 1", got)
	}
}

// counter reads otpd_delivery_status_total{channel,status}.
func counter(t *testing.T, r *rig, channel, st string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "otpd_delivery_status_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["channel"] == channel && l["status"] == st {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A slow first provider uses up the attempt's time; the next attempt goes
// to the second provider without calling the slow one again.
func TestSlowProviderHandsToTheNextAttempt(t *testing.T) {
	r := newRig(t, 5)
	slow, good := &fake{id: "slow", mode: "slow"}, &fake{id: "good", mode: "ok"}
	j, o := r.job("job-2")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := r.sender.Send(ctx, j, o, chain(slow, good), false)
	cancel()
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("first attempt: %v, want a transient error", err)
	}
	if err := r.sender.Send(context.Background(), j, o, chain(slow, good), false); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if slow.calls.Load() != 1 || good.calls.Load() != 1 {
		t.Fatalf("calls slow=%d good=%d, want 1 and 1", slow.calls.Load(), good.calls.Load())
	}
}

// After enough failures the provider's circuit opens: jobs skip it
// without calling it until the window has passed.
func TestOpenCircuitSkipsTheProvider(t *testing.T) {
	r := newRig(t, 2)
	failing, good := &fake{id: "failing", mode: "fail"}, &fake{id: "good", mode: "ok"}
	for i := range 5 {
		j, o := r.job(fmt.Sprintf("job-c%d", i))
		if err := r.sender.Send(context.Background(), j, o, chain(failing, good), false); err != nil {
			t.Fatal(err)
		}
	}
	if failing.calls.Load() != 2 || good.calls.Load() != 5 {
		t.Fatalf("calls failing=%d good=%d, want 2 (then the circuit is open) and 5", failing.calls.Load(), good.calls.Load())
	}
	r.clock.Add(time.Minute)
	j, o := r.job("job-after")
	if err := r.sender.Send(context.Background(), j, o, chain(failing, good), false); err != nil {
		t.Fatal(err)
	}
	if failing.calls.Load() != 3 {
		t.Fatalf("after the window failing was called %d times in all, want 3", failing.calls.Load())
	}
	// Every provider failing or open: a transient error, the queue retries.
	other := &fake{id: "other", mode: "fail"}
	j, o = r.job("job-none")
	if err := r.sender.Send(context.Background(), j, o, chain(failing, other), false); err == nil || delivery.IsPermanent(err) {
		t.Fatalf("all failing: %v, want a transient error", err)
	}
}

func binding(j status.Job, project, provider string) status.Binding {
	return status.Binding{Job: j.ID, Project: project, Provider: provider, Channel: j.Channel, Expires: j.Expires.Add(status.Retention).Unix()}
}

// An undelivered status hands the job to the next provider once, never to
// one that had it, and only while the code lives; undelivered and failed
// statuses reach the conversion guard's hook once each.
func TestUndeliveredHandsToTheNextProviderOnce(t *testing.T) {
	r := newRig(t, 5)
	a, b, c := &fake{id: "a", mode: "ok"}, &fake{id: "b", mode: "ok"}, &fake{id: "c", mode: "ok"}
	ctx := context.Background()
	j, o := r.job("job-u")
	if err := r.sender.Send(ctx, j, o, chain(a, b, c), false); err != nil {
		t.Fatal(err)
	}
	order := []string{"a", "b", "c"}
	rs, err := r.rec.Callback(ctx, binding(j, "P1", "a"), "SM-a-job-u", "undelivered", "30003", order)
	if err != nil || rs == nil || rs.Provider != "b" || rs.Job.Sealed != "sealed-job-u" || rs.Job.To != j.To {
		t.Fatalf("undelivered from a: %+v, %v; want a resend to b", rs, err)
	}
	// The same callback again: nothing changes, nothing is counted twice.
	if rs, err := r.rec.Callback(ctx, binding(j, "P1", "a"), "SM-a-job-u", "undelivered", "30003", order); err != nil || rs != nil {
		t.Fatalf("repeated callback: %+v, %v", rs, err)
	}
	if err := r.sender.Send(ctx, j, o, chain(a, b, c), false); err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 1 || c.calls.Load() != 0 {
		t.Fatalf("calls a=%d b=%d c=%d, want 1 1 0", a.calls.Load(), b.calls.Load(), c.calls.Load())
	}
	if rs, err := r.rec.Callback(ctx, binding(j, "P1", "b"), "SM-b-job-u", "undelivered", "", order); err != nil || rs != nil {
		t.Fatalf("a second undelivered: %+v, %v; want no second hand-over", rs, err)
	}
	if s := statusOf(t, r, "job-u", "a"); s.Status != "undelivered" || s.ErrorCode != "30003" {
		t.Fatalf("a's record = %+v", s)
	}
	if len(r.outcome) != 2 || r.outcome[0] != "P1 sms +33612345678 undelivered" {
		t.Fatalf("outcomes = %q, want one per undelivered status", r.outcome)
	}
	// A late "sent" does not undo "undelivered".
	if _, err := r.rec.Callback(ctx, binding(j, "P1", "a"), "SM-a-job-u", "sent", "", order); err != nil {
		t.Fatal(err)
	}
	if s := statusOf(t, r, "job-u", "a"); s.Status != "undelivered" {
		t.Fatalf("a late sent replaced undelivered: %+v", s)
	}

	// Once the code has expired, an undelivered status hands nothing over.
	j2, o2 := r.job("job-late")
	if err := r.sender.Send(ctx, j2, o2, chain(a, b), false); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(6 * time.Minute)
	if rs, err := r.rec.Callback(ctx, binding(j2, "P1", "a"), "SM-a-job-late", "failed", "30008", []string{"a", "b"}); err != nil || rs != nil {
		t.Fatalf("undelivered after expiry: %+v, %v; want no hand-over", rs, err)
	}
}

// A callback never touches a job of another project, a job its provider
// was never given, or a job under another message id.
func TestCallbackStaysWithinItsJob(t *testing.T) {
	r := newRig(t, 5)
	a, b := &fake{id: "a", mode: "ok"}, &fake{id: "b", mode: "ok"}
	ctx := context.Background()
	j, o := r.job("job-x")
	if err := r.sender.Send(ctx, j, o, chain(a, b), false); err != nil {
		t.Fatal(err)
	}
	order := []string{"a", "b"}
	for name, c := range map[string]struct {
		b   status.Binding
		sid string
		err error
	}{
		"other project":      {binding(j, "P2", "a"), "SM-a-job-x", status.ErrUnknown},
		"provider not given": {binding(j, "P1", "b"), "SM-a-job-x", status.ErrUnknown},
		"other message id":   {binding(j, "P1", "a"), "SM-a-job-y", status.ErrMismatch},
		"unknown job":        {status.Binding{Job: "nope", Project: "P1", Provider: "a", Channel: "sms"}, "SM-a-job-x", status.ErrUnknown},
	} {
		if _, err := r.rec.Callback(ctx, c.b, c.sid, "delivered", "", order); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	if s := statusOf(t, r, "job-x", "a"); s.Status != "queued" {
		t.Fatalf("a refused callback changed the record: %+v", s)
	}
	// A job id reused by another project's start is refused, not merged.
	jo, oo := r.job("job-x")
	jo.Project, oo.Project = "P2", "P2"
	if err := r.sender.Send(ctx, jo, oo, chain(a, b), false); !delivery.IsPermanent(err) {
		t.Fatalf("another project's job under the same id: %v", err)
	}
}

// BenchmarkSenderOverhead is what the provider record adds to a delivery
// on redis-server: choosing the provider and recording its answer (two
// round trips), with a provider that accepts at once.
func BenchmarkSenderOverhead(b *testing.B) {
	_, rdb := testredis.Real(b)
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	rec, err := status.NewRecorder(rdb, clk, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	s := failover.NewSender(rec, failover.NewBreaker(clk, 5, time.Minute), nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ps := []failover.Provider{{ID: "a", Provider: &fake{id: "a", mode: "ok"}}, {ID: "b", Provider: &fake{id: "b", mode: "ok"}}}
	exp := clk.Now().Add(5 * time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("bench-%d", i)
		j := status.Job{ID: id, Project: "P1", Channel: "sms", To: "+33612345678", Sealed: "x", Expires: exp}
		if err := s.Send(ctx, j, delivery.Outgoing{ID: id}, ps, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnreachableRecordStillDelivers: when the job's record cannot be
// read (its Redis node is down or failing over), the code still goes out,
// through the first provider whose circuit is closed, instead of waiting
// for the record's slot (codes were held past their use while a Cluster
// master failed over: TestClusterMasterFailover).
func TestUnreachableRecordStillDelivers(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	rec, err := status.NewRecorder(down, clk, prometheus.NewRegistry(), status.NoOutcomes{})
	if err != nil {
		t.Fatal(err)
	}
	br := failover.NewBreaker(clk, 1, time.Minute)
	sender := failover.NewSender(rec, br, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	a, b := &fake{id: "a", mode: "ok"}, &fake{id: "b", mode: "ok"}
	exp := clk.Now().Add(5 * time.Minute)
	j := status.Job{ID: "J1", Project: "P1", Channel: "sms", To: "+33612345678", Sealed: "s", Expires: exp}
	o := delivery.Outgoing{ID: "J1", Attempt: 1, Project: "P1", Channel: "sms", To: j.To, Code: "123456", ExpiresAt: exp}
	if err := sender.Send(context.Background(), j, o, chain(a, b), false); err != nil {
		t.Fatalf("send with the record down: %v", err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 0 {
		t.Fatalf("calls a=%d b=%d, want the first provider once", a.calls.Load(), b.calls.Load())
	}
	// With the first provider's circuit open, the next one gets it.
	br.Failure("P1/a")
	if err := sender.Send(context.Background(), j, o, chain(a, b), false); err != nil {
		t.Fatalf("second send: %v", err)
	}
	if b.calls.Load() != 1 {
		t.Fatalf("b=%d, want the provider with a closed circuit", b.calls.Load())
	}
}
