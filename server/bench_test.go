package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// zeroCodes makes every code 000000 (as the benchmark build does).
type zeroCodes struct{}

func (zeroCodes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func benchEnv(b *testing.B, opts ...envOption) *env {
	b.Helper()
	p := config.Project{ID: pid, Delivery: config.Delivery{Providers: []config.Provider{
		{ID: "noop", Type: "noop", Channels: []string{"email", "sms", "voice", "whatsapp"}}}}}
	return newEnv(b, true, append([]envOption{withProject(p), func(s *envSetup) { s.codes = zeroCodes{} }}, opts...)...)
}

// BenchmarkStartGRPC is one SignUpOrIn over a real gRPC connection against
// a real redis-server, delivery (noop provider) included in the process.
func BenchmarkStartGRPC(b *testing.B) {
	e := benchEnv(b)
	email := otpv1.NewOtpEmailClient(e.conn)
	ctx := e.authCtx()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("b%d@bench.test", n.Add(1))
			if _, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: id}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	e.drain()
}

// BenchmarkHealthGRPC is the floor under every unary call on otpd's gRPC
// server: a health Check over the same connection, transport, interceptor
// chain and request log line, with no work of its own. StartGRPC and
// VerifyGRPC minus this are what a start and a verify add.
func BenchmarkHealthGRPC(b *testing.B) {
	e := benchEnv(b)
	health := healthpb.NewHealthClient(e.conn)
	ctx := e.authCtx()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStartGRPC50 is StartGRPC with 50 concurrent calls (make bench's
// c=50): the delivery worker reads and acknowledges jobs in batches, as
// under load, instead of one by one.
func BenchmarkStartGRPC50(b *testing.B) {
	b.SetParallelism(25)
	BenchmarkStartGRPC(b)
}

// BenchmarkVerifyGRPC verifies pre-seeded codes: a new user, a session and
// a refresh JWT per call.
func BenchmarkVerifyGRPC(b *testing.B) {
	e := benchEnv(b)
	email := otpv1.NewOtpEmailClient(e.conn)
	ctx := e.authCtx()
	for i := range b.N {
		if _, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: fmt.Sprintf("v%d@bench.test", i)}); err != nil {
			b.Fatal(err)
		}
	}
	e.drain()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("v%d@bench.test", n.Add(1)-1)
			if _, err := email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecodeStartRequest is the REST gateway's body decoding.
func BenchmarkDecodeStartRequest(b *testing.B) {
	m := &runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true}}
	body := `{"loginId":"ada@example.com","user":{"name":"Ada"},"loginOptions":{"stepup":false,"mfa":false,"customClaims":null,"templateOptions":{"app":"Acme"}},"providerId":""}`
	b.ReportAllocs()
	for b.Loop() {
		var r otpv1.StartRequest
		if err := m.NewDecoder(strings.NewReader(body)).Decode(&r); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = context.Background
