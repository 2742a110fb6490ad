package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/stats"

	"github.com/otpd/otpd/config"
)

// newResource describes the process: service.name "otpd" and
// service.version, then what OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME say (they win), and the SDK.
func newResource(ctx context.Context, env config.Env, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", "otpd")}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if name, _ := env("OTEL_SERVICE_NAME"); name != "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", name)))
	}
	return res, nil
}

type quietKey struct{}

// Background marks ctx as otpd's own housekeeping (the health probe, the
// delivery workers' polling): Redis commands run with it and outside any
// span are not traced, so an idle server exports no spans. Work started
// under a span (a delivery attempt, a request) is traced as usual.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, quietKey{}, true)
}

func isBackground(ctx context.Context) bool {
	q, _ := ctx.Value(quietKey{}).(bool)
	return q && !trace.SpanContextFromContext(ctx).IsValid()
}

// quietProvider hands out tracers that start no span for background work.
type quietProvider struct{ trace.TracerProvider }

func (p quietProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return quietTracer{Tracer: p.TracerProvider.Tracer(name, opts...)}
}

type quietTracer struct{ trace.Tracer }

var noSpan = noop.NewTracerProvider().Tracer("")

// Start starts no span for background work, nor for a connection dialled
// outside any request (go-redis dials some in the background: a root
// "redis.dial" span says nothing about any call).
func (t quietTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if isBackground(ctx) || name == "redis.dial" && !trace.SpanContextFromContext(ctx).IsValid() {
		return noSpan.Start(ctx, name, opts...)
	}
	return t.Tracer.Start(ctx, name, opts...)
}

// peerAttributes adds the client's address to otelgrpc's server span
// (network.peer.address and network.peer.port; otelgrpc records none).
type peerAttributes struct{ stats.Handler }

func (p peerAttributes) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok && h.RemoteAddr != nil {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			if ap, err := netip.ParseAddrPort(h.RemoteAddr.String()); err == nil {
				span.SetAttributes(attribute.String("network.peer.address", ap.Addr().Unmap().String()),
					attribute.Int("network.peer.port", int(ap.Port())))
			}
		}
	}
	p.Handler.HandleRPC(ctx, s)
}

// TraceParent is the W3C traceparent of ctx's span ("" without one): what
// a queued job keeps so that its delivery can link to the request.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// linkTo is a link to the span a traceparent names, if it names one.
func linkTo(traceparent string) []trace.Link {
	if traceparent == "" {
		return nil
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []trace.Link{{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("otpd.link", "queued by")}}}
}
