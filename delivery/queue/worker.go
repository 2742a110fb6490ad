package queue

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery/seal"
)

var (
	//go:embed lua/retry.lua
	retrySrc string
	//go:embed lua/promote.lua
	promoteSrc string
	//go:embed lua/dead.lua
	deadSrc string
)

// Handler delivers one job: render it and hand it to the project's
// provider. Errors follow delivery.Provider's contract (Permanent or
// transient; a *RetryAfter-carrying error may say when to retry).
type Handler func(ctx context.Context, j Job) error

// RetryAfterer is implemented by errors that know when to retry.
type RetryAfterer interface{ RetryAfter() time.Duration }

// Options tune a Worker.
type Options struct {
	// Concurrency is the number of jobs in flight (default 4).
	Concurrency int
	// MaxAttempts per job before it is dead-lettered (default 6).
	MaxAttempts int
	// Backoff is the delay before retry n (n >= 1); default exponential
	// 1s·2^(n-1) capped at 5 min, with jitter in [d/2, d].
	Backoff func(attempt int) time.Duration
	// ClaimIdle is how long a job may stay unacknowledged by a consumer
	// before another reclaims it (default 30s).
	ClaimIdle time.Duration
	// SendTimeout bounds one provider call (default 15s).
	SendTimeout time.Duration
	// MaxLen bounds the jobs and DeadMaxLen the dead letters of the whole
	// queue (defaults 100000 and 100000); each shard's streams are trimmed
	// at Layout.PerShard of them.
	MaxLen, DeadMaxLen int64
	// Consumer names this worker in the group (default: random).
	Consumer string
	// Poll is how often parked retries are promoted (default 500ms).
	Poll time.Duration
	// Block is how long one read waits for new jobs (default 1s); it
	// bounds how quickly Run returns after its context ends.
	Block time.Duration
	// Layout is the queue's shards (default DefaultShards).
	Layout *Layout
	// Sweep is how often the shards outside Layout (legacy keys, other
	// shard counts) are checked for jobs to drain, and the depth gauges
	// sampled (default 5s).
	Sweep time.Duration
	// AckDelay is how long finished jobs wait for others before they are
	// acknowledged and deleted together in one round trip (default 20ms,
	// at most ClaimIdle/10 so that it cannot bring a finished job near
	// reclaim).
	AckDelay time.Duration
	// BatchWait is how long a reader waits after a read that found jobs
	// but filled no shard's batch before it reads again, so that jobs
	// arriving meanwhile are read (and acknowledged) together instead of
	// one read each (default 20ms; negative: no wait). Under a steady
	// trickle a job waits at most that much longer; an idle reader blocks
	// and takes a new job at once, and a read that fills a batch reads
	// again at once, so it caps no throughput.
	BatchWait time.Duration
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.Backoff == nil {
		o.Backoff = ExponentialBackoff(time.Second, 5*time.Minute)
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 30 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 15 * time.Second
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 100000
	}
	if o.DeadMaxLen <= 0 {
		o.DeadMaxLen = 100000
	}
	if o.Consumer == "" {
		o.Consumer = fmt.Sprintf("w-%08x", rand.Uint32())
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.Layout == nil {
		o.Layout, _ = NewLayout(DefaultShards)
	}
	o.MaxLen, o.DeadMaxLen = o.Layout.PerShard(o.MaxLen), o.Layout.PerShard(o.DeadMaxLen)
	if o.Sweep <= 0 {
		o.Sweep = 5 * time.Second
	}
	if o.AckDelay <= 0 {
		o.AckDelay = 20 * time.Millisecond
	}
	o.AckDelay = max(min(o.AckDelay, o.ClaimIdle/10), time.Microsecond)
	if o.BatchWait == 0 {
		o.BatchWait = 20 * time.Millisecond
	}
}

// ExponentialBackoff returns base·2^(n-1), capped, with jitter in [d/2, d].
func ExponentialBackoff(base, ceiling time.Duration) func(int) time.Duration {
	return func(n int) time.Duration {
		d := base << min(n-1, 30)
		if d <= 0 || d > ceiling {
			d = ceiling
		}
		return d/2 + rand.N(d/2+1)
	}
}

// Metrics count jobs by outcome and gauge the queue's depth.
type Metrics struct {
	jobs  *prometheus.CounterVec
	depth *prometheus.GaugeVec
	mu    sync.Mutex
	// byLabels caches jobs's counters (WithLabelValues hashes the labels
	// on every call); the channels are those of sealed jobs, so few.
	byLabels map[[2]string]prometheus.Counter
}

// counter is jobs's counter of channel and outcome.
func (m *Metrics) counter(channel, outcome string) prometheus.Counter {
	k := [2]string{channel, outcome}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byLabels[k]
	if !ok {
		c = m.jobs.WithLabelValues(channel, outcome)
		m.byLabels[k] = c
	}
	return c
}

// NewMetrics registers the queue metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_delivery_jobs_total",
		Help: "Delivery attempts by channel and outcome (sent, retried, dead, expired).",
	}, []string{"channel", "outcome"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "otpd_delivery_queue_jobs",
			Help: "Jobs in the delivery queue over every shard, by state: waiting (in the streams, read or not), parked (for a retry), dead (dead letters). Sampled by each worker's sweep; the same value from every worker.",
		}, []string{"state"}),
		byLabels: map[[2]string]prometheus.Counter{}}
	if err := reg.Register(m.jobs); err != nil {
		return m, err
	}
	return m, reg.Register(m.depth)
}

// Worker consumes every shard of the queue.
type Worker struct {
	rdb       redis.UniversalClient
	sealer    *seal.Sealer
	handle    Handler
	clock     clock.Clock
	log       *slog.Logger
	metrics   *Metrics
	o         Options
	retry     *redis.Script
	promote   *redis.Script
	dead      *redis.Script
	ackScript *redis.Script
	state     atomic.Value  // string: the lifecycle (starting, running, stopped)
	failing   atomic.Int32  // readers whose last Redis call failed
	work      chan batch    // read batches waiting for a free processor
	finished  chan finished // processed jobs waiting for the acker
}

// Worker states (State).
const (
	StateStarting = "starting"    // creating the consumer groups
	StateRunning  = "running"     // the last read succeeded
	StateWaiting  = "redis-error" // reads fail; retrying every second
	StateStopped  = "stopped"
)

// State is the worker's health: starting, running, redis-error (any of
// its readers failing: on Cluster, one per shard), stopped.
func (w *Worker) State() string {
	s, ok := w.state.Load().(string)
	switch {
	case !ok:
		return StateStopped
	case s != StateStopped && w.failing.Load() > 0:
		return StateWaiting
	}
	return s
}

// NewWorker returns a worker; Run starts it.
func NewWorker(rdb redis.UniversalClient, s *seal.Sealer, h Handler, clk clock.Clock, log *slog.Logger, m *Metrics, o Options) *Worker {
	o.defaults()
	return &Worker{rdb: rdb, sealer: s, handle: h, clock: clk, log: log, metrics: m, o: o,
		retry: redis.NewScript(retrySrc), promote: redis.NewScript(promoteSrc), dead: redis.NewScript(deadSrc),
		ackScript: redis.NewScript(ackSrc)}
}

// EnsureGroup creates sh's stream and the consumer group if missing.
func EnsureGroup(ctx context.Context, rdb redis.Cmdable, sh Shard) error {
	err := rdb.XGroupCreateMkStream(ctx, sh.Stream, Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// ensureGroups creates the group on each of shards.
func ensureGroups(ctx context.Context, rdb redis.Cmdable, shards []Shard) error {
	for _, sh := range shards {
		if err := EnsureGroup(ctx, rdb, sh); err != nil {
			return err
		}
	}
	return nil
}

// Run consumes until ctx ends; jobs already read finish first. Redis being
// unreachable, at startup or later, never stops it: it retries every
// second (reporting StateWaiting) until Redis answers.
//
// Readers (one blocking XREADGROUP over every active shard on a single
// node or Sentinel; one per active shard on Cluster, where a command
// cannot span slots) hand batches to Concurrency processors; a sweep
// drains the other shards (legacy keys, another shard count's positions)
// when they hold anything; promotion of due retries and reclaim of
// stalled jobs run per shard. Each reader creates its shards' consumer
// groups first, retrying every second, so on Cluster the shards of the
// masters that answer are consumed while another master is down.
func (w *Worker) Run(ctx context.Context) error {
	w.state.Store(StateStarting)
	defer w.state.Store(StateStopped)
	active := w.o.Layout.Shards()
	w.work = make(chan batch)
	detached := context.WithoutCancel(ctx)
	w.finished = make(chan finished, w.o.Concurrency)
	acked := make(chan struct{})
	go func() { w.acker(detached, w.finished); close(acked) }()
	var procs sync.WaitGroup
	for range w.o.Concurrency {
		procs.Go(func() {
			for b := range w.work {
				w.processBatch(detached, b)
			}
		})
	}
	var wg sync.WaitGroup
	if _, cluster := w.rdb.(*redis.ClusterClient); cluster {
		for _, sh := range active {
			wg.Go(func() { w.read(ctx, []Shard{sh}) })
		}
	} else {
		wg.Go(func() { w.read(ctx, active) })
	}
	wg.Go(func() {
		w.every(ctx, w.o.Poll, func(ctx context.Context) { w.promoteAll(ctx, active) })
	})
	wg.Go(func() {
		w.every(ctx, max(w.o.ClaimIdle/2, 10*time.Millisecond), func(ctx context.Context) {
			for _, sh := range active {
				w.reclaim(ctx, sh)
			}
		})
	})
	wg.Go(func() { w.every(ctx, w.o.Sweep, w.sweep) })
	wg.Wait()
	close(w.work)
	procs.Wait()
	close(w.finished)
	<-acked
	return nil
}

func (w *Worker) every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
