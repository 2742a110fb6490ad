package flow_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
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

// flakyReader fails its second Read (the token id read by the mint that
// follows the one-script verify), and serves every other from r.
type flakyReader struct {
	r     io.Reader
	reads atomic.Int32
}

func (f *flakyReader) Read(b []byte) (int, error) {
	if f.reads.Add(1) == 2 {
		return 0, errors.New("entropy source failed")
	}
	return f.r.Read(b)
}

// A verify whose login ran in the verify's script but whose tokens could
// not be minted gives the code back and removes the user that script
// created (binding and record): the retry is a first sign-up again.
func TestVerifyRetryAfterMintFails(t *testing.T) {
	t.Parallel()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	iss, err := token.NewIssuer(token.Config{ProjectID: "P1"}, p.Keys, time.Now, &flakyReader{r: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	p.Issuer = iss
	ctx := context.Background()
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUp, LoginID: "mint@example.com"}); err != nil {
		t.Fatal(err)
	}
	verify := func() (flow.VerifyOutput, error) {
		return e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "mint@example.com", Code: snd.msgs[0].Code})
	}
	if _, err := verify(); err == nil {
		t.Fatal("first verify succeeded without tokens")
	}
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: "mint@example.com"}); !errors.Is(err, apierr.ErrUserNotFound) {
		t.Fatalf("after the failed verify the login id is bound: %v", err)
	}
	out, err := verify()
	if err != nil || !out.FirstSeen || out.Tokens.Refresh == "" {
		t.Fatalf("the retry of the verify: %+v %v", out, err)
	}
	if keys := c.Keys(ctx, "*:user").Val(); len(keys) != 1 {
		t.Fatalf("user records after a failed and a retried sign-up: %v, want 1", keys)
	}
	if ids := c.HKeys(ctx, "otpd:{P1}:ix:rec").Val(); len(ids) != 1 || ids[0] != out.User.UserID {
		t.Fatalf("search index after a failed and a retried sign-up: %v, want [%s]", ids, out.User.UserID)
	}
}
