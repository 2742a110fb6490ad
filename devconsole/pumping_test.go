package devconsole_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/devconsole"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestActivityShowsPumpingBlocks: a start the pumping guard refused is in
// the console's blocked sends with its code (E130403) and reason.
func TestActivityShowsPumpingBlocks(t *testing.T) {
	t.Parallel()
	a := devconsole.NewActivity(time.Now)
	chain := a.Interceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	})
	_, _ = chain(context.Background(), &otpv1.StartRequest{LoginId: "+14155550999"}, &grpc.UnaryServerInfo{FullMethod: "/otp.v1.OtpSms/SignUpOrIn"},
		func(context.Context, any) (any, error) { return nil, apierr.ToStatus(apierr.ErrPumpingBlocked).Err() })
	blocked, _ := a.Snapshot()
	if len(blocked) != 1 || blocked[0].ErrorCode != "E130403" || blocked[0].Channel != "sms" || blocked[0].Message != apierr.ErrPumpingBlocked.Message {
		t.Fatalf("blocked sends: %+v", blocked)
	}
}
