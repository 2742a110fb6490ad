package middleware

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/otpd/otpd/apierr"
)

// Decoder makes a gRPC request whose message cannot be read (not
// protobuf, invalid UTF-8 in a string, larger than the limit) a domain
// error, apierr.ErrBadRequest, that runs through the interceptor chain: it
// is logged and counted like every other call and answered InvalidArgument
// with ErrorInfo.
//
// grpc-go alone answers such a request Internal (or ResourceExhausted)
// without ErrorInfo and writes that status itself, before a handler or
// interceptor could change it. So the Decoder's codec never fails: it
// notes the failure against the message; the Refusals layer (unary calls)
// and the stream handlers registered through Register (streaming calls)
// find the note and take the error path. A server that uses Codec must put
// Refusals outermost in its unary chain and register every service
// through Register, or the notes of its failed messages would never be
// collected.
type Decoder struct {
	max    int
	failed sync.Map // message pointer → error
}

// NewDecoder returns a Decoder refusing messages over max bytes. The
// server's own grpc.MaxRecvMsgSize must be larger, or grpc-go refuses them
// first.
func NewDecoder(max int) *Decoder { return &Decoder{max: max} }

var errTooLarge = errors.New("message too large")

// Codec is the server codec (grpc.ForceServerCodecV2): protobuf, noting
// failures instead of returning them.
func (d *Decoder) Codec() encoding.CodecV2 {
	return noteCodec{CodecV2: encoding.GetCodecV2("proto"), d: d}
}

type noteCodec struct {
	encoding.CodecV2
	d *Decoder
}

func (c noteCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if data.Len() > c.d.max {
		c.d.failed.Store(v, errTooLarge)
		return nil
	}
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		c.d.failed.Store(v, err)
	} else if f := unknownField(v); f != "" {
		c.d.failed.Store(v, unknownRefusal(f))
	}
	return nil
}

// refusal returns the caller-facing error for a message that failed to
// decode, and forgets the note.
func (d *Decoder) refusal(v any) *apierr.Error {
	err, ok := d.failed.LoadAndDelete(v)
	if !ok {
		return nil
	}
	if err == errTooLarge {
		return apierr.ErrBadRequest.With("The request message is larger than %d bytes", d.max)
	}
	if e, ok := err.(*apierr.Error); ok {
		return e
	}
	return apierr.ErrBadRequest.With("The request is not a valid protobuf message for this operation")
}

// Register returns a registrar that registers services on r with handlers
// that turn a noted decode failure into apierr.ErrBadRequest.
func (d *Decoder) Register(r grpc.ServiceRegistrar) *Registrar { return &Registrar{r: r, d: d} }

// Registrar registers services through a Decoder. It also serves
// GetServiceInfo when the underlying registrar does (reflection needs it).
type Registrar struct {
	r grpc.ServiceRegistrar
	d *Decoder
}

// GetServiceInfo is the underlying server's.
func (g *Registrar) GetServiceInfo() map[string]grpc.ServiceInfo {
	if s, ok := g.r.(interface {
		GetServiceInfo() map[string]grpc.ServiceInfo
	}); ok {
		return s.GetServiceInfo()
	}
	return nil
}

// RegisterService registers the service with wrapped stream handlers;
// unary calls are refused by the Refusals layer.
func (g *Registrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	c := *desc
	c.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, s := range desc.Streams {
		orig := s.Handler
		s.Handler = func(srv any, ss grpc.ServerStream) error {
			return orig(srv, &noteStream{ServerStream: ss, d: g.d})
		}
		c.Streams[i] = s
	}
	g.r.RegisterService(&c, impl)
}

// Refusals is the outermost layer of the chain of a server whose codec is
// d's: a call whose message failed to decode runs through the rest of the
// chain (so that it is logged and counted) with a handler that refuses it.
// It must be outermost so that every note is collected, also for calls an
// inner layer refuses. The codec never fails, so grpc-go always reaches
// the chain once the codec has run.
func (d *Decoder) Refusals() Layer {
	return func(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if bad := d.refusal(req); bad != nil {
				return next(ctx, nil, info, func(context.Context, any) (any, error) { return nil, bad })
			}
			return next(ctx, req, info, h)
		}
	}
}

// noteStream turns a noted failure into an error on a streaming call
// (health Watch, reflection).
type noteStream struct {
	grpc.ServerStream
	d *Decoder
}

func (s *noteStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if b := s.d.refusal(m); b != nil && err == nil {
		return apierr.ToStatus(b).Err()
	}
	return err
}
