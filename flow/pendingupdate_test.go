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

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// loggingOutAccounts logs a user out everywhere (as POST
// /v1/auth/logoutall and management logoutUser do) right after a chosen
// step of an update's verify succeeds: the logout landing between two of
// the verify's scripts.
type loggingOutAccounts struct {
	store.Accounts
	st *store.RedisStore
	c  *redis.Client
	// after names the step ("user", "bind <login id>", "contact"), victim
	// the user logged out then.
	after, victim string
	done          bool
}

func (a *loggingOutAccounts) logout(ctx context.Context, step string) {
	if a.done || step != a.after {
		return
	}
	a.done = true
	if err := a.st.RevokeSessions(ctx, "P1", a.victim); err != nil {
		panic(err)
	}
}

func (a *loggingOutAccounts) SessionUser(ctx context.Context, project, userID, family string, now time.Time) (store.User, error) {
	u, err := a.Accounts.SessionUser(ctx, project, userID, family, now)
	if err == nil {
		a.logout(ctx, "user")
	}
	return u, err
}

func (a *loggingOutAccounts) BindLogin(ctx context.Context, project, loginID, userID, expectFrom string, c store.Contact, addr string) error {
	err := a.Accounts.BindLogin(ctx, project, loginID, userID, expectFrom, c, addr)
	if err == nil {
		a.logout(ctx, "bind "+loginID)
	}
	return err
}

func (a *loggingOutAccounts) ApplyContact(ctx context.Context, c store.ContactChange) (store.User, error) {
	u, err := a.Accounts.ApplyContact(ctx, c)
	if err == nil {
		a.logout(ctx, "contact")
	}
	return u, err
}

func newLogoutEngine(t *testing.T) (*flow.Engine, *flow.Project, *captureSender, *store.RedisStore, *loggingOutAccounts) {
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
	acc := &loggingOutAccounts{Accounts: st, st: st, c: c}
	e := flow.New(flow.Deps{Codes: st, Users: st, Sessions: st, Accounts: acc, Gen: otpcode.NewGenerator(rand.Reader),
		Hasher: h, Sender: snd, Clock: clk, Random: rand.Reader, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
		CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}
	return e, p, snd, st, acc
}

// TestUpdateRacingLogoutAllLeavesNothingAfterIt: a logout-all that lands
// between the steps of an update's verify (after its session check, after
// it bound the new login id, after the contact change) stops every step
// after it: a login id it bound is taken back, and no session is minted.
// Only a change made before the logout-all stays (the old address was told
// of it).
func TestUpdateRacingLogoutAllLeavesNothingAfterIt(t *testing.T) {
	t.Parallel()
	for _, after := range []string{"user", "bind new@x.io", "contact"} {
		t.Run(after, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e, p, snd, st, acc := newLogoutEngine(t)
			u := signUp(t, e, p, snd, "old@x.io")
			acc.victim, acc.after = u.User.UserID, after
			err := updateEmail(t, e, p, snd, u, "old@x.io", "new@x.io", false)
			if !errors.Is(err, apierr.ErrRefreshRevoked) {
				t.Fatalf("verify with a logout-all after %q: %v", after, err)
			}
			if !acc.done {
				t.Fatal("the logout did not run")
			}
			got, err := st.User(ctx, "P1", u.User.UserID)
			if err != nil {
				t.Fatal(err)
			}
			owner, _ := st.LoginOwner(ctx, "P1", "new@x.io")
			if after == "contact" {
				// Made before the logout-all; no session after it.
				if got.Email != "new@x.io" || owner != u.User.UserID {
					t.Fatalf("the change made before the logout-all: %+v, new@x.io names %q", got, owner)
				}
			} else if got.Email != "old@x.io" || slices.Contains(got.LoginIDs, "new@x.io") || owner != "" {
				t.Fatalf("a step after the logout-all changed the user: %+v, new@x.io names %q", got, owner)
			}
			if n := acc.c.ZCard(ctx, store.RefreshKey("P1", u.User.UserID)).Val(); n != 0 {
				t.Fatalf("%d sessions after the logout-all", n)
			}
		})
	}
}
