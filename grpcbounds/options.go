// Package grpcbounds bounds what one client can make otpd's gRPC listener
// hold: streams per connection, connections per client and in all, the
// size of headers and messages, keepalive pings, connection age and idle
// time, and how long a stream may stay open without sending its request
// message. Every value is named in docs/hardening.md.
package grpcbounds

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/tap"
)

// The bounds. Memory under a stream flood is at most
// MaxConnsPerIP × MaxStreams stalled streams per client key, each released
// after FirstMessageTimeout.
const (
	// MaxStreams is the number of concurrent streams (calls) on one
	// connection; further streams are refused with REFUSED_STREAM, which
	// gRPC clients queue for. grpc-go also caps handler goroutines at it.
	MaxStreams = 100
	// MaxHeaderListSize bounds one call's metadata, like REST's header
	// limit.
	MaxHeaderListSize = 32 << 10
	// FirstMessageTimeout is how long a stream may stay open before its
	// request message has fully arrived.
	FirstMessageTimeout = 10 * time.Second
	// HandshakeTimeout bounds the connection preface and first settings.
	HandshakeTimeout = 10 * time.Second
	// MaxConnectionIdle closes a connection with no call for this long.
	MaxConnectionIdle = 5 * time.Minute
	// MaxConnectionAge, then MaxConnectionAgeGrace for calls in flight,
	// retire a connection (clients reconnect, spreading load over replicas).
	MaxConnectionAge      = 30 * time.Minute
	MaxConnectionAgeGrace = 30 * time.Second
	// PingInterval and PingTimeout find dead peers, releasing their
	// connection slots.
	PingInterval = 1 * time.Minute
	PingTimeout  = 20 * time.Second
	// MinClientPingInterval is the shortest keepalive interval a client
	// may use (pings without calls allowed); faster pingers get GOAWAY.
	MinClientPingInterval = 15 * time.Second
	// StreamWindow and ConnWindow are the HTTP/2 flow-control windows the
	// server grants, fixed. A stream's window is the request message limit
	// (64 KiB, grpc-go's smallest): a client may send that much of a
	// message before otpd reads it; a larger message (up to MaxRecvMsgSize)
	// arrives only while its handler reads it (grpc-go widens the window
	// for the message being read). The connection's window holds four
	// streams' worth in flight; it bounds nothing in memory (grpc-go
	// returns connection credit when data arrives, not when it is read):
	// package membudget does. Fixed windows turn off grpc-go's bandwidth
	// estimation, which grows them (up to 16 MiB) and sends a PING on the
	// data of nearly every call: a frame to write, one to read and their
	// allocations, for messages that fit the window anyway.
	StreamWindow = 64 << 10
	ConnWindow   = 256 << 10
)

// ErrNoMessage cancels a stream whose request message did not arrive in
// FirstMessageTimeout.
var ErrNoMessage = errors.New("grpcbounds: no request message in time")

// ServerOptions are the grpc.Server options that apply the bounds, with
// maxRecv the largest request message accepted and firstMessage the time a
// stream has to deliver it (0: FirstMessageTimeout). The interceptors that
// stop the first-message timer are part of them; unary (nil: none) runs
// after the timer stops, in the same interceptor, because grpc-go's chain
// of several unary interceptors allocates a closure per call. A server
// built with these options must add further stream interceptors with
// grpc.ChainStreamInterceptor, not grpc.StreamInterceptor. admit, when
// given, runs first in the tap (before the first-message timer starts): an
// error refuses the call with that status before a handler runs.
func ServerOptions(maxRecv int, firstMessage time.Duration, unary grpc.UnaryServerInterceptor, admit ...tap.ServerInHandle) []grpc.ServerOption {
	if firstMessage <= 0 {
		firstMessage = FirstMessageTimeout
	}
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(MaxStreams),
		grpc.MaxRecvMsgSize(maxRecv),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnWindow),
		grpc.ConnectionTimeout(HandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     MaxConnectionIdle,
			MaxConnectionAge:      MaxConnectionAge,
			MaxConnectionAgeGrace: MaxConnectionAgeGrace,
			Time:                  PingInterval,
			Timeout:               PingTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             MinClientPingInterval,
			PermitWithoutStream: true,
		}),
		grpc.InTapHandle(taps(append(admit, firstMessageDeadline(firstMessage))...)),
		grpc.ChainUnaryInterceptor(unaryArrived(unary)),
		grpc.ChainStreamInterceptor(streamArrived),
	}
}

// taps runs hs in order; the first error refuses the call.
func taps(hs ...tap.ServerInHandle) tap.ServerInHandle {
	if len(hs) == 1 {
		return hs[0]
	}
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		for _, h := range hs {
			var err error
			if ctx, err = h(ctx, info); err != nil {
				return ctx, err
			}
		}
		return ctx, nil
	}
}

type timerKey struct{}

// firstMessageDeadline gives every new stream a context that is canceled
// unless its request message arrives within d. gRPC has no such deadline
// of its own: a stream that sends headers and nothing else would hold its
// goroutine and buffers for as long as the connection lives.
func firstMessageDeadline(d time.Duration) tap.ServerInHandle {
	return func(ctx context.Context, _ *tap.Info) (context.Context, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		f := &firstMessage{Context: ctx, cancel: cancel}
		// When the message arrives the timer stops; the context is then
		// released with the stream's own, which gRPC cancels when the
		// stream ends.
		f.timer = time.AfterFunc(d, f.expire)
		return f, nil
	}
}

// firstMessage is a stream's context while its first-message timer runs:
// the timer, and what it cancels, in the context itself (one allocation
// instead of a closure and a context.WithValue).
type firstMessage struct {
	context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (f *firstMessage) expire() { f.cancel(ErrNoMessage) }

func (f *firstMessage) Value(key any) any {
	if key == (timerKey{}) {
		return f.timer
	}
	return f.Context.Value(key)
}

// arrived stops the stream's first-message timer.
func arrived(ctx context.Context) {
	if t, ok := ctx.Value(timerKey{}).(*time.Timer); ok {
		t.Stop()
	}
}

// unaryArrived runs once the request message is decoded (the generated
// handler decodes before calling the interceptor), then calls next.
func unaryArrived(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		arrived(ctx)
		if next == nil {
			return h(ctx, req)
		}
		return next(ctx, req, info, h)
	}
}

// streamArrived stops the timer on a streaming call's first message
// (health Watch, reflection).
func streamArrived(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &firstRecv{ServerStream: ss})
}

type firstRecv struct {
	grpc.ServerStream
	done bool
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.done {
		s.done = true
		arrived(s.Context())
	}
	return err
}
