package middleware

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/otpd/otpd/service"
)

// ClientIPHeader is the metadata key a trusted internal gRPC caller uses to
// pass the end user's IP.
const ClientIPHeader = "x-otpd-client-ip"

// ClientIP decides who the end user is, for rate limits:
//   - the connection's peer address, unless the peer is a trusted proxy;
//   - from a trusted peer: x-otpd-client-ip (gRPC), else the right-most
//     X-Forwarded-For entry that is not itself a trusted proxy (the REST
//     gateway appends the connection's address to that header), else
//     X-Real-IP.
//
// Untrusted peers cannot move themselves to another IP with these headers.
func ClientIP(trusted []netip.Prefix) grpc.UnaryServerInterceptor {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(service.WithClientIP(ctx, resolve(ctx, isTrusted)), req)
	}
}

func resolve(ctx context.Context, isTrusted func(netip.Addr) bool) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	ta, ok := p.Addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip := ta.AddrPort().Addr().Unmap()
	if !isTrusted(ip) {
		return ip.String()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := first(md, ClientIPHeader); v != "" {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap().String()
		}
	}
	if xff := md.Get("x-forwarded-for"); len(xff) > 0 {
		parts := strings.Split(strings.Join(xff, ","), ",")
		for i := len(parts) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
			if err != nil {
				break
			}
			if a = a.Unmap(); !isTrusted(a) {
				return a.String()
			}
		}
	}
	if v := first(md, "x-real-ip"); v != "" {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap().String()
		}
	}
	return ip.String()
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}
