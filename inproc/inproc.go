// Package inproc is a grpc.ClientConnInterface that calls registered
// services in the same process, through the same unary interceptor chain
// as the network server, without serialising to the wire.
//
// The REST gateway uses it: a REST call gets exactly the authentication,
// validation, logging and metrics of a gRPC call, at a fraction of the cost
// of the gateway dialing its own gRPC port. Only unary methods are served.
//
// What crosses the boundary: outgoing metadata becomes incoming metadata;
// the peer in the context (the HTTP client's address) is kept; headers a
// handler sets with grpc.SetHeader/SendHeader and trailers it sets reach
// the caller's grpc.Header/grpc.Trailer call options. Request and response
// messages are copied (proto.Merge), so neither side sees the other's
// mutations.
package inproc

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

type method struct {
	impl    any
	handler func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error)
}

// Channel dispatches calls to registered services.
type Channel struct {
	interceptor grpc.UnaryServerInterceptor
	methods     map[string]method
}

var (
	_ grpc.ClientConnInterface = (*Channel)(nil)
	_ grpc.ServiceRegistrar    = (*Channel)(nil)
)

// New returns a Channel whose calls run through ic (nil for none).
func New(ic grpc.UnaryServerInterceptor) *Channel {
	return &Channel{interceptor: ic, methods: map[string]method{}}
}

// RegisterService makes a service's unary methods callable.
func (c *Channel) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for _, m := range desc.Methods {
		c.methods["/"+desc.ServiceName+"/"+m.MethodName] = method{impl: impl, handler: m.Handler}
	}
}

type restKey struct{}

// IsInProcess reports whether ctx belongs to a call that came through a
// Channel (for the transport label of logs and metrics).
func IsInProcess(ctx context.Context) bool {
	v, _ := ctx.Value(restKey{}).(bool)
	return v
}

// Invoke calls the method in-process.
func (c *Channel) Invoke(ctx context.Context, fullMethod string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[fullMethod]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	in, ok := args.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "inproc: %T is not a proto message", args)
	}
	out, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "inproc: %T is not a proto message", reply)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	sctx := metadata.NewIncomingContext(ctx, md)
	sctx = context.WithValue(sctx, restKey{}, true)
	stream := &transportStream{method: fullMethod}
	sctx = grpc.NewContextWithServerTransportStream(sctx, stream)

	dec := func(v any) error {
		dst, ok := v.(proto.Message)
		if !ok {
			return fmt.Errorf("inproc: %T is not a proto message", v)
		}
		proto.Merge(dst, in)
		return nil
	}
	resp, err := m.handler(m.impl, sctx, dec, c.interceptor)
	stream.deliver(opts)
	if err != nil {
		return err
	}
	if r, ok := resp.(proto.Message); ok && r != nil {
		proto.Merge(out, r)
	}
	return nil
}

// NewStream is not supported: otpd has no streaming methods.
func (c *Channel) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "inproc: streaming is not supported")
}

// transportStream collects what a handler sets with grpc.SetHeader & co.
type transportStream struct {
	method  string
	mu      sync.Mutex
	header  metadata.MD
	trailer metadata.MD
}

func (s *transportStream) Method() string { return s.method }

func (s *transportStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header = metadata.Join(s.header, lower(md))
	return nil
}

func (s *transportStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *transportStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, lower(md))
	return nil
}

func lower(md metadata.MD) metadata.MD {
	out := make(metadata.MD, len(md))
	for k, v := range md {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (s *transportStream) deliver(opts []grpc.CallOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			if s.header != nil {
				*o.HeaderAddr = s.header
			}
		case grpc.TrailerCallOption:
			if s.trailer != nil {
				*o.TrailerAddr = s.trailer
			}
		}
	}
}
