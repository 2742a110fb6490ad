//go:build !race

package middleware

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/otpd/otpd/clock"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestPerCallAllocations holds the per-call garbage of two layers every
// request goes through (issue 24 §3): the undeclared-field check
// allocates nothing, and Observe with its log line's level off allocates
// only the call record.
func TestPerCallAllocations(t *testing.T) {
	req := &otpv1.VerifyRequest{LoginId: "a@example.com", Code: "000000"}
	if n := testing.AllocsPerRun(200, func() { _ = unknownField(req) }); n != 0 {
		t.Errorf("unknownField: %v allocations, want 0", n)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	chain := Chain(Observe(log, m, clock.Real{}, func(context.Context) string { return "grpc" }))
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 40000}})
	info := &grpc.UnaryServerInfo{FullMethod: "/otp.v1.OtpEmail/Verify"}
	h := func(context.Context, any) (any, error) { return nil, nil }
	if n := testing.AllocsPerRun(200, func() { _, _ = chain(ctx, req, info, h) }); n > 1 {
		t.Errorf("Observe with the log level off: %v allocations, want at most 1 (the call record)", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
