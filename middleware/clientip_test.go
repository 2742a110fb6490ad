package middleware

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/otpd/otpd/service"
)

// TestClientIPMetadataOnlyOnGRPC: x-otpd-client-ip from a trusted peer
// names the client on the gRPC listener, never on a call that came through
// the REST gateway, whatever headers reached its metadata.
func TestClientIPMetadataOnlyOnGRPC(t *testing.T) {
	ic := func(rest bool) grpc.UnaryServerInterceptor {
		return Chain(ClientIP(ClientIPOptions{
			Trusted:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			IPv6Bits:  64,
			InProcess: func(context.Context) bool { return rest },
		}))
	}
	for _, c := range []struct {
		name string
		rest bool
		md   []string
		want string
	}{
		{"gRPC from trusted peer", false, []string{ClientIPHeader, "203.0.113.5"}, "203.0.113.5"},
		{"gRPC from trusted peer, IPv6", false, []string{ClientIPHeader, "2001:db8::7"}, "2001:db8::/64"},
		{"REST from trusted peer", true, []string{ClientIPHeader, "203.0.113.5"}, "10.1.2.3"},
		{"REST from trusted peer with X-Forwarded-For", true, []string{ClientIPHeader, "203.0.113.5", "x-forwarded-for", "198.51.100.4, 10.1.2.3"}, "198.51.100.4"},
	} {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 4000}})
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(c.md...))
		var got string
		_, _ = ic(c.rest)(ctx, nil, &grpc.UnaryServerInfo{}, func(ctx context.Context, _ any) (any, error) {
			got = service.ClientIPFrom(ctx)
			return nil, nil
		})
		if got != c.want {
			t.Errorf("%s: client IP %q, want %q", c.name, got, c.want)
		}
	}
}
