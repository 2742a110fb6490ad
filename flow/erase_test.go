package flow_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// erasingAccounts erases a user (as mgmt.Service.erase does: EraseUser,
// then every login id unbound) right after a chosen step of an update
// flow succeeds: the delete landing between two of the flow's scripts.
type erasingAccounts struct {
	store.Accounts
	st *store.RedisStore
	// after names the step ("bind <login id>" or "contact <user id>"),
	// victim the user erased then.
	after, victim string
	done          bool
}

func (a *erasingAccounts) erase(ctx context.Context, step string) {
	if a.done || step != a.after {
		return
	}
	a.done = true
	ids, err := a.st.EraseUser(ctx, "P1", a.victim, false)
	if err != nil {
		panic(err)
	}
	for _, id := range ids {
		if err := a.st.UnbindLoginID(ctx, "P1", id, a.victim); err != nil {
			panic(err)
		}
	}
	if err := a.st.FinishErase(ctx, "P1", a.victim); err != nil {
		panic(err)
	}
}

func (a *erasingAccounts) BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, c store.Contact, addr string) error {
	err := a.Accounts.BindLogin(ctx, project, loginID, userID, expectFrom, c, addr)
	if err == nil {
		a.erase(ctx, "bind "+loginID)
	}
	return err
}

func (a *erasingAccounts) ApplyContact(ctx context.Context, c store.ContactChange) (store.User, error) {
	u, err := a.Accounts.ApplyContact(ctx, c)
	if err == nil {
		a.erase(ctx, "contact "+c.UserID)
	}
	return u, err
}

// newEraseEngine is an engine on miniredis whose Accounts erase a user
// mid-flow (see erasingAccounts).
func newEraseEngine(t *testing.T) (*flow.Engine, *flow.Project, *captureSender, *store.RedisStore, *erasingAccounts) {
	t.Helper()
	_, c := testredis.Mini(t)
	st := store.NewRedisStore(c)
	h, err := otpcode.NewHasher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	key, _ := token.GenerateKey(token.ES256)
	ks, _ := token.NewKeySet(key)
	iss, err := token.NewIssuer(token.Config{ProjectID: "P1"}, ks, clk.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	snd := &captureSender{}
	acc := &erasingAccounts{Accounts: st, st: st}
	e := flow.New(flow.Deps{Codes: st, Users: st, Sessions: st, Accounts: acc, Gen: otpcode.NewGenerator(rand.Reader),
		Hasher: h, Sender: snd, Clock: clk, Random: rand.Reader, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
		CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}
	return e, p, snd, st, acc
}

// signUp signs loginID up by email and returns its verify.
func signUp(t *testing.T, e *flow.Engine, p *flow.Project, snd *captureSender, loginID string) flow.VerifyOutput {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUp, LoginID: loginID}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: loginID, Code: snd.msgs[len(snd.msgs)-1].Code})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// updateEmail verifies an update of loginID's user to addr (as a login id
// too; merging into addr's user when merge).
func updateEmail(t *testing.T, e *flow.Engine, p *flow.Project, snd *captureSender, who flow.VerifyOutput, loginID, addr string, merge bool) error {
	t.Helper()
	ctx := context.Background()
	caller, err := e.Authenticate(ctx, p, who.Tokens.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateStart(ctx, flow.UpdateInput{Project: p, Channel: flow.Email, Caller: caller, LoginID: loginID,
		Address: addr, AddLoginID: true, MergeExisting: merge}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: loginID, Code: snd.msgs[len(snd.msgs)-1].Code})
	return err
}

// TestUpdateRacingEraseBindsNothing (issue 19 §2): an update-email flow
// that adds the new address as a login id, with the user erased between
// its steps, leaves no login id naming the erased user: the new one it
// bound is taken back; the copies it sets afterwards never re-bind the
// login ids the erasure unbound.
func TestUpdateRacingEraseBindsNothing(t *testing.T) {
	t.Parallel()
	for _, after := range []string{"bind new@x.io", "contact"} {
		t.Run(after, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e, p, snd, st, acc := newEraseEngine(t)
			u := signUp(t, e, p, snd, "old@x.io")
			acc.victim, acc.after = u.User.UserID, after
			if after == "contact" {
				acc.after = "contact " + u.User.UserID
			}
			if err := updateEmail(t, e, p, snd, u, "old@x.io", "new@x.io", false); !errors.Is(err, apierr.ErrUserNotFound) {
				t.Fatalf("update of an erased user: %v", err)
			}
			if !acc.done {
				t.Fatal("the erasure did not run")
			}
			for _, id := range []string{"old@x.io", "new@x.io"} {
				if owner, _ := st.LoginOwner(ctx, "P1", id); owner != "" {
					t.Errorf("%s names %q after the erasure", id, owner)
				}
			}
			if _, err := st.User(ctx, "P1", u.User.UserID); !errors.Is(err, store.ErrNoUser) {
				t.Errorf("the erased user's record: %v", err)
			}
		})
	}
}

// TestMergeIntoErasedUserMovesBack: a merge into a user erased while it
// ran moves the merged user's login ids back and keeps that user whole,
// instead of binding them to the erased user and dropping the other.
func TestMergeIntoErasedUserMovesBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, p, snd, st, acc := newEraseEngine(t)
	from := signUp(t, e, p, snd, "from@x.io")
	into := signUp(t, e, p, snd, "into@x.io")
	acc.victim, acc.after = into.User.UserID, "contact "+into.User.UserID
	if err := updateEmail(t, e, p, snd, from, "from@x.io", "into@x.io", true); !errors.Is(err, apierr.ErrUserNotFound) {
		t.Fatalf("merge into an erased user: %v", err)
	}
	if owner, _ := st.LoginOwner(ctx, "P1", "from@x.io"); owner != from.User.UserID {
		t.Fatalf("from@x.io names %q, want its own user %s", owner, from.User.UserID)
	}
	u, err := st.User(ctx, "P1", from.User.UserID)
	if err != nil || !slices.Contains(u.LoginIDs, "from@x.io") {
		t.Fatalf("the merged-from user: %+v %v", u, err)
	}
	if owner, _ := st.LoginOwner(ctx, "P1", "into@x.io"); owner != "" {
		t.Fatalf("into@x.io names %q after the erasure", owner)
	}
}
