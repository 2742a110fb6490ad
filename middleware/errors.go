package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/otpd/otpd/apierr"
)

// Errors maps every error a handler returns to a gRPC status through
// apierr.ToStatus, the one mapping; a context error of the caller's own
// (its cancel, its deadline) is mapped from the request's context. Errors
// that are not domain errors are logged with their cause (the caller only
// sees E010500).
func Errors(log *slog.Logger) Layer {
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := next(ctx, req, info, h)
			if err == nil {
				return resp, nil
			}
			st := apierr.ToStatus(err)
			if cerr := ctx.Err(); cerr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				// The caller cancelled or ran out of its own deadline:
				// say so (Canceled, 504), not the 503 that ToStatus gives
				// a Redis call cut short under otpd's own deadline.
				st = apierr.ToStatus(cerr)
			}
			if st.Code() == codes.Internal || st.Code() == codes.Unavailable {
				log.ErrorContext(ctx, "request failed", "method", info.FullMethod, "code", st.Code().String(), "error", err.Error())
			}
			return nil, st.Err()
		}
	}
}

// Recover turns a panic in a handler into an internal error and logs the
// stack.
func Recover(log *slog.Logger) Layer {
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
			defer func() {
				if r := recover(); r != nil {
					log.ErrorContext(ctx, "panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					resp, err = nil, apierr.ToStatus(apierr.ErrInternal).Err()
				}
			}()
			return next(ctx, req, info, h)
		}
	}
}
