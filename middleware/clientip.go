package middleware

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/otpd/otpd/ipkey"
	"github.com/otpd/otpd/service"
)

// ClientIPHeader is the metadata key a trusted internal gRPC caller uses to
// pass the end user's IP.
const ClientIPHeader = "x-otpd-client-ip"

// ClientIPOptions configure ClientIP.
type ClientIPOptions struct {
	// Trusted are the proxies (and internal gRPC callers) whose forwarded
	// client IP is believed.
	Trusted []netip.Prefix
	// IPv6Bits keys an IPv6 client by its prefix of this length (ipkey.Of).
	IPv6Bits int
	// InProcess reports calls that came through the REST gateway. For
	// them x-otpd-client-ip is never read: it is a gRPC-only channel from
	// a trusted peer on the gRPC listener, and the peer of a REST call is
	// the HTTP client.
	InProcess func(context.Context) bool
}

// ClientIP decides who the end user is, for rate limits:
//   - the connection's peer address, unless the peer is a trusted proxy;
//   - from a trusted peer: x-otpd-client-ip (native gRPC only), else the
//     right-most X-Forwarded-For entry that is not itself a trusted proxy
//     (the REST gateway appends the connection's address to that header),
//     else X-Real-IP.
//
// Untrusted peers cannot move themselves to another IP with these headers.
// The result is the client's bucket key (ipkey.Of): IPv6 clients are
// keyed by their prefix, so one network cannot mint unlimited buckets.
func ClientIP(o ClientIPOptions) Layer {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range o.Trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			viaREST := o.InProcess != nil && o.InProcess(ctx)
			ctx, call := service.CallOf(ctx)
			addr := resolve(ctx, isTrusted, viaREST)
			call.ClientIP, call.ClientAddr = ipkey.Of(addr, o.IPv6Bits), addr
			return next(ctx, req, info, h)
		}
	}
}

func resolve(ctx context.Context, isTrusted func(netip.Addr) bool, viaREST bool) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return netip.Addr{}
	}
	ta, ok := p.Addr.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	if !isTrusted(ip) {
		return ip
	}
	if v := first(ctx, ClientIPHeader); v != "" && !viaREST {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap()
		}
	}
	if xff := metadata.ValueFromIncomingContext(ctx, "x-forwarded-for"); len(xff) > 0 {
		parts := strings.Split(strings.Join(xff, ","), ",")
		for i := len(parts) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
			if err != nil {
				break
			}
			if a = a.Unmap(); !isTrusted(a) {
				return a
			}
		}
	}
	if v := first(ctx, "x-real-ip"); v != "" {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap()
		}
	}
	return ip
}

// first is the first value of the call's metadata key k, read without
// copying the whole metadata (metadata.FromIncomingContext would, on every
// call from a trusted proxy).
func first(ctx context.Context, k string) string {
	if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}
