package devconsole_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	dstatus "github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/devconsole"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestActivityRecordsBlockedSendsAndOutcomes: refused starts are kept
// with their login id, channel and Descope error; other calls and
// successes are not; delivery attempts are kept with their outcome; both
// lists are bounded, newest first.
func TestActivityRecordsBlockedSendsAndOutcomes(t *testing.T) {
	a := devconsole.NewActivity(time.Now)
	chain := a.Interceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	})
	call := func(method string, err error) {
		_, _ = chain(context.Background(), &otpv1.StartRequest{LoginId: "ada@example.com"}, &grpc.UnaryServerInfo{FullMethod: method},
			func(context.Context, any) (any, error) { return nil, err })
	}
	limited := apierr.ErrRateLimited.With("too many codes").WithRetryAfter(30)
	call("/otp.v1.OtpSms/SignIn", apierr.ToStatus(limited).Err())
	call("/otp.v1.OtpEmail/SignUpOrIn", nil)                                           // sent: not blocked
	call("/otp.v1.OtpEmail/Verify", status.Error(codes.Unauthenticated, "wrong code")) // not a send
	call("/otp.v1.Session/Refresh", status.Error(codes.Unauthenticated, "no"))
	call("/otp.v1.OtpEmail/SignUp", apierr.ToStatus(apierr.ErrInvalidArgument.With("%s", strings.Repeat("x", 5000))).Err())

	blocked, _ := a.Snapshot()
	if len(blocked) != 2 {
		t.Fatalf("blocked %+v", blocked)
	}
	if b := blocked[1]; b.Channel != "sms" || b.Method != "SignIn" || b.LoginID != "ada@example.com" || b.ErrorCode != limited.Code || b.RetryAfter != 30 {
		t.Errorf("rate-limited start recorded as %+v", b)
	}
	if b := blocked[0]; b.Channel != "email" || len(b.Message) > 600 {
		t.Errorf("newest first, message bounded: %+v", b)
	}

	h := a.Track(func(_ context.Context, j queue.Job) error {
		switch j.ID {
		case "bad":
			return delivery.Permanent(errors.New("550 no such user"))
		case "slow":
			return errors.New("timeout")
		}
		return nil
	})
	for _, id := range []string{"ok", "bad", "slow"} {
		_ = h(context.Background(), queue.Job{ID: id, Attempt: 1, To: "a@example.com", Message: delivery.Message{Channel: "email"}})
	}
	_, attempts := a.Snapshot()
	got := []string{}
	for _, at := range attempts {
		got = append(got, at.JobID+":"+at.Outcome)
	}
	if strings.Join(got, " ") != "slow:retrying bad:failed ok:sent" {
		t.Errorf("attempts %v", got)
	}
	for i := 0; i < devconsole.ActivitySize+50; i++ {
		_ = h(context.Background(), queue.Job{ID: "ok"})
		call("/otp.v1.OtpVoice/SignIn", apierr.ToStatus(limited).Err())
	}
	if b, at := a.Snapshot(); len(b) != devconsole.ActivitySize || len(at) != devconsole.ActivitySize {
		t.Errorf("kept %d blocked and %d attempts, want %d each", len(b), len(at), devconsole.ActivitySize)
	}
	var none *devconsole.Activity // console off
	if b, at := none.Snapshot(); b != nil || at != nil {
		t.Error("a nil Activity holds something")
	}
}

// Statuses providers report show in the inbox's delivery list with the
// provider and its error code.
func TestActivityRecordsDeliveryStatuses(t *testing.T) {
	a := devconsole.NewActivity(time.Now)
	a.Status(dstatus.Update{Time: time.Now(), Job: "j1", Project: "P1", Channel: "sms", To: "+33612345678",
		Provider: "twilio", Status: "undelivered", ErrorCode: "30003"})
	_, attempts := a.Snapshot()
	if len(attempts) != 1 {
		t.Fatalf("attempts %+v", attempts)
	}
	if at := attempts[0]; at.JobID != "j1" || at.Status != "undelivered" || at.Provider != "twilio" || at.ErrorCode != "30003" || at.Outcome != "status" {
		t.Fatalf("status recorded as %+v", at)
	}
	var nilActivity *devconsole.Activity
	nilActivity.Status(dstatus.Update{}) // the console off: records nothing, no panic
}
