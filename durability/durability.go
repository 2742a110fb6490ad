// Package durability keeps the state of otpd's durability mode
// (OTPD_REDIS_WAIT_REPLICAS): which Redis masters' writes recently failed
// to reach their replicas in time. It implements store.ReplicationObserver
// and tells health whether the node is degraded, counts shortfalls in
// metrics, and logs each master's change of state once (not per write).
package durability

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
)

// Timing.
const (
	// DegradedFor is how long a shortfall keeps a master degraded when no
	// write on it succeeds meanwhile (a master no write reaches any more,
	// or a node taken out of rotation by its readiness, would otherwise
	// stay degraded for ever).
	DegradedFor = 10 * time.Second
	// Recheck is how often a degraded master's write still waits for its
	// replicas under the accept policy (the others skip the WAIT).
	Recheck = time.Second
)

// Tracker is the durability mode's state: one entry per master whose last
// WAIT fell short.
type Tracker struct {
	clock  clock.Clock
	log    *slog.Logger
	policy string

	mu sync.Mutex
	// short: per master (its address; "" on a single node or Sentinel),
	// the last shortfall and when a write last waited for its replicas.
	short map[string]*nodeState

	shortfalls *prometheus.CounterVec
}

type nodeState struct {
	last, waited time.Time
}

// New returns a Tracker registered in reg (its metrics). policy names the
// shortfall policy in logs and metrics ("refuse" or "accept").
func New(c clock.Clock, reg prometheus.Registerer, log *slog.Logger, policy string) (*Tracker, error) {
	t := &Tracker{clock: c, log: log, policy: policy, short: map[string]*nodeState{},
		shortfalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpd_redis_durability_shortfalls_total",
			Help: "Durable writes whose WAIT reached fewer replicas than OTPD_REDIS_WAIT_REPLICAS, by outcome: refused (503, taken back), accepted (kept, OTPD_REDIS_WAIT_POLICY=accept), unwaited (accepted without WAIT on a master already degraded).",
		}, []string{"outcome"}),
	}
	degraded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "otpd_redis_durability_degraded",
		Help: "1 while a Redis master's durable writes recently fell short of OTPD_REDIS_WAIT_REPLICAS (within 10 s, no success since).",
	}, func() float64 {
		if t.Degraded() {
			return 1
		}
		return 0
	})
	if err := reg.Register(t.shortfalls); err != nil {
		return nil, err
	}
	if err := reg.Register(degraded); err != nil {
		return nil, err
	}
	return t, nil
}

// Replicated implements store.ReplicationObserver: node is healthy again.
func (t *Tracker) Replicated(node string) {
	t.mu.Lock()
	_, was := t.short[node]
	if was {
		delete(t.short, node)
	}
	t.mu.Unlock()
	if was {
		t.log.Info("durability: a Redis master's writes reach their replicas again", "node", nodeName(node))
	}
}

// ShortOf implements store.ReplicationObserver.
func (t *Tracker) ShortOf(node string, acked, want int, accepted bool) {
	outcome := "refused"
	if accepted {
		outcome = "accepted"
	}
	t.shortfalls.WithLabelValues(outcome).Inc()
	now := t.clock.Now()
	t.mu.Lock()
	st, was := t.short[node]
	if !was || now.Sub(st.last) > DegradedFor {
		st, was = &nodeState{}, false
		t.short[node] = st
	}
	st.last, st.waited = now, now
	t.mu.Unlock()
	if !was {
		t.log.Warn("durability: a Redis master's write did not reach its replicas in time; node degraded",
			"node", nodeName(node), "acked", acked, "want", want, "policy", t.policy, "outcome", outcome)
	}
}

// SkipWait implements store.ReplicationObserver: a write on a master that
// fell short within DegradedFor skips its WAIT, except one per Recheck,
// which waits and so sees the replicas come back.
func (t *Tracker) SkipWait(node string) bool {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.short[node]
	if !ok || now.Sub(st.last) > DegradedFor {
		return false
	}
	if now.Sub(st.waited) >= Recheck {
		st.waited = now // this write waits; the others go on skipping
		return false
	}
	st.last = now // still degraded: its writes are not known replicated
	t.shortfalls.WithLabelValues("unwaited").Inc()
	return true
}

// Degraded reports whether a master's durable write fell short within
// DegradedFor with no success on it since.
func (t *Tracker) Degraded() bool {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for n, st := range t.short {
		if now.Sub(st.last) <= DegradedFor {
			return true
		}
		delete(t.short, n)
	}
	return false
}

// nodeName is a master's name in logs: "master" on a single node or
// Sentinel.
func nodeName(n string) string {
	if n == "" {
		return "master"
	}
	return n
}
