package middleware

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/service"
)

// ManagementPrefix is the full-method prefix of the management service.
const ManagementPrefix = "/otp.v1.Management/"

// ManagementAuth admits management calls that carry a management key of
// their project: "Bearer <ProjectID>:<ManagementKey>". It runs after Auth
// (which found the project). The key's id (never the key) goes on the
// call's log line. Other methods pass through.
func ManagementAuth(keys *mgmt.KeyRing) Layer {
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return manage(ctx, req, info, h, next, keys)
		}
	}
}

func manage(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler, next grpc.UnaryServerInterceptor, keys *mgmt.KeyRing) (any, error) {
	if !strings.HasPrefix(info.FullMethod, ManagementPrefix) {
		return next(ctx, req, info, h)
	}
	p, ok := service.ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrMgmtUnauthorized
	}
	// The key from the header itself, never the DSR cookie Auth may
	// have picked up.
	_, secret, _ := parseBearer(authorization(ctx))
	if keys.Count(p.ID) == 0 {
		return nil, apierr.ErrMgmtUnauthorized.With("No management key is configured for this project")
	}
	id, ok := keys.Check(p.ID, secret)
	if !ok {
		return nil, apierr.ErrMgmtUnauthorized
	}
	ctx, call := service.CallOf(ctx)
	call.MgmtKey = id
	return next(ctx, req, info, h)
}
