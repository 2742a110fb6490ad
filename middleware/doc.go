// Package middleware holds the gRPC unary interceptors every call runs
// through, native gRPC and REST alike (the gateway calls in-process through
// the same chain):
//
//	Observe (log line + metrics) → Recover → ClientIP → Errors (apierr → status) → Auth → ManagementAuth → handler
//
// Chain composes them into one interceptor so the server and the in-process
// REST path share exactly the same code.
package middleware

import (
	"context"

	"google.golang.org/grpc"
)

// Layer is one interceptor of the chain, built around the layer after it
// (next). The chain is composed once, when the server is built, so a call
// costs no allocation per layer; grpc-go's own chaining allocates one
// handler closure per interceptor per call.
type Layer func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor

// Chain composes layers, the first outermost, into one interceptor whose
// innermost step calls the handler.
func Chain(layers ...Layer) grpc.UnaryServerInterceptor {
	next := grpc.UnaryServerInterceptor(callHandler)
	for i := len(layers) - 1; i >= 0; i-- {
		next = layers[i](next)
	}
	return next
}

func callHandler(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(ctx, req)
}
