// Package tracing is otpd's OpenTelemetry tracing: an OTLP exporter set up
// from the standard OTEL_* variables (off unless an endpoint or an
// exporter is named), and the instrumentation of gRPC (otelgrpc), REST
// (otelhttp), Redis commands and scripts (redisotel) and deliveries.
//
// No attribute carries a secret or a person's address: Redis spans are
// recorded without their statements (the scripts' arguments hold login
// ids, addresses, code hashes and sealed jobs), REST spans without headers
// or bodies, and delivery spans with the project, channel, attempt and
// outcome only (a provider's error text may quote the address).
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
)

// Enabled reports whether the environment asks for traces: an OTLP
// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// or OTEL_TRACES_EXPORTER=otlp, and not OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none.
func Enabled(env config.Env) bool {
	get := func(k string) string { v, _ := env(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(get("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || get("OTEL_TRACES_EXPORTER") != ""
}

// Setup returns a tracer provider exporting over OTLP as the OTEL_*
// variables say (protocol from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: grpc, or http/protobuf by default; the
// service name from OTEL_SERVICE_NAME, else "otpd"; the sampler from
// OTEL_TRACES_SAMPLER; service.version is version unless
// OTEL_RESOURCE_ATTRIBUTES names one), and its shutdown (which flushes). When tracing is
// not enabled it returns nil and a no-op shutdown: nothing is
// instrumented.
func Setup(ctx context.Context, env config.Env, version string) (trace.TracerProvider, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	if !Enabled(env) {
		return nil, noop, nil
	}
	if e, _ := env("OTEL_TRACES_EXPORTER"); e != "" && !strings.EqualFold(strings.TrimSpace(e), "otlp") {
		return nil, noop, fmt.Errorf("OTEL_TRACES_EXPORTER %q: otpd exports otlp (or none)", e)
	}
	proto, _ := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto, _ = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch strings.TrimSpace(proto) {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, noop, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", proto)
	}
	if err != nil {
		return nil, noop, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := newResource(ctx, env, version)
	if err != nil {
		return nil, noop, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// propagator reads and writes W3C trace context and baggage.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// GRPCServerOption traces gRPC calls; with a nil provider it changes
// nothing.
func GRPCServerOption(tp trace.TracerProvider) grpc.ServerOption {
	if tp == nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.StatsHandler(peerAttributes{otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagator()),
		// Health checks come every few seconds from probes and balancers:
		// a span each would bury the calls that matter.
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())))})
}

// HTTPHandler traces REST requests, named by method and path; with a nil
// provider it returns h. REST is the public listener: a client's
// traceparent is linked, never made the parent, so a client cannot set
// the sampling decision (trace every call it makes) or put otpd's spans
// into traces of its choosing. gRPC, called by the deployment's own
// services, keeps the caller's context as parent.
func HTTPHandler(tp trace.TracerProvider, h http.Handler) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "otpd.rest", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator()),
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// InstrumentRedis traces rdb's commands and scripts without their
// arguments (code.function names the store method that ran each script);
// with a nil provider it does nothing.
func InstrumentRedis(tp trace.TracerProvider, rdb redis.UniversalClient) error {
	if tp == nil {
		return nil
	}
	return redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(quietProvider{tp}), redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(true))
}

// Deliveries wraps a queue handler in an "otpd.deliver" span per attempt:
// project, channel, attempt and outcome (sent, transient, permanent),
// linked to the request that queued the job (Job.Trace). The
// error text is not recorded: providers quote addresses in it.
func Deliveries(tp trace.TracerProvider, h queue.Handler) queue.Handler {
	if tp == nil {
		return h
	}
	tracer := tp.Tracer("github.com/otpd/otpd/tracing")
	return func(ctx context.Context, j queue.Job) error {
		ctx, span := tracer.Start(ctx, "otpd.deliver", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithLinks(linkTo(j.Trace)...),
			trace.WithAttributes(
				attribute.String("otpd.project", j.Project),
				attribute.String("otpd.channel", j.Channel),
				attribute.Int("otpd.delivery.attempt", j.Attempt),
			))
		defer span.End()
		err := h(ctx, j)
		switch {
		case err == nil:
			span.SetAttributes(attribute.String("otpd.delivery.outcome", "sent"))
		case delivery.IsPermanent(err):
			span.SetAttributes(attribute.String("otpd.delivery.outcome", "permanent"))
			span.SetStatus(codes.Error, "permanent delivery failure")
		default:
			span.SetAttributes(attribute.String("otpd.delivery.outcome", "transient"))
			span.SetStatus(codes.Error, "transient delivery failure")
		}
		return err
	}
}
