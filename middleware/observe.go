package middleware

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
)

// TransportFunc tells which transport a call came in on ("grpc" or "rest").
type TransportFunc func(ctx context.Context) string

// Metrics are the request metrics. Labels are bounded: method names, gRPC
// codes, Descope error codes and the transport; never user data.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
func Observe(log *slog.Logger, m *Metrics, clk clock.Clock, transport TransportFunc) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := clk.Now()
		// The project is only known inside Auth, which notes it here.
		note := &callNote{}
		resp, err := h(context.WithValue(ctx, noteKey{}, note), req)
		elapsed := clk.Now().Sub(start)
		tr := transport(ctx)
		st := status.Convert(err)
		var errorCode string
		if err != nil {
			errorCode = apierr.FromStatus(st).Code
		}
		m.requests.WithLabelValues(info.FullMethod, tr, st.Code().String(), errorCode).Inc()
		m.duration.WithLabelValues(info.FullMethod, tr).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if err != nil && errorCode >= "E010500" && errorCode < "E011000" {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("method", info.FullMethod),
			slog.String("transport", tr),
			slog.String("code", st.Code().String()),
			slog.Duration("duration", elapsed),
		}
		if errorCode != "" {
			attrs = append(attrs, slog.String("errorCode", errorCode))
		}
		if note.project != "" {
			attrs = append(attrs, slog.String("project", note.project))
		}
		if note.mgmtKey != "" {
			attrs = append(attrs, slog.String("mgmtKey", note.mgmtKey))
		}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			attrs = append(attrs, slog.String("peer", p.Addr.String()))
		}
		log.LogAttrs(ctx, level, "rpc", attrs...)
		return resp, err
	}
}

type noteKey struct{}

// callNote is filled by inner interceptors for the log line.
type callNote struct{ project, mgmtKey string }

func noteProject(ctx context.Context, id string) {
	if n, ok := ctx.Value(noteKey{}).(*callNote); ok {
		n.project = id
	}
}
