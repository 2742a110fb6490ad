package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/tracing"
)

// Health timing.
const (
	// healthEvery is how often the watcher probes Redis and sets the gRPC
	// health status.
	healthEvery = time.Second
	// healthTimeout bounds one probe.
	healthTimeout = time.Second
	// healthFresh is how long a probe result answers /healthz without a new
	// probe (so a flood of /healthz costs Redis at most one probe per 500ms).
	healthFresh = 500 * time.Millisecond
)

// workerState is what the delivery workers report.
type workerState interface{ State() string }

// healthWatch probes Redis and keeps gRPC health and /healthz in agreement:
// both read the same latest probe.
type healthWatch struct {
	redis   redis.UniversalClient
	grpc    *health.Server
	workers workerState // nil without in-process workers
	log     *slog.Logger
	// services are the API services whose status follows the server's.
	services []string
	// durability is the durability mode's state (nil when it is off);
	// with unreadyDegraded, a degraded node is NOT_SERVING.
	durability      interface{ Degraded() bool }
	unreadyDegraded bool

	mu      sync.Mutex
	at      time.Time
	err     error
	serving bool
	known   bool
	// inflight is closed when the running probe ends.
	inflight chan struct{}
}

// check returns the latest probe result, probing again when it is older
// than maxAge (callers arriving during a probe share its result), and
// updates the gRPC status on a change.
func (h *healthWatch) check(ctx context.Context, maxAge time.Duration) error {
	h.mu.Lock()
	if !h.at.IsZero() && time.Since(h.at) < maxAge {
		err := h.err
		h.mu.Unlock()
		return err
	}
	if wait := h.inflight; wait != nil {
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	}
	done := make(chan struct{})
	h.inflight = done
	h.mu.Unlock()

	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	err := redisconn.Probe(pctx, h.redis)
	cancel()

	h.mu.Lock()
	defer h.mu.Unlock()
	h.at, h.err, h.inflight = time.Now(), err, nil
	close(done)
	degraded := h.degraded()
	serving := err == nil && !(degraded && h.unreadyDegraded)
	if serving != h.serving || !h.known {
		h.known, h.serving = true, serving
		if serving {
			h.log.Info("health: SERVING")
			h.setAll(healthpb.HealthCheckResponse_SERVING)
		} else {
			h.log.Warn("health: NOT_SERVING", "reason", reason(err), "durability", durabilityState(h.durability != nil, degraded), "error", err)
			h.setAll(healthpb.HealthCheckResponse_NOT_SERVING)
		}
	}
	return err
}

// run probes every healthEvery until ctx ends.
func (h *healthWatch) run(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = h.check(ctx, 0)
		}
	}
}

// degraded reports whether the durability mode is degraded (a master's
// writes recently fell short of their replicas).
func (h *healthWatch) degraded() bool { return h.durability != nil && h.durability.Degraded() }

// durabilityState is /healthz's "durability": off, ok or degraded.
func durabilityState(on, degraded bool) string {
	switch {
	case !on:
		return "off"
	case degraded:
		return "degraded"
	default:
		return "ok"
	}
}

// reason is the public, address-free cause of NOT_SERVING.
func reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, redisconn.ErrNotWritable):
		return "redis refuses writes"
	case errors.Is(err, redisconn.ErrSlotsUncovered), redis.IsClusterDownError(err):
		return "redis cluster cannot serve every slot"
	default:
		return "redis unavailable"
	}
}

// serveHTTP answers 200 {"status":"SERVING",...} when Redis takes writes
// (on Cluster: every slot, every master), 503 NOT_SERVING otherwise, and
// also while the durability mode is degraded if the operator asked for it
// (OTPD_REDIS_WAIT_UNREADY).
func (h *healthWatch) serveHTTP(w http.ResponseWriter, r *http.Request) {
	err := h.check(tracing.Background(r.Context()), healthFresh)
	degraded := h.degraded()
	body := map[string]string{"status": "SERVING", "redis": reason(err), "durability": durabilityState(h.durability != nil, degraded)}
	if h.workers != nil {
		body["workers"] = h.workers.State()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil || (degraded && h.unreadyDegraded) {
		body["status"] = "NOT_SERVING"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}
