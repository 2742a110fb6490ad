// Package service implements otpd's gRPC services as thin adapters: proto
// in, flow engine call, proto out. The four channel services share one
// implementation parameterised by channel. Errors are returned as apierr
// values; the error interceptor (package middleware) maps them to status.
package service
