package tracing_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/tracing"
)

// tracedServer is a server on the default configuration (embedded Redis,
// in-process workers) traced into an in-memory exporter, logging JSON
// through tracing.LogHandler into logs.
type tracedServer struct {
	exp        *tracetest.InMemoryExporter
	logs, code *syncBuf
	rest, grpc string
}

func startTraced(t *testing.T) *tracedServer {
	t.Helper()
	ts := &tracedServer{exp: tracetest.NewInMemoryExporter(), logs: &syncBuf{}, code: &syncBuf{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(ts.exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg, err := config.Load(envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := store.StartEmbedded(clock.Real{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(ts.logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Redis: emb.Client, Clock: clock.Real{}, Log: log, CodeLog: ts.code, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, gl, hl) }()
	t.Cleanup(func() { cancel(); <-done })
	ts.rest, ts.grpc = "http://"+hl.Addr().String(), gl.Addr().String()
	return ts
}

// spansNamed waits (bounded) for a span named name and returns all spans.
func (ts *tracedServer) waitSpan(t *testing.T, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stubs := ts.exp.GetSpans()
		for _, s := range stubs {
			if s.Name == name {
				return stubs.Snapshots()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s span", name)
		}
	}
}

func named(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// TestTracedRequestsCanBeFollowed: the delivery span links to the REST
// request that queued it; the gRPC span carries the client's address; the
// request's log line carries its trace and span ids.
func TestTracedRequestsCanBeFollowed(t *testing.T) {
	ts := startTraced(t)
	pid := config.DefaultProjectID
	const email = "ada@example.com"
	req, _ := http.NewRequest(http.MethodPost, ts.rest+"/v1/auth/otp/signup-in/email", strings.NewReader(`{"loginId":"`+email+`"}`))
	req.Header.Set("Authorization", "Bearer "+pid)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no code delivered")
		}
		if m := regexp.MustCompile(`"code":"(\d+)"`).FindStringSubmatch(ts.code.String()); m != nil {
			code = m[1]
		}
	}
	conn, err := grpc.NewClient(ts.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid)
	if _, err := otpv1.NewOtpEmailClient(conn).Verify(gctx, &otpv1.VerifyRequest{LoginId: email, Code: code}); err != nil {
		t.Fatal(err)
	}
	ts.waitSpan(t, "otp.v1.OtpEmail/Verify")
	spans := ts.waitSpan(t, "otpd.deliver")

	start, deliver, verify := named(spans, "POST /v1/auth/otp/signup-in/email"), named(spans, "otpd.deliver"), named(spans, "otp.v1.OtpEmail/Verify")
	if start == nil {
		t.Fatal("no REST span")
	}
	linked := false
	for _, l := range deliver.Links() {
		linked = linked || l.SpanContext.SpanID() == start.SpanContext().SpanID() && l.SpanContext.TraceID() == start.SpanContext().TraceID()
	}
	if !linked {
		t.Errorf("the delivery span does not link to the request that queued it: links %+v, request %v", deliver.Links(), start.SpanContext())
	}

	attrs := map[string]string{}
	for _, a := range verify.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["network.peer.address"] != "127.0.0.1" || attrs["network.peer.port"] == "" {
		t.Errorf("the gRPC span has no peer address: %v", attrs)
	}

	// The rpc log line of each call carries its span's ids.
	want := map[string]sdktrace.ReadOnlySpan{"/otp.v1.OtpEmail/Verify": verify}
	found := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(ts.logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line not JSON: %q", sc.Text())
		}
		m, _ := line["method"].(string)
		if s, ok := want[m]; ok && line["transport"] == "grpc" {
			found[m] = true
			if line["trace_id"] != s.SpanContext().TraceID().String() || line["span_id"] != s.SpanContext().SpanID().String() {
				t.Errorf("log line %s: trace_id %v span_id %v, want %s %s", sc.Text(), line["trace_id"], line["span_id"],
					s.SpanContext().TraceID(), s.SpanContext().SpanID())
			}
		}
		if m == "/otp.v1.OtpEmail/SignUpOrIn" && line["trace_id"] != start.SpanContext().TraceID().String() {
			t.Errorf("REST call's log line lacks its trace id: %s", sc.Text())
		}
	}
	if !found["/otp.v1.OtpEmail/Verify"] {
		t.Errorf("no rpc log line for Verify in %s", ts.logs.String())
	}
}

// TestIdleServerExportsNoSpans: a server that serves nothing but health
// checks (its own Redis probe every second, the workers' polling, a
// balancer's /healthz and gRPC health checks) exports no spans.
func TestIdleServerExportsNoSpans(t *testing.T) {
	ts := startTraced(t)
	// Startup's one-off work (loading the scripts) may be traced.
	time.Sleep(200 * time.Millisecond)
	ts.exp.Reset()
	conn, err := grpc.NewClient(ts.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 3; i++ {
		res, err := http.Get(ts.rest + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(900 * time.Millisecond) // the probe runs every second
	}
	if spans := ts.exp.GetSpans(); len(spans) > 0 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Errorf("an idle server exported %d spans: %v", len(spans), names)
	}
}
