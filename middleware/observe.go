package middleware

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/service"
)

// TransportFunc tells which transport a call came in on ("grpc" or "rest").
type TransportFunc func(ctx context.Context) string

// Metrics are the request metrics. Labels are bounded: method names, gRPC
// codes, Descope error codes and the transport; never user data.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The children of both vectors by label values, so that a call costs
	// one map read instead of hashing the label values in each vector
	// (WithLabelValues). The map is copied on write: the label set is
	// small and bounded, so writes stop once every seen combination is in.
	children atomic.Pointer[map[callLabels]callMetrics]
	mu       sync.Mutex // serializes writers of children
}

// callLabels are the label values of one call's metrics.
type callLabels struct{ method, transport, code, errorCode string }

type callMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// of returns the metrics for the label values l.
func (m *Metrics) of(l callLabels) callMetrics {
	if c, ok := (*m.children.Load())[l]; ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.children.Load()
	if c, ok := old[l]; ok {
		return c
	}
	c := callMetrics{
		requests: m.requests.WithLabelValues(l.method, l.transport, l.code, l.errorCode),
		duration: m.duration.WithLabelValues(l.method, l.transport),
	}
	next := maps.Clone(old)
	next[l] = c
	m.children.Store(&next)
	return c
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpd_requests_total",
			Help: "Requests by method, transport, gRPC code and Descope error code.",
		}, []string{"method", "transport", "code", "error_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpd_request_duration_seconds",
			Help:    "Request latency by method and transport.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "transport"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.children.Store(&map[callLabels]callMetrics{})
	return m, nil
}

// Rejected records a REST request refused before it reached the RPC chain
// (a body that is not JSON, an unknown path): one log line and the same
// metrics as a call. The method label is "rest:rejected" so that unknown
// paths cannot grow the label set.
func Rejected(log *slog.Logger, m *Metrics) func(r *http.Request, e *apierr.Error) {
	return func(r *http.Request, e *apierr.Error) {
		const method = "rest:rejected"
		m.requests.WithLabelValues(method, "rest", e.GRPC.String(), e.Code).Inc()
		log.LogAttrs(r.Context(), slog.LevelInfo, "rpc",
			slog.String("method", method),
			slog.String("transport", "rest"),
			slog.String("code", e.GRPC.String()),
			slog.String("errorCode", e.Code),
			slog.String("peer", r.RemoteAddr),
		)
	}
}

// Observe writes one log line per call and records metrics. The log line
// holds the method, outcome, latency, project and client address; never a
// code, token or login address.
func Observe(log *slog.Logger, m *Metrics, clk clock.Clock, transport TransportFunc) Layer {
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return observe(ctx, req, info, h, next, log, m, clk, transport)
		}
	}
}

func observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler, next grpc.UnaryServerInterceptor,
	log *slog.Logger, m *Metrics, clk clock.Clock, transport TransportFunc) (any, error) {
	start := clk.Now()
	handler := log.Handler()
	// The project is only known inside Auth, which writes it into the
	// call's record that this layer adds to the context.
	inner, call := service.CallOf(ctx)
	resp, err := next(inner, req, info, h)
	end := clk.Now()
	elapsed := end.Sub(start)
	tr := transport(ctx)
	code, errorCode := codes.OK, ""
	if err != nil {
		st := status.Convert(err)
		code, errorCode = st.Code(), apierr.FromStatus(st).Code
	}
	cm := m.of(callLabels{info.FullMethod, tr, code.String(), errorCode})
	cm.requests.Inc()
	cm.duration.Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if err != nil && errorCode >= "E010500" && errorCode < "E011000" {
		level = slog.LevelError
	}
	// Straight to the handler: Logger.LogAttrs would also walk the stack
	// for a source position the line does not carry. The attributes (the
	// peer's string among them) are built only when the line is written.
	if handler.Enabled(ctx, level) {
		logCall(ctx, handler, end, level, info.FullMethod, tr, code, elapsed, errorCode, call)
	}
	return resp, err
}

// logCall writes a call's log line.
func logCall(ctx context.Context, handler slog.Handler, end time.Time, level slog.Level, method, tr string, code codes.Code,
	elapsed time.Duration, errorCode string, call *service.Call) {
	// Room for every attribute, so that the slice stays on the stack.
	attrs := append(make([]slog.Attr, 0, 8),
		slog.String("method", method),
		slog.String("transport", tr),
		slog.String("code", code.String()),
		slog.Duration("duration", elapsed),
	)
	if errorCode != "" {
		attrs = append(attrs, slog.String("errorCode", errorCode))
	}
	if call.Project != nil {
		attrs = append(attrs, slog.String("project", call.Project.ID))
	}
	if call.MgmtKey != "" {
		attrs = append(attrs, slog.String("mgmtKey", call.MgmtKey))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", addrString(p.Addr)))
	}
	r := slog.NewRecord(end, level, "rpc", 0)
	r.AddAttrs(attrs...)
	_ = handler.Handle(ctx, r)
}

// addrString is a.String(), for a TCP address in one allocation instead of
// three (net.TCPAddr.String formats the IP and the port separately).
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ap := ta.AddrPort()
	if !ap.Addr().IsValid() {
		return a.String()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}
