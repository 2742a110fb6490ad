package queue_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/redisconn"
)

// TestLayoutSpacing: every allowed shard count puts shard i's slot in the
// i-th of n equal slot ranges (so Cluster's contiguous per-master ranges
// get an even share); other counts are refused.
func TestLayoutSpacing(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, 3, 12, 48, 65, 128} {
		if _, err := queue.NewLayout(n); err == nil {
			t.Errorf("NewLayout(%d): no error", n)
		}
	}
	for n := 1; n <= queue.MaxShards; n *= 2 {
		l, err := queue.NewLayout(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Shards()) != n {
			t.Fatalf("%d shards: %d active", n, len(l.Shards()))
		}
		for i, sh := range l.Shards() {
			lo, hi := i*16384/n, (i+1)*16384/n
			for _, k := range []string{sh.Stream, sh.Delayed, sh.Dead} {
				if s := int(redisconn.Slot(k)); s < lo || s >= hi {
					t.Errorf("%d shards: shard %d key %s in slot %d, want [%d, %d)", n, i, k, s, lo, hi)
				}
			}
			if got, ok := l.Shard(sh.Name); !ok || got != sh {
				t.Errorf("Shard(%q) = %+v, %v", sh.Name, got, ok)
			}
		}
		all := l.All()
		if len(all) != queue.MaxShards+1 || all[0].Stream != queue.LegacyStreamKey {
			t.Fatalf("All: %d shards, first %+v", len(all), all[0])
		}
		for _, sh := range l.Shards() {
			if !slices.Contains(all, sh) {
				t.Errorf("active shard %+v not in All", sh)
			}
		}
	}
}

// TestLayoutKeysArePinned: the shard keys are a storage format (jobs wait
// under them across upgrades and restarts); changing them would strand
// jobs. This pins them.
func TestLayoutKeysArePinned(t *testing.T) {
	t.Parallel()
	l, _ := queue.NewLayout(queue.MaxShards)
	var b strings.Builder
	for _, sh := range l.All() {
		fmt.Fprintf(&b, "%s %s %s %s\n", sh.Name, sh.Stream, sh.Delayed, sh.Dead)
	}
	if first := l.All()[1]; first.Stream != "otpd:{q0-46}:jobs" {
		t.Errorf("position 0: %+v", first)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte(b.String()))); got != pinnedLayout {
		t.Fatalf("the shard keys changed (sha256 %s):\n%s", got, b.String())
	}
}

const pinnedLayout = "53e9c3a97baf4212f69437f988d283cc9951c80ca66a836413f3e9bc3b9df064"

// TestProducerSpreadsJobs: jobs spread over every shard (by their random
// ids), none above twice its share.
func TestProducerSpreadsJobs(t *testing.T) {
	t.Parallel()
	l := layout(t)
	p := queue.NewProducer(sealer(t), 0, rand.NewChaCha8([32]byte{1}), l)
	per := map[string]int{}
	const n = 3200
	for range n {
		j, err := p.Prepare(context.Background(), delivery.Message{Channel: "sms", Code: "1", ExpiresAt: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		per[j.Stream]++
	}
	share := n / len(l.Shards())
	for _, sh := range l.Shards() {
		if c := per[sh.Stream]; c == 0 || c > 2*share {
			t.Errorf("shard %s got %d of %d jobs (share %d)", sh.Name, c, n, share)
		}
	}
	if len(per) != len(l.Shards()) {
		t.Errorf("jobs went to %d streams, want the %d shards", len(per), len(l.Shards()))
	}
}

// TestWorkerDrainsEveryShard: a worker delivers jobs from every active
// shard, from the pre-sharding (legacy) keys - a stream an older API
// server created without the group, and a retry an older worker parked -
// and from the shards of another shard count, in both directions
// (OTPD_QUEUE_SHARDS changed on a live deployment: nothing is lost).
func TestWorkerDrainsEveryShard(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ produced, consumed int }{{16, 16}, {8, 16}, {64, 1}, {1, 64}} {
		t.Run(fmt.Sprintf("%d-to-%d", c.produced, c.consumed), func(t *testing.T) {
			t.Parallel()
			backends(t, func(t *testing.T, rdb *redis.Client) {
				s := sealer(t)
				ctx := context.Background()
				old, _ := queue.NewLayout(c.produced)
				legacy, _ := old.Shard("legacy")
				want := map[string]bool{}
				for i, sh := range old.Shards() {
					id := fmt.Sprintf("job-%d", i)
					enqueueOn(t, rdb, sh, s, id, "123456", time.Now().Add(time.Minute))
					want[id] = true
				}
				enqueueOn(t, rdb, legacy, s, "legacy-job", "123456", time.Now().Add(time.Minute))
				want["legacy-job"] = true
				// A retry parked by an older worker in the legacy delayed set.
				sj, err := queue.Seal(s, "legacy-retry", delivery.Message{Channel: "sms", Code: "1", ExpiresAt: time.Now().Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				member := fmt.Sprintf(`{"id":"legacy-retry","j":%q,"to":"+1","exp":"%d","a":"2"}`, sj.Payload, time.Now().Add(time.Minute).UnixMilli())
				if err := rdb.ZAdd(ctx, queue.LegacyDelayedKey, redis.Z{Score: 1, Member: member}).Err(); err != nil {
					t.Fatal(err)
				}
				want["legacy-retry"] = true

				rec := &recorder{}
				now, _ := queue.NewLayout(c.consumed)
				run(t, rdb, s, rec.handle, queue.Options{Layout: now, Sweep: 20 * time.Millisecond})
				waitFor(t, "every job", func() bool { return len(rec.calls()) >= len(want) })
				waitFor(t, "an empty queue", func() bool { return depth(t, rdb) == 0 && pending(t, rdb) == 0 })
				got := map[string]int{}
				for _, j := range rec.calls() {
					got[j.ID]++
				}
				for id := range want {
					if got[id] != 1 {
						t.Errorf("job %s delivered %d times", id, got[id])
					}
				}
				if len(got) != len(want) {
					t.Errorf("delivered %v, want %v", got, want)
				}
			})
		})
	}
}

// TestDeadLettersAcrossShards: dead letters of several shards and of the
// legacy keys are listed together, oldest first, with ids naming their
// shard; replay and purge act on the named shard only; an id that names
// no shard is refused.
func TestDeadLettersAcrossShards(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb *redis.Client) {
		s := sealer(t)
		ctx := context.Background()
		l := layout(t)
		legacy, _ := l.Shard("legacy")
		on := []queue.Shard{l.Shards()[2], legacy, l.Shards()[9]}
		for i, sh := range on {
			enqueueOn(t, rdb, sh, s, fmt.Sprintf("dead-%d", i), "123456", time.Now().Add(time.Minute))
		}
		run(t, rdb, s, func(context.Context, queue.Job) error { return delivery.Permanent(errors.New("rejected")) },
			queue.Options{Concurrency: 1, Sweep: 20 * time.Millisecond})
		waitFor(t, "three dead letters", func() bool { return len(deadLetters(t, rdb)) == 3 })

		d := queue.NewDeadLetters(rdb, s, 1000, l)
		var got []queue.DeadLetter
		if err := d.Each(ctx, func(dl queue.DeadLetter) bool { got = append(got, dl); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("listed %d dead letters, want 3", len(got))
		}
		shardOfJob := map[string]string{}
		for i, dl := range got {
			name, _, _ := strings.Cut(dl.EntryID, "/")
			shardOfJob[dl.JobID] = name
			if dl.Project != "P1" || dl.Reason != "permanent" {
				t.Errorf("dead letter %+v", dl)
			}
			// Oldest first is Redis's order of dead-lettering (the entry
			// id's time and sequence), not the worker's clock in At: two
			// goroutines (the shard reader and the legacy sweep) can
			// stamp At a millisecond apart in the other order. Streams
			// of different shards can hold the same id.
			if i > 0 && entryBefore(dl.EntryID, got[i-1].EntryID) {
				t.Errorf("not oldest first: %s listed after %s", dl.EntryID, got[i-1].EntryID)
			}
		}
		for i, sh := range on {
			if shardOfJob[fmt.Sprintf("dead-%d", i)] != sh.Name {
				t.Errorf("job dead-%d listed on shard %q, want %q", i, shardOfJob[fmt.Sprintf("dead-%d", i)], sh.Name)
			}
		}
		for _, bad := range []string{"1733-0", "nope/1733-0", "3/", "/1733-0", "3/1733", "3/1733-", "3/-0", "3/+"} {
			if _, err := d.Replay(ctx, bad); !errors.Is(err, queue.ErrBadEntryID) {
				t.Errorf("Replay(%q): %v", bad, err)
			}
			if _, err := d.Purge(ctx, bad); !errors.Is(err, queue.ErrBadEntryID) {
				t.Errorf("Purge(%q): %v", bad, err)
			}
		}
		// Stop the worker's reads from taking the replayed job: replay to a
		// shard, and check it is back on that shard's stream.
		var legacyID string
		var others []string
		for _, dl := range got {
			if strings.HasPrefix(dl.EntryID, "legacy/") {
				legacyID = dl.EntryID
			} else {
				others = append(others, dl.EntryID)
			}
		}
		if ok, err := d.Replay(ctx, legacyID); !ok || err != nil {
			t.Fatalf("replay %s: %v %v", legacyID, ok, err)
		}
		if ok, err := d.Replay(ctx, legacyID); ok || err != nil {
			t.Fatalf("second replay %s: %v %v (want false: replaying twice enqueues once)", legacyID, ok, err)
		}
		if n, err := d.Purge(ctx, others...); n != 2 || err != nil {
			t.Fatalf("purge %v: %d %v", others, n, err)
		}
		// The replayed legacy job is drained again (and dead again).
		waitFor(t, "the replayed job dead-lettered again", func() bool {
			return len(deadLetters(t, rdb)) == 1 && rdb.XLen(ctx, legacy.Dead).Val() == 1
		})
	})
}

// TestBlockingReadsLeaveThePool: on a single node one blocking read covers
// every shard, so a worker on 64 shards with a 3-connection pool leaves
// connections to the request path (a reader per shard would hold 64).
func TestBlockingReadsLeaveThePool(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		rdb := redis.NewClient(&redis.Options{Addr: c.Options().Addr, PoolSize: 3, PoolTimeout: 200 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { _ = rdb.Close() })
		s := sealer(t)
		l, _ := queue.NewLayout(queue.MaxShards)
		rec := &recorder{}
		w := queue.NewWorker(rdb, s, rec.handle, clock.Real{}, quiet, nil, queue.Options{Layout: l, Concurrency: 1, Block: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = w.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, "the worker to run", func() bool { return w.State() == queue.StateRunning })
		time.Sleep(100 * time.Millisecond) // its reads are blocking now
		for i := range 20 {
			if err := rdb.Set(context.Background(), fmt.Sprint("k", i), "v", 0).Err(); err != nil {
				t.Fatalf("request-path command %d: %v", i, err)
			}
		}
		enqueueOn(t, rdb, l.Shards()[40], s, "late", "123456", time.Now().Add(time.Minute))
		waitFor(t, "delivery", func() bool { return len(rec.calls()) == 1 })
	})
}

// TestDepthGauges: otpd_delivery_queue_jobs sums every shard (legacy
// included): parked retries and dead letters in several shards; and
// otpd_delivery_jobs_total counts each outcome once.
func TestDepthGauges(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb *redis.Client) {
		s := sealer(t)
		l := layout(t)
		legacy, _ := l.Shard("legacy")
		reg := prometheus.NewRegistry()
		m, err := queue.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		for i, sh := range []queue.Shard{l.Shards()[1], legacy, l.Shards()[7]} {
			enqueueOn(t, rdb, sh, s, fmt.Sprint("dead-", i), "1", time.Now().Add(time.Minute))
			enqueueOn(t, rdb, sh, s, fmt.Sprint("parked-", i), "1", time.Now().Add(time.Minute))
		}
		h := func(_ context.Context, j queue.Job) error {
			if strings.HasPrefix(j.ID, "dead-") {
				return delivery.Permanent(errors.New("rejected"))
			}
			return errors.New("try later")
		}
		ctx, cancel := context.WithCancel(context.Background())
		w := queue.NewWorker(rdb, s, h, clock.Real{}, quiet, m, queue.Options{Layout: l, Sweep: 20 * time.Millisecond,
			Block: 100 * time.Millisecond, Backoff: func(int) time.Duration { return time.Hour }})
		done := make(chan struct{})
		go func() { _ = w.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		gauge := func(state string) float64 {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() != "otpd_delivery_queue_jobs" {
					continue
				}
				for _, mm := range mf.GetMetric() {
					if mm.GetLabel()[0].GetValue() == state {
						return mm.GetGauge().GetValue()
					}
				}
			}
			return -1
		}
		waitFor(t, "3 dead, 3 parked, none waiting in the gauges", func() bool {
			return gauge("dead") == 3 && gauge("parked") == 3 && gauge("waiting") == 0
		})
		jobs := func(outcome string) float64 {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() != "otpd_delivery_jobs_total" {
					continue
				}
				for _, mm := range mf.GetMetric() {
					l := mm.GetLabel() // sorted: channel, outcome
					if l[0].GetValue() == "sms" && l[1].GetValue() == outcome {
						return mm.GetCounter().GetValue()
					}
				}
			}
			return -1
		}
		if jobs("dead") != 3 || jobs("retried") != 3 {
			t.Errorf("otpd_delivery_jobs_total{channel=sms}: dead %v, retried %v; want 3 and 3", jobs("dead"), jobs("retried"))
		}
	})
}

// entryBefore reports whether dead-letter id a ("<shard>/<ms>-<seq>") was
// appended before b.
func entryBefore(a, b string) bool {
	parse := func(id string) (uint64, uint64) {
		_, e, _ := strings.Cut(id, "/")
		ms, seq, _ := strings.Cut(e, "-")
		x, _ := strconv.ParseUint(ms, 10, 64)
		y, _ := strconv.ParseUint(seq, 10, 64)
		return x, y
	}
	am, as := parse(a)
	bm, bs := parse(b)
	return am < bm || am == bm && as < bs
}
