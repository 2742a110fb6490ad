package middleware

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/service"
)

// apiPrefix marks otpd's own methods; health and reflection are not
// authenticated.
const apiPrefix = "/otp.v1."

// Auth authenticates the project: `authorization: Bearer <ProjectID>` or
// `Bearer <ProjectID>:<RefreshJWT>[:...]`, the same value REST callers send
// in the Authorization header. public lists methods that need no project.
func Auth(projects flow.Projects, public ...string) Layer {
	open := make(map[string]bool, len(public))
	for _, m := range public {
		open[m] = true
	}
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if open[info.FullMethod] || !strings.HasPrefix(info.FullMethod, apiPrefix) {
				return next(ctx, req, info, h)
			}
			pid, refresh, ok := parseBearer(authorization(ctx))
			secret := refresh // from the header itself, never the cookie
			if ok && refresh == "" {
				refresh = refreshCookie(ctx)
			}
			if !ok {
				return nil, apierr.ErrUnauthorized.With("Missing or malformed Authorization: send 'Bearer <ProjectID>'")
			}
			p, ok := projects.Project(pid)
			if !ok {
				return nil, apierr.ErrUnauthorized.With("Unknown project")
			}
			ctx, call := service.CallOf(ctx)
			call.Project, call.RefreshJWT, call.HeaderSecret = p, refresh, secret
			return next(ctx, req, info, h)
		}
	}
}

// authorization reads the header without copying the call's metadata
// (metadata.FromIncomingContext copies all of it, on every call).
func authorization(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// refreshCookie reads the DSR cookie a browser sent (REST only; the
// gateway forwards the Cookie header as grpcgateway-cookie metadata): the
// first non-empty one. Malformed cookies beside it (a flag cookie without
// '=', a UTF-8 or JSON value a page's script set) are skipped, as
// net/http's Request.Cookie does; http.ParseCookie would refuse the whole
// header and lose the session.
func refreshCookie(ctx context.Context) string {
	lines := metadata.ValueFromIncomingContext(ctx, "grpcgateway-cookie")
	if len(lines) == 0 {
		return ""
	}
	r := http.Request{Header: http.Header{"Cookie": lines}}
	for _, c := range r.CookiesNamed("DSR") {
		if c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// parseBearer splits "Bearer <pid>[:<jwt>[:...]]". Empty parts are dropped,
// as the SDKs join only non-empty parts.
func parseBearer(v string) (project, refresh string, ok bool) {
	const prefix = "bearer "
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", false
	}
	n := 0
	for p := range strings.SplitSeq(strings.TrimSpace(v[len(prefix):]), ":") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		switch n {
		case 0:
			project = p
		case 1:
			refresh = p
		}
		n++
	}
	return project, refresh, n > 0
}
