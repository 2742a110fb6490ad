package service

import (
	"context"
	"net/netip"

	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/flow"
)

// Call is what the interceptor chain learned about one call, held in the
// call's context as a single value (one allocation per call instead of a
// context layer per fact). The interceptors fill it in order, before the
// handler runs; handlers only read it.
type Call struct {
	// Project is the authenticated project (nil before Auth, and for
	// methods that need none).
	Project *flow.Project
	// RefreshJWT is the refresh JWT from the Authorization value or the DSR
	// cookie ("" when none was sent).
	RefreshJWT string
	// HeaderSecret is what follows the project id in the Authorization
	// value itself (never a cookie): an access key on the exchange.
	HeaderSecret string
	// ClientIP is the end user's bucket key, decided by the ClientIP
	// interceptor ("" if unknown).
	ClientIP string
	// ClientAddr is the end user's address itself (an access key's
	// permitted IPs); zero if unknown.
	ClientAddr netip.Addr
	// MgmtKey is the id (never the secret) of the management key that
	// admitted a management call, for its log line.
	MgmtKey string
}

type callKey struct{}

// callContext carries a Call: the context and the record in one
// allocation (context.WithValue would add a second, for the record).
type callContext struct {
	context.Context
	call Call
}

func (c *callContext) Value(key any) any {
	if key == (callKey{}) {
		return &c.call
	}
	return c.Context.Value(key)
}

// CallOf returns the call's record, adding an empty one to ctx when it has
// none (the outermost interceptor adds it; the others find it).
func CallOf(ctx context.Context) (context.Context, *Call) {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		return ctx, c
	}
	cc := &callContext{Context: ctx}
	return cc, &cc.call
}

// callFrom returns a copy of the call's record (empty when there is none).
func callFrom(ctx context.Context) Call {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		return *c
	}
	return Call{}
}

// ClientIPFrom returns the end user's IP ("" if unknown).
func ClientIPFrom(ctx context.Context) string { return callFrom(ctx).ClientIP }

// ClientAddrFrom returns the end user's address (zero if unknown).
func ClientAddrFrom(ctx context.Context) netip.Addr { return callFrom(ctx).ClientAddr }

// accessKeyFrom returns the access key of the Authorization value (never
// the DSR cookie).
func accessKeyFrom(ctx context.Context) string { return callFrom(ctx).HeaderSecret }

// MgmtKeyFrom returns the id of the management key that admitted the call.
func MgmtKeyFrom(ctx context.Context) string { return callFrom(ctx).MgmtKey }

// ProjectFrom returns the authenticated project.
func ProjectFrom(ctx context.Context) (*flow.Project, bool) {
	p := callFrom(ctx).Project
	return p, p != nil
}

// RefreshJWTFrom returns the refresh JWT the caller sent, if any.
func RefreshJWTFrom(ctx context.Context) string { return callFrom(ctx).RefreshJWT }

// userAgent is the client's User-Agent: the browser's or SDK's header over
// REST (forwarded by the gateway), the gRPC client's otherwise. It reads
// the two keys without copying the call's metadata.
func userAgent(ctx context.Context) string {
	for _, k := range [...]string{"grpcgateway-user-agent", "user-agent"} {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
