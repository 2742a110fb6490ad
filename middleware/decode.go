package middleware

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
)

// DecodeErrors registers services on r so that a unary request whose
// message cannot be read (not protobuf, invalid UTF-8 in a string, larger
// than maxRecv) still runs through the interceptor chain, as
// apierr.ErrBadRequest: it is logged and counted like every other call and
// answered InvalidArgument with ErrorInfo. Without it, grpc-go answers
// such a request itself, Internal or ResourceExhausted, with no ErrorInfo,
// before any interceptor runs.
func DecodeErrors(r grpc.ServiceRegistrar, maxRecv int) grpc.ServiceRegistrar {
	return &decodeErrors{r: r, maxRecv: maxRecv}
}

type decodeErrors struct {
	r       grpc.ServiceRegistrar
	maxRecv int
}

func (d *decodeErrors) RegisterService(desc *grpc.ServiceDesc, impl any) {
	c := *desc
	c.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		full := "/" + desc.ServiceName + "/" + m.MethodName
		orig := m.Handler
		m.Handler = func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			var decErr error
			resp, err := orig(srv, ctx, func(v any) error {
				decErr = dec(v)
				return decErr
			}, ic)
			if decErr == nil || ic == nil {
				return resp, err
			}
			if ctx.Err() != nil {
				// The caller left, or never sent its message in time
				// (grpcbounds); nobody reads an answer, and a flood of these
				// is not worth a log line each.
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			bad := apierr.ErrBadRequest.With("The request is not a valid protobuf message for this operation")
			if status.Code(decErr) == codes.ResourceExhausted {
				bad = apierr.ErrBadRequest.With("The request message is larger than %d bytes", d.maxRecv)
			}
			return ic(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, func(context.Context, any) (any, error) {
				return nil, bad
			})
		}
		c.Methods[i] = m
	}
	d.r.RegisterService(&c, impl)
}
