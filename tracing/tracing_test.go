package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/tracing"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnabledByStandardVariables(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
	}
	for _, c := range cases {
		if got := tracing.Enabled(envOf(c.env)); got != c.want {
			t.Errorf("%v: enabled %v, want %v", c.env, got, c.want)
		}
	}
	tp, stop, err := tracing.Setup(context.Background(), envOf(nil), "v-test")
	if tp != nil || err != nil || stop(context.Background()) != nil {
		t.Errorf("off by default: provider %v, err %v", tp, err)
	}
	if _, _, err := tracing.Setup(context.Background(), envOf(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}), "v-test"); err == nil {
		t.Error("OTEL_TRACES_EXPORTER=zipkin: no error")
	}
	tp, stop, err = tracing.Setup(context.Background(), envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}), "v-test")
	if err != nil || tp == nil {
		t.Fatalf("with an endpoint: %v %v", tp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = stop(ctx) // flushing to a closed port fails; it must not hang
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSpansCarryNoSecrets signs up over REST and verifies over gRPC on a
// traced server, and checks that spans exist for REST, gRPC, the Redis
// scripts and the delivery, and that no attribute, event or status of any
// span holds the code, a token, or the user's address.
func TestSpansCarryNoSecrets(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	cfg, err := config.Load(envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := store.StartEmbedded(clock.Real{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	codes := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Redis: emb.Client, Clock: clock.Real{},
		Log: slog.New(slog.DiscardHandler), CodeLog: codes, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, gl, hl) }()
	defer func() { cancel(); <-done }()
	base := "http://" + hl.Addr().String()
	pid := config.DefaultProjectID
	const email = "grace.hopper@example.com"

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/auth/otp/signup-in/email", strings.NewReader(`{"loginId":"`+email+`"}`))
	req.Header.Set("Authorization", "Bearer "+pid)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("start: %d", res.StatusCode)
	}
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no code delivered")
		}
		if m := regexp.MustCompile(`"code":"(\d+)"`).FindStringSubmatch(codes.String()); m != nil {
			code = m[1]
		}
	}
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid)
	jwt, err := otpv1.NewOtpEmailClient(conn).Verify(gctx, &otpv1.VerifyRequest{LoginId: email, Code: code})
	if err != nil {
		t.Fatal(err)
	}

	// The server ends its gRPC span after the answer is on the wire: the
	// client can return first. Wait for it (bounded).
	spans := exp.GetSpans()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		found := false
		for _, s := range spans {
			found = found || s.Name == "otp.v1.OtpEmail/Verify"
		}
		if found {
			break
		}
		spans = exp.GetSpans()
	}
	var names []string
	seen := map[string]bool{}
	for _, s := range spans {
		names = append(names, s.Name)
		seen[s.Name] = true
		for k, v := range map[string]string{"REST": "POST /v1/auth/otp/signup-in/email", "gRPC": "otp.v1.OtpEmail/Verify", "delivery": "otpd.deliver"} {
			if s.Name == v {
				seen[k] = true
			}
		}
		if s.Name == "evalsha" || s.Name == "eval" {
			seen["redis script"] = true
		}
	}
	for _, want := range []string{"REST", "gRPC", "delivery", "redis script"} {
		if !seen[want] {
			t.Errorf("no %s span among %v", want, names)
		}
	}
	secrets := map[string]string{"code": code, "session JWT": jwt.SessionJwt, "refresh JWT": jwt.GetRefreshJwt(), "address": email, "address local part": "grace.hopper"}
	for _, s := range spans {
		var texts []string
		texts = append(texts, s.Name, s.Status.Description)
		for _, a := range s.Attributes {
			texts = append(texts, string(a.Key)+"="+a.Value.Emit())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, a := range e.Attributes {
				texts = append(texts, string(a.Key)+"="+a.Value.Emit())
			}
		}
		all := strings.Join(texts, " | ")
		for what, v := range secrets {
			if v != "" && strings.Contains(all, v) {
				t.Errorf("span %q carries the %s: %s", s.Name, what, all)
			}
		}
	}
}

// TestDeliverySpanOmitsErrorText: a provider's error quoting the address
// is not recorded; the outcome is.
func TestDeliverySpanOmitsErrorText(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	h := tracing.Deliveries(tp, func(context.Context, queue.Job) error {
		return delivery.Permanent(errors.New("550 5.1.1 <victim@example.com>: user unknown"))
	})
	err := h(context.Background(), queue.Job{ID: "j1", Attempt: 2, Message: delivery.Message{Project: "P", Channel: "email", To: "victim@example.com", Code: "123456"}})
	if !delivery.IsPermanent(err) {
		t.Fatalf("error not passed through: %v", err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	b, _ := json.Marshal(spans[0].Attributes)
	all := fmt.Sprintf("%s %s %v", b, spans[0].Status.Description, spans[0].Events)
	if strings.Contains(all, "victim") || strings.Contains(all, "123456") {
		t.Errorf("delivery span carries the address or code: %s", all)
	}
	if !strings.Contains(all, "permanent") {
		t.Errorf("delivery span lacks the outcome: %s", all)
	}
}

// TestRESTIgnoresClientTraceParent: REST is public, so a client's sampled
// traceparent neither becomes the parent of otpd's span (it is only
// linked) nor makes a never-sampling provider record the call.
func TestRESTIgnoresClientTraceParent(t *testing.T) {
	t.Parallel()
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := tracing.HTTPHandler(tp, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, _ := http.NewRequest("POST", "http://otpd.test/v1/auth/otp/signin/email", nil)
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	h.ServeHTTP(discardWriter{}, req)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	if got := spans[0].SpanContext().TraceID().String(); got == clientTrace || spans[0].Parent().IsValid() {
		t.Errorf("the client's trace context became the parent: trace %s, parent %v", got, spans[0].Parent())
	}
	if links := spans[0].Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != clientTrace {
		t.Errorf("the client's trace context is not linked: %v", links)
	}
	never := tracetest.NewSpanRecorder()
	tracing.HTTPHandler(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(never),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(discardWriter{}, req)
	if n := len(never.Ended()); n != 0 {
		t.Errorf("a client's sampled flag made a never-sampling provider record %d spans", n)
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
