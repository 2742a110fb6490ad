package failover_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/failover"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/internal/testredis"
)

// codes records what each provider was handed.
type codes struct {
	mu  sync.Mutex
	got map[string][]string // provider -> codes
}

func (c *codes) add(p, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[p] = append(c.got[p], code)
}

func (c *codes) of(p string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got[p]...)
}

type recording struct {
	*fake
	c *codes
}

func (r recording) SendReceipt(ctx context.Context, o delivery.Outgoing) (string, error) {
	id, err := r.fake.SendReceipt(ctx, o)
	if err == nil {
		r.c.add(r.id, o.Code)
	}
	return id, err
}

// TestQueueFailsOverAndHandsOverUndelivered runs the real queue worker on
// redis-server: a slow provider, then a failing one, then a good one; the
// code reaches the good one exactly once. An undelivered status then
// queues the job again, and the worker hands the same code to the next
// provider, once.
func TestQueueFailsOverAndHandsOverUndelivered(t *testing.T) {
	_, rdb := testredis.Real(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sealer, err := seal.New([][]byte{bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	layout, _ := queue.NewLayout(4)
	clk := clock.Real{}
	rec, err := status.NewRecorder(rdb, clk, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender := failover.NewSender(rec, failover.NewBreaker(clk, 5, time.Minute), nil, log, nil)
	got := &codes{got: map[string][]string{}}
	slow, failing := &fake{id: "slow", mode: "slow"}, &fake{id: "failing", mode: "fail"}
	good, spare := recording{&fake{id: "good", mode: "ok"}, got}, recording{&fake{id: "spare", mode: "ok"}, got}
	chainOf := map[string][]failover.Provider{
		"sms":   {{ID: "slow", Provider: slow}, {ID: "failing", Provider: failing}, {ID: "good", Provider: good}},
		"voice": {{ID: "good", Provider: good}, {ID: "spare", Provider: spare}},
	}
	handler := func(ctx context.Context, j queue.Job) error {
		o := delivery.Outgoing{ID: j.ID, Attempt: j.Attempt, Project: j.Project, Channel: j.Channel, To: j.To, Code: j.Code, ExpiresAt: j.ExpiresAt}
		return sender.Send(ctx, status.Job{ID: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Sealed: j.Sealed, Expires: j.ExpiresAt},
			o, chainOf[j.Channel], false)
	}
	w := queue.NewWorker(rdb, sealer, handler, clk, log, nil, queue.Options{Concurrency: 2, Layout: layout,
		SendTimeout: 200 * time.Millisecond, Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		Poll: 10 * time.Millisecond, Block: 50 * time.Millisecond, ClaimIdle: 5 * time.Second})
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	producer := queue.NewProducer(sealer, 1000, rand.Reader, layout)
	enqueue := func(channel, code string) string {
		m := delivery.Message{Project: "P1", Channel: channel, To: "+33612345678", Code: code, ExpiresAt: time.Now().Add(5 * time.Minute)}
		j, err := producer.Prepare(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		sh, _ := layout.ForJob(j.ID)
		if err := queue.Enqueue(ctx, rdb, sh, queue.Sealed{ID: j.ID, Payload: j.Payload, Expiry: m.ExpiresAt}, m.To, 1000); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	enqueue("sms", "111111")
	waitFor("the good provider", func() bool { return len(got.of("good")) == 1 })
	time.Sleep(300 * time.Millisecond) // anything sent twice would show by now
	if g := got.of("good"); len(g) != 1 || g[0] != "111111" || slow.calls.Load() != 1 || failing.calls.Load() != 1 {
		t.Fatalf("good=%v slow=%d failing=%d; want the code once at good after one try each", g, slow.calls.Load(), failing.calls.Load())
	}

	id := enqueue("voice", "222222")
	waitFor("the first voice provider", func() bool { return len(got.of("good")) == 2 })
	all, _ := rec.Get(ctx, id)
	var sid string
	for _, s := range all {
		if s.Provider == "good" {
			sid = s.MessageID
		}
	}
	b := status.Binding{Job: id, Project: "P1", Provider: "good", Channel: "voice", Expires: time.Now().Add(time.Hour).Unix()}
	rs, err := rec.Callback(ctx, b, sid, status.Undelivered, "", []string{"good", "spare"})
	if err != nil || rs == nil || rs.Provider != "spare" {
		t.Fatalf("undelivered: %+v %v", rs, err)
	}
	sh, _ := layout.ForJob(id)
	if err := queue.Enqueue(ctx, rdb, sh, queue.Sealed{ID: id, Payload: rs.Job.Sealed, Expiry: rs.Job.Expires}, rs.Job.To, 1000); err != nil {
		t.Fatal(err)
	}
	waitFor("the spare provider", func() bool { return len(got.of("spare")) == 1 })
	time.Sleep(300 * time.Millisecond)
	if g, s := got.of("good"), got.of("spare"); len(g) != 2 || len(s) != 1 || s[0] != "222222" {
		t.Fatalf("good=%v spare=%v; want the voice code handed to spare once", g, s)
	}
}
