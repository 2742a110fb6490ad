package flow_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// captureSender records messages instead of delivering them.
type captureSender struct {
	mu   sync.Mutex
	msgs []delivery.Message
}

func (c *captureSender) Send(_ context.Context, m delivery.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func newEngine(t *testing.T) (*flow.Engine, *flow.Project, *captureSender) {
	t.Helper()
	e, p, snd, _ := newEngineWith(t, nil)
	return e, p, snd
}

// newEngineWith is newEngine with the Users store wrapped (nil: as is).
func newEngineWith(t *testing.T, wrap func(store.Users) store.Users) (*flow.Engine, *flow.Project, *captureSender, store.Users) {
	t.Helper()
	_, c := testredis.Mini(t)
	return newEngineOn(t, c, wrap)
}

// newEngineOn is newEngineWith on the Redis c.
func newEngineOn(t *testing.T, c *redis.Client, wrap func(store.Users) store.Users) (*flow.Engine, *flow.Project, *captureSender, store.Users) {
	t.Helper()
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
	var users store.Users = st
	var codes store.Codes = st
	if wrap != nil {
		// Wrapped Users are reached only on the two-script path (a login
		// id that is not its user's home on Redis Cluster): hide the
		// store's one-script verify.
		users = wrap(st)
		codes = struct{ store.Codes }{st}
	}
	e := flow.New(flow.Deps{Codes: codes, Users: users, Sessions: st, Accounts: st, Gen: otpcode.NewGenerator(rand.Reader),
		Hasher: h, Sender: snd, Clock: clk, Random: rand.Reader, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Authz: st})
	p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
		CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}
	return e, p, snd, users
}

// TestDeliveryOptionsReachTheSender: templateOptions, templateId, locale
// and providerId are carried to delivery with the code and address.
func TestDeliveryOptionsReachTheSender(t *testing.T) {
	t.Parallel()
	e, p, snd := newEngine(t)
	out, err := e.Start(context.Background(), flow.StartInput{
		Project: p, Channel: flow.SMS, Op: flow.SignUpOrIn, LoginID: "+1 415 555 0123",
		Locale: "fr", TemplateID: "welcome", TemplateOptions: map[string]string{"app": "Acme"}, ProviderID: "twilio-eu",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Masked != "**********23" || len(snd.msgs) != 1 {
		t.Fatalf("start: %+v, %d messages", out, len(snd.msgs))
	}
	m := snd.msgs[0]
	want := delivery.Message{Project: "P1", Channel: "sms", To: "+14155550123", Code: m.Code, Purpose: "signup-in",
		ExpiresAt: m.ExpiresAt, Locale: "fr", TemplateID: "welcome", TemplateOptions: map[string]string{"app": "Acme"}, ProviderID: "twilio-eu"}
	if d := cmp.Diff(want, m); d != "" || len(m.Code) != 6 {
		t.Fatalf("message (-want +got):\n%s", d)
	}
	v, err := e.Verify(context.Background(), flow.VerifyInput{Project: p, Channel: flow.SMS, LoginID: "+14155550123", Code: m.Code})
	if err != nil || v.User.Phone != "+14155550123" || !v.FirstSeen {
		t.Fatalf("verify: %+v %v", v, err)
	}
}
