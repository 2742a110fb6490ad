package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery/queue"
)

// ackTrips is a go-redis hook counting the round trips that acknowledge
// jobs (XACK, or a script: the handlers here never fail, so no retry or
// dead-letter script runs, and Poll is too long for a promotion). A
// script's first EVALSHA, answered NOSCRIPT (it then runs as EVAL, which
// loads it), is not counted: it happens once per server.
type ackTrips struct{ n atomic.Int64 }

func acks(cmds ...redis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			continue
		}
		switch c.Name() {
		case "xack", "evalsha", "eval":
			return true
		}
	}
	return false
}

func (a *ackTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (a *ackTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if !redis.HasErrorPrefix(err, "NOSCRIPT") && acks(cmd) {
			a.n.Add(1)
		}
		return err
	}
}
func (a *ackTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if acks(cmds...) {
			a.n.Add(1)
		}
		return err
	}
}

// TestOneReadIsAcknowledgedInOneRoundTrip: jobs read together from eight
// shards are acknowledged and deleted in one round trip (before: one
// MULTI/XACK/XDEL/EXEC per shard, eight), each delivered once.
func TestOneReadIsAcknowledgedInOneRoundTrip(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		shards := layout(t).Shards()
		for i := range 8 {
			enqueueOn(t, c, shards[2*i], s, fmt.Sprint("job-", i), "123456", time.Now().Add(time.Minute))
		}
		wc := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
		t.Cleanup(func() { _ = wc.Close() })
		trips := &ackTrips{}
		wc.AddHook(trips)
		rec := &recorder{}
		// AckDelay (1s) is far longer than eight no-op deliveries take.
		run(t, wc, s, rec.handle, queue.Options{Concurrency: 4, AckDelay: time.Second, ClaimIdle: time.Hour,
			Poll: time.Hour, Sweep: time.Hour})
		waitFor(t, "every job acknowledged and deleted", func() bool { return depth(t, c) == 0 && pending(t, c) == 0 })
		if n := trips.n.Load(); n != 1 {
			t.Errorf("%d round trips acknowledged the jobs of one read, want 1", n)
		}
		seen := map[string]int{}
		for _, j := range rec.calls() {
			seen[j.ID]++
		}
		for i := range 8 {
			if id := fmt.Sprint("job-", i); seen[id] != 1 {
				t.Errorf("%s delivered %d times", id, seen[id])
			}
		}
	})
}

// TestStopAcknowledgesFinishedJobs: jobs delivered just before the worker
// stops are acknowledged before Run returns, though AckDelay has not
// passed: a restart does not send them again.
func TestStopAcknowledgesFinishedJobs(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		got := make(chan queue.Job, 3)
		rec := &recorder{got: got}
		w := queue.NewWorker(c, s, rec.handle, clock.Real{}, quiet, nil, queue.Options{AckDelay: time.Hour, ClaimIdle: 100 * time.Hour,
			Block: 100 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = w.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		for i := range 3 {
			enqueue(t, c, s, fmt.Sprint("late-", i), "123456", time.Now().Add(time.Minute))
		}
		for range 3 {
			<-got
		}
		if pending(t, c) != 3 {
			t.Fatalf("%d pending: the test wants the acknowledgements still held (AckDelay 1h)", pending(t, c))
		}
		cancel()
		<-done
		if p, d := pending(t, c), depth(t, c); p != 0 || d != 0 {
			t.Fatalf("after Run returned: %d pending, %d in the streams; want the finished jobs acknowledged and deleted", p, d)
		}
	})
}

// failFirstAck is a go-redis hook failing the first script call (the
// handlers here never fail and Poll is an hour: only acknowledgements run
// scripts), as a timeout or a failover would.
type failFirstAck struct{ failed atomic.Bool }

func (f *failFirstAck) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failFirstAck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); (n == "evalsha" || n == "eval") && f.failed.CompareAndSwap(false, true) {
			err := errors.New("i/o timeout (injected)")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (f *failFirstAck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFailedAcknowledgementIsRetried: when the round trip acknowledging a
// read's jobs fails, they are acknowledged with the next flush instead of
// waiting, pending, to be reclaimed and sent again.
func TestFailedAcknowledgementIsRetried(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		for i := range 4 {
			enqueue(t, c, s, fmt.Sprint("retry-ack-", i), "123456", time.Now().Add(time.Minute))
		}
		wc := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
		t.Cleanup(func() { _ = wc.Close() })
		hook := &failFirstAck{}
		wc.AddHook(hook)
		rec := &recorder{}
		// ClaimIdle is an hour: only the acker's retry can acknowledge them.
		run(t, wc, s, rec.handle, queue.Options{Concurrency: 2, ClaimIdle: time.Hour, Poll: time.Hour, Sweep: time.Hour})
		waitFor(t, "every job acknowledged and deleted after the failed round trip", func() bool {
			return depth(t, c) == 0 && pending(t, c) == 0
		})
		if !hook.failed.Load() {
			t.Fatal("no acknowledgement failed: the test did not test anything")
		}
		if n := len(rec.calls()); n != 4 {
			t.Errorf("%d deliveries of 4 jobs", n)
		}
	})
}
