// Package middleware holds the gRPC unary interceptors every call runs
// through, native gRPC and REST alike (the gateway calls in-process through
// the same chain):
//
//	Observe (log line + metrics) → Recover → Errors (apierr → status) → Auth → handler
//
// Chain composes them into one interceptor so the server and the in-process
// REST path share exactly the same code.
package middleware

import (
	"context"

	"google.golang.org/grpc"
)

// Chain composes interceptors, the first outermost.
func Chain(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		next := h
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], next
			next = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, inner) }
		}
		return next(ctx, req)
	}
}
