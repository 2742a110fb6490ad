package service

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/flow"
)

type ctxKey int

const (
	projectKey ctxKey = iota
	refreshKey
	clientIPKey
)

// WithClientIP stores the end user's IP (decided by the ClientIP
// interceptor).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey, ip)
}

// ClientIPFrom returns the end user's IP ("" if unknown).
func ClientIPFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}

// WithCaller stores the authenticated project and the refresh JWT from the
// Authorization value (empty when none was sent).
func WithCaller(ctx context.Context, p *flow.Project, refreshJWT string) context.Context {
	ctx = context.WithValue(ctx, projectKey, p)
	return context.WithValue(ctx, refreshKey, refreshJWT)
}

// ProjectFrom returns the authenticated project.
func ProjectFrom(ctx context.Context) (*flow.Project, bool) {
	p, ok := ctx.Value(projectKey).(*flow.Project)
	return p, ok && p != nil
}

// RefreshJWTFrom returns the refresh JWT the caller sent, if any.
func RefreshJWTFrom(ctx context.Context) string {
	s, _ := ctx.Value(refreshKey).(string)
	return s
}

// userAgent is the client's User-Agent: the browser's or SDK's header over
// REST (forwarded by the gateway), the gRPC client's otherwise.
func userAgent(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range []string{"grpcgateway-user-agent", "user-agent"} {
		if v := md.Get(k); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
