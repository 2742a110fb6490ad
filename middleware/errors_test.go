package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
)

// TestErrorsTellTheCallersContextFromRedis: a Redis call cut short carries
// a context error inside ErrUnavailable. When the request's own context
// ended (the caller cancelled, or its deadline passed), the caller's code
// is answered (Canceled, DeadlineExceeded); when it did not (otpd's own
// per-command deadline), 503 Unavailable, which the SDKs retry.
func TestErrorsTellTheCallersContextFromRedis(t *testing.T) {
	t.Parallel()
	interceptor := Chain(Errors(slog.New(slog.NewTextHandler(io.Discard, nil))))
	call := func(ctx context.Context, err error) codes.Code {
		_, got := interceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/otp.v1.OtpEmail/SignUpOrIn"},
			func(context.Context, any) (any, error) { return nil, err })
		return status.Code(got)
	}
	redisCut := func(cause error) error {
		return errors.Join(apierr.ErrUnavailable, fmt.Errorf("store: unavailable: %w", cause))
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	live := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want codes.Code
	}{
		{"otpd's own Redis deadline", live, redisCut(context.DeadlineExceeded), codes.Unavailable},
		{"caller cancelled", cancelled, redisCut(context.Canceled), codes.Canceled},
		{"caller's deadline", expired, redisCut(context.DeadlineExceeded), codes.DeadlineExceeded},
		{"domain error after the caller left", cancelled, apierr.ErrUnavailable, codes.Unavailable},
	} {
		if got := call(c.ctx, c.err); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
