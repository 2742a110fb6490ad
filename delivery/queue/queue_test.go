package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/internal/testredis"
)

func backends(t *testing.T, fn func(t *testing.T, c *redis.Client)) {
	for _, b := range []struct {
		name string
		new  func(t *testing.T) *redis.Client
	}{
		{"miniredis", func(t *testing.T) *redis.Client { _, c := testredis.Mini(t); return c }},
		{"redis-server", func(t *testing.T) *redis.Client { _, c := testredis.Real(t); return c }},
	} {
		t.Run(b.name, func(t *testing.T) { t.Parallel(); fn(t, b.new(t)) })
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sealer(t testing.TB) *seal.Sealer {
	s, err := seal.New([][]byte{bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// layout is the default layout (DefaultShards), as workers use it.
func layout(t testing.TB) *queue.Layout {
	l, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// shardOf spreads test jobs over the default layout's shards by id.
func shardOf(t testing.TB, id string) queue.Shard {
	h := fnv.New32a()
	h.Write([]byte(id))
	sh := layout(t).Shards()
	return sh[h.Sum32()%uint32(len(sh))]
}

func enqueue(t *testing.T, c *redis.Client, s *seal.Sealer, id, code string, expires time.Time) {
	t.Helper()
	enqueueOn(t, c, shardOf(t, id), s, id, code, expires)
}

func enqueueOn(t *testing.T, c *redis.Client, sh queue.Shard, s *seal.Sealer, id, code string, expires time.Time) {
	t.Helper()
	sj, err := queue.Seal(s, id, delivery.Message{Project: "P1", Channel: "sms", Code: code, Purpose: "signin",
		ExpiresAt: expires, Locale: "fr", TemplateOptions: map[string]string{"app": "Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.Enqueue(context.Background(), c, sh, sj, "+14155550123", 1000); err != nil {
		t.Fatal(err)
	}
}

// depth is the jobs waiting or pending plus the parked ones, all shards.
func depth(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	jobs, delayed, err := layout(t).Depth(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return jobs + delayed
}

func delayedCount(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	_, delayed, err := layout(t).Depth(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return delayed
}

// deadLetters are the dead-letter entries of every shard.
func deadLetters(t testing.TB, c *redis.Client) []redis.XMessage {
	var all []redis.XMessage
	for _, sh := range layout(t).All() {
		all = append(all, c.XRange(context.Background(), sh.Dead, "-", "+").Val()...)
	}
	return all
}

// pending counts the entries read but not acknowledged, all shards.
func pending(t testing.TB, c *redis.Client) int64 {
	var n int64
	for _, sh := range layout(t).All() {
		if p, err := c.XPending(context.Background(), sh.Stream, queue.Group).Result(); err == nil {
			n += p.Count
		}
	}
	return n
}

// recorder is a Handler that records jobs and answers from a script.
type recorder struct {
	mu      sync.Mutex
	jobs    []queue.Job
	answers []error // per call; the last one repeats
	got     chan queue.Job
}

func (r *recorder) handle(_ context.Context, j queue.Job) error {
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	n := len(r.jobs)
	r.mu.Unlock()
	if r.got != nil {
		r.got <- j
	}
	if len(r.answers) == 0 {
		return nil
	}
	return r.answers[min(n, len(r.answers))-1]
}

func (r *recorder) calls() []queue.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queue.Job{}, r.jobs...)
}

func run(t *testing.T, c *redis.Client, s *seal.Sealer, h queue.Handler, o queue.Options) context.CancelFunc {
	t.Helper()
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	}
	if o.Poll == 0 {
		o.Poll = 10 * time.Millisecond
	}
	o.Block = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	w := queue.NewWorker(c, s, h, clock.Real{}, quiet, nil, o)
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliversAndRetries(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		rec := &recorder{answers: []error{errors.New("HTTP 503"), errors.New("timeout"), nil}}
		run(t, c, s, rec.handle, queue.Options{})
		enqueue(t, c, s, "job-1", "123456", time.Now().Add(time.Minute))
		waitFor(t, "three attempts", func() bool { return len(rec.calls()) == 3 })
		calls := rec.calls()
		for i, j := range calls {
			if j.ID != "job-1" || j.Attempt != i+1 || j.Code != "123456" || j.To != "+14155550123" || j.Locale != "fr" || j.TemplateOptions["app"] != "Acme" {
				t.Fatalf("attempt %d: %+v", i+1, j)
			}
		}
		waitFor(t, "an empty queue", func() bool { return depth(t, c) == 0 })
		if n := len(deadLetters(t, c)); n != 0 {
			t.Fatalf("%d dead letters after a success", n)
		}
	})
}

func TestOutageEndsInDeadLetters(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		outage := &recorder{answers: []error{errors.New("HTTP 503 provider down")}}
		reject := &recorder{answers: []error{delivery.Permanent(errors.New("HTTP 400 (code 21211)"))}}
		run(t, c, s, func(ctx context.Context, j queue.Job) error {
			if j.ID == "down" {
				return outage.handle(ctx, j)
			}
			return reject.handle(ctx, j)
		}, queue.Options{MaxAttempts: 3})
		enqueue(t, c, s, "down", "111111", time.Now().Add(time.Minute))
		enqueue(t, c, s, "bad-number", "222222", time.Now().Add(time.Minute))
		waitFor(t, "two dead letters", func() bool { return len(deadLetters(t, c)) == 2 })
		if len(outage.calls()) != 3 || len(reject.calls()) != 1 {
			t.Fatalf("attempts: outage %d (want 3), permanent %d (want 1)", len(outage.calls()), len(reject.calls()))
		}
		dead := deadLetters(t, c)
		reasons := map[string]string{}
		for _, d := range dead {
			reasons[d.Values["id"].(string)] = d.Values["reason"].(string) + ": " + d.Values["error"].(string)
			// Nothing lost: the sealed job is kept and still opens.
			if d.Values["j"] == "" || d.Values["to"] != "+14155550123" {
				t.Fatalf("dead letter lost the job: %v", d.Values)
			}
		}
		if reasons["down"] != "exhausted: HTTP 503 provider down" || !strings.HasPrefix(reasons["bad-number"], "permanent: ") {
			t.Fatalf("reasons: %v", reasons)
		}
		if depth(t, c) != 0 {
			t.Fatal("dead-lettered jobs must leave the stream and the retry set")
		}
	})
}

func TestExpiredJobsAreDropped(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		rec := &recorder{}
		enqueue(t, c, s, "late", "333333", time.Now().Add(-time.Second))
		enqueue(t, c, s, "fresh", "444444", time.Now().Add(time.Minute))
		run(t, c, s, rec.handle, queue.Options{})
		waitFor(t, "the fresh job", func() bool { return len(rec.calls()) == 1 })
		waitFor(t, "an empty queue", func() bool { return depth(t, c) == 0 })
		if calls := rec.calls(); len(calls) != 1 || calls[0].ID != "fresh" {
			t.Fatalf("delivered %v; the expired job must not be sent", calls)
		}
	})
}

// TestStalledWorkerJobIsReclaimed: worker A takes a job and dies holding it
// (never acknowledges); worker B reclaims it after ClaimIdle and delivers.
func TestStalledWorkerJobIsReclaimed(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		taken := make(chan queue.Job, 1)
		release := make(chan struct{})
		dead := &recorder{got: taken}
		stopA := run(t, c, s, func(ctx context.Context, j queue.Job) error {
			_ = dead.handle(ctx, j)
			<-release // the "crashed" worker never finishes
			return nil
		}, queue.Options{Consumer: "A", ClaimIdle: time.Hour})
		t.Cleanup(func() { close(release) }) // runs before A's cleanup waits for it
		enqueue(t, c, s, "orphan", "555555", time.Now().Add(time.Minute))
		<-taken
		stopA()
		b := &recorder{}
		run(t, c, s, b.handle, queue.Options{Consumer: "B", ClaimIdle: 200 * time.Millisecond})
		waitFor(t, "B to deliver the orphaned job", func() bool { return len(b.calls()) == 1 })
		if j := b.calls()[0]; j.ID != "orphan" || j.Code != "555555" {
			t.Fatalf("B delivered %+v", j)
		}
		waitFor(t, "no pending entries", func() bool { return pending(t, c) == 0 })
	})
}

// TestNoPlaintextCodeInQueue scans every key and value while jobs wait.
func TestNoPlaintextCodeInQueue(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		const code = "987654"
		// One job parked for retry, one dead-lettered, then one left waiting.
		stop := run(t, c, s, func(_ context.Context, j queue.Job) error {
			if j.ID == "parked" {
				return errors.New("503")
			}
			return delivery.Permanent(errors.New("400"))
		}, queue.Options{MaxAttempts: 5, Backoff: func(int) time.Duration { return time.Hour }})
		enqueue(t, c, s, "parked", code, time.Now().Add(time.Minute))
		enqueue(t, c, s, "dead", code, time.Now().Add(time.Minute))
		waitFor(t, "one parked job and one dead letter", func() bool {
			return delayedCount(t, c) == 1 && len(deadLetters(t, c)) == 1
		})
		stop()
		time.Sleep(300 * time.Millisecond) // the consumers' blocking reads end
		enqueue(t, c, s, "waiting", code, time.Now().Add(time.Minute))
		ctx := context.Background()
		var all []string
		for _, k := range c.Keys(ctx, "*").Val() {
			all = append(all, k)
			switch c.Type(ctx, k).Val() {
			case "stream":
				for _, m := range c.XRange(ctx, k, "-", "+").Val() {
					all = append(all, fmt.Sprint(m.Values))
				}
			case "zset":
				all = append(all, c.ZRange(ctx, k, 0, -1).Val()...)
			}
		}
		if strings.Contains(strings.Join(all, "\n"), code) {
			t.Fatal("the code is readable in Redis")
		}
		if len(all) < 3 {
			t.Fatalf("expected the stream, the retry set and the dead letters, saw %v", all)
		}
	})
}

// TestStreamsAreBounded: a shard's stream far over its cap (a provider
// outage) stays within the cap plus one stream node (MAXLEN ~ drops whole
// nodes; stream-node-max-entries is 100), whatever the number of jobs.
func TestStreamsAreBounded(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := sealer(t)
		sh := layout(t).Shards()[0]
		for round := range 3 {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range 1000 {
					sj, _ := queue.Seal(s, fmt.Sprint(round, "-", i), delivery.Message{Channel: "sms", Code: "1", ExpiresAt: time.Now().Add(time.Minute)})
					if err := queue.Enqueue(ctx, p, sh, sj, "+1", 10); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := c.XLen(ctx, sh.Stream).Val(); n < 10 || n > 10+100 {
				t.Fatalf("stream length %d after %d jobs with MaxLen 10: want 10..110", n, 1000*(round+1))
			}
		}
		// The newest job is kept.
		last := c.XRevRangeN(ctx, sh.Stream, "+", "-", 1).Val()
		if len(last) != 1 || last[0].Values["id"] != "2-999" {
			t.Fatalf("newest entry: %+v", last)
		}
	})
}

// TestEntryShapes: a start's entry (no attempt field), one written by the
// previous release (a = "1") and a parked retry of it put back (a = "2")
// are all delivered, each with its attempt number; a dead letter of a
// start's entry records attempt 1.
func TestEntryShapes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := sealer(t)
		exp := time.Now().Add(time.Minute)
		add := func(id string, attempt ...string) {
			sj, err := queue.Seal(s, id, delivery.Message{Project: "P1", Channel: "sms", Code: "123456", ExpiresAt: exp})
			if err != nil {
				t.Fatal(err)
			}
			v := []any{"id", id, "j", sj.Payload, "to", "+14155550123", "exp", fmt.Sprint(exp.UnixMilli())}
			if len(attempt) > 0 {
				v = append(v, "a", attempt[0])
			}
			if err := c.XAdd(ctx, &redis.XAddArgs{Stream: shardOf(t, id).Stream, Values: v}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		add("new-shape")
		add("old-shape", "1")
		add("old-retry", "2")
		add("dead-new-shape")
		rec := &recorder{}
		run(t, c, s, func(ctx context.Context, j queue.Job) error {
			if j.ID == "dead-new-shape" {
				return delivery.Permanent(errors.New("550 no such mailbox"))
			}
			return rec.handle(ctx, j)
		}, queue.Options{})
		waitFor(t, "three deliveries and a dead letter", func() bool { return len(rec.calls()) == 3 && len(deadLetters(t, c)) == 1 })
		want := map[string]int{"new-shape": 1, "old-shape": 1, "old-retry": 2}
		for _, j := range rec.calls() {
			if a, ok := want[j.ID]; !ok || j.Attempt != a || j.Code != "123456" || j.To != "+14155550123" {
				t.Fatalf("delivered %+v, want attempt %d", j, a)
			}
			delete(want, j.ID)
		}
		if d := deadLetters(t, c)[0]; d.Values["id"] != "dead-new-shape" || d.Values["a"] != "1" {
			t.Fatalf("dead letter %+v", d.Values)
		}
		waitFor(t, "an empty queue", func() bool { return depth(t, c) == 0 })
	})
}

// TestSlowBatchIsNotReclaimedByLiveWorkers: a worker that read several jobs
// at once and sends them one by one, slowly, keeps them: a second, live
// worker does not reclaim the ones still waiting in the batch, so every job
// is sent exactly once (before: 17 jobs made 22 sends with a 3.5 s provider).
func TestSlowBatchIsNotReclaimedByLiveWorkers(t *testing.T) {
	t.Parallel()
	// Times are generous (a batch of 6 takes 3.6 s against a 1.6 s claim
	// idle) so that a loaded CI machine cannot delay the idle reset enough
	// to fake a reclaim.
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		for i := range 6 {
			enqueue(t, c, s, fmt.Sprintf("slow%d", i), "123456", time.Now().Add(time.Minute))
		}
		var mu sync.Mutex
		sends := map[string]int{}
		slow := func(_ context.Context, j queue.Job) error {
			time.Sleep(600 * time.Millisecond)
			mu.Lock()
			sends[j.ID]++
			mu.Unlock()
			return nil
		}
		o := queue.Options{Concurrency: 1, ClaimIdle: 1600 * time.Millisecond}
		o.Consumer = "A"
		run(t, c, s, slow, o)
		time.Sleep(80 * time.Millisecond) // A reads the whole batch
		o.Consumer = "B"
		run(t, c, s, slow, o)
		waitFor(t, "all jobs sent and acknowledged", func() bool {
			mu.Lock()
			n := len(sends)
			mu.Unlock()
			return n == 6 && pending(t, c) == 0
		})
		time.Sleep(1200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for id, n := range sends {
			if n != 1 {
				t.Errorf("job %s sent %d times", id, n)
			}
		}
	})
}

// TestWorkerSurvivesRedisDownAtStartup: a worker started while Redis
// refuses connections keeps trying (state "redis-error"), and delivers once
// Redis is up (before: "creating the consumer group: connection refused"
// stopped it for good).
func TestWorkerSurvivesRedisDownAtStartup(t *testing.T) {
	t.Parallel()
	port := testredis.FreePort(t)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	s := sealer(t)
	r := &recorder{}
	w := queue.NewWorker(c, s, r.handle, clock.Real{}, quiet, nil, queue.Options{Block: 100 * time.Millisecond, Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the worker to report the outage", func() bool { return w.State() == queue.StateWaiting })
	testredis.RealOn(t, port)
	enqueue(t, c, s, "late", "424242", time.Now().Add(time.Minute))
	waitFor(t, "delivery after Redis came up", func() bool { return len(r.calls()) == 1 })
	if w.State() != queue.StateRunning {
		t.Fatalf("state %q, want running", w.State())
	}
}

// TestPanickingHandlerDeadLettersTheJob: a handler that panics (a
// provider or template bug) dead-letters that job once, without retries,
// and the worker goes on delivering the others.
func TestPanickingHandlerDeadLettersTheJob(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, c *redis.Client) {
		s := sealer(t)
		var calls sync.Map
		h := func(_ context.Context, j queue.Job) error {
			n, _ := calls.LoadOrStore(j.ID, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			if j.ID == "boom" {
				var m map[string]int
				m["x"] = 1 // a nil-map write: a real bug's panic
			}
			return nil
		}
		enqueue(t, c, s, "boom", "123456", time.Now().Add(time.Minute))
		enqueue(t, c, s, "fine", "123456", time.Now().Add(time.Minute))
		run(t, c, s, h, queue.Options{Concurrency: 2, ClaimIdle: time.Hour, Poll: 10 * time.Millisecond, Sweep: time.Hour})
		waitFor(t, "the panicking job dead-lettered and the other delivered", func() bool {
			_, fine := calls.Load("fine")
			return fine && len(deadLetters(t, c)) == 1 && pending(t, c) == 0
		})
		if n, _ := calls.Load("boom"); n.(*atomic.Int64).Load() != 1 {
			t.Errorf("the panicking job ran %d times, want once (no retry of a bug)", n.(*atomic.Int64).Load())
		}
	})
}

// TestStreamDeletedUnderABlockedRead: when the streams are deleted while
// the worker's read is blocked on them (FLUSHALL, DEL), Redis answers the
// read UNBLOCKED; the worker recreates its groups at once, as for NOGROUP,
// instead of reporting a failed read and pausing a second, and the next job
// is delivered.
func TestStreamDeletedUnderABlockedRead(t *testing.T) {
	t.Parallel()
	_, c := testredis.Real(t)
	ctx := context.Background()
	// Redis 6 answers a deleted stream's blocked read NOGROUP, not
	// UNBLOCKED: the test would not exercise what it guards.
	if v := c.InfoMap(ctx, "server").Item("Server", "redis_version"); v == "" || v[0] < '7' && len(v) > 1 && v[1] == '.' {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server %q under CI=true: this test needs Redis 7 (Debian's package)", v)
		}
		t.Skipf("redis-server %q answers NOGROUP here (UNBLOCKED is Redis 7's reply)", v)
	}
	s := sealer(t)
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rec := &recorder{}
	wctx, cancel := context.WithCancel(ctx)
	w := queue.NewWorker(c, s, rec.handle, clock.Real{}, log, nil, queue.Options{Block: 10 * time.Second, Poll: 10 * time.Millisecond})
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	enqueue(t, c, s, "before", "111111", time.Now().Add(time.Minute))
	waitFor(t, "the first job", func() bool { return len(rec.calls()) == 1 })
	blocked := func() bool {
		for _, line := range strings.Split(c.ClientList(ctx).Val(), "\n") {
			if strings.Contains(line, "cmd=xreadgroup") && strings.Contains(line, "flags=b") {
				return true
			}
		}
		return false
	}
	waitFor(t, "a blocked read", blocked)
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	enqueue(t, c, s, "after", "222222", time.Now().Add(time.Minute))
	waitFor(t, "the job enqueued after the streams were deleted", func() bool { return len(rec.calls()) == 2 })
	if got := logs.String(); strings.Contains(got, "queue read failed") {
		t.Fatalf("the deleted streams were reported as a failed read:\n%s", got)
	}
}

// syncBuf is a bytes.Buffer safe for the worker's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
