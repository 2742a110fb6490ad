package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/service"
)

// TestAddrStringMatchesNet: the log line's peer reads as net.TCPAddr.String
// would write it.
func TestAddrStringMatchesNet(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 4000},
		&net.TCPAddr{IP: net.ParseIP("203.0.113.5").To4(), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 65535},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"},
		&net.TCPAddr{Port: 80},
		&net.UnixAddr{Name: "/run/otpd.sock", Net: "unix"},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
}

// observeBench runs calls through Observe with a project and a peer,
// as an authenticated call over TCP has.
func observeBench(b *testing.B, level slog.Level) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	proj := &flow.Project{ID: "P2aaaaaaaaaaaaaaaaaaaaaaaaaa"}
	chain := Chain(Observe(log, m, clock.Real{}, func(context.Context) string { return "grpc" }),
		func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
			return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				_, c := service.CallOf(ctx)
				c.Project = proj
				return next(ctx, req, info, h)
			}
		})
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 40000}})
	info := &grpc.UnaryServerInfo{FullMethod: "/otp.v1.OtpEmail/Verify"}
	h := func(context.Context, any) (any, error) { return nil, nil }
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := chain(ctx, nil, info, h); err != nil {
			b.Fatal(err)
		}
	}
	if level <= slog.LevelInfo && !strings.Contains(buf.String(), `"peer":"203.0.113.5:40000"`) {
		b.Fatalf("log line: %s", buf.String())
	}
	if level > slog.LevelInfo && buf.Len() != 0 {
		b.Fatalf("a line at level %v: %s", level, buf.String())
	}
}

// BenchmarkObserve is the observing layer around a successful call, with
// its log line written (info) and with the log level above it (warn).
func BenchmarkObserve(b *testing.B) {
	b.Run("info", func(b *testing.B) { observeBench(b, slog.LevelInfo) })
	b.Run("warn", func(b *testing.B) { observeBench(b, slog.LevelWarn) })
}
