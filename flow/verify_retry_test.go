package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// failingUsers makes CompleteLogin fail as an unreachable Redis would, a
// given number of times.
type failingUsers struct {
	store.Users
	fail atomic.Int32
}

func (f *failingUsers) CompleteLogin(ctx context.Context, l store.Login) (store.User, bool, error) {
	if f.fail.Add(-1) >= 0 {
		return store.User{}, false, store.ErrUnavailable
	}
	return f.Users.CompleteLogin(ctx, l)
}

// Issue 11: a verify whose last step (login.lua, on the user's slot) fails
// with 503 gives its code back, so the SDK's retry of the same verify
// signs the user in; and the failed first try leaves no login id bound to
// a user record that was never written.
func TestVerifyRetryAfterLoginStepFails(t *testing.T) {
	t.Parallel()
	e, p, snd, users := newEngineWith(t, func(u store.Users) store.Users { return &failingUsers{Users: u} })
	fu := users.(*failingUsers)
	ctx := context.Background()
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUp, LoginID: "retry@example.com"}); err != nil {
		t.Fatal(err)
	}
	code := snd.msgs[0].Code
	verify := func() (flow.VerifyOutput, error) {
		return e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "retry@example.com", Code: code})
	}
	fu.fail.Store(1)
	if _, err := verify(); !errors.Is(err, apierr.ErrUnavailable) {
		t.Fatalf("first verify: %v, want 503", err)
	}
	// The first try left no binding: a sign-up is still a sign-up.
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: "retry@example.com"}); !errors.Is(err, apierr.ErrUserNotFound) {
		t.Fatalf("after the failed verify the login id is bound: %v", err)
	}
	out, err := verify()
	if err != nil {
		t.Fatalf("the retry of the verify: %v", err)
	}
	if !out.FirstSeen || out.User.Email != "retry@example.com" || !out.User.VerifiedEmail {
		t.Fatalf("user after the retry: %+v", out)
	}
	// The code works once: a third verify is refused.
	if _, err := verify(); !errors.Is(err, apierr.ErrWrongCode) {
		t.Fatalf("a third verify: %v", err)
	}
}
