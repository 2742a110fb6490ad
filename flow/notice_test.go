package flow_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// captureJobs records what is sealed for the queue (the code included,
// so the test can verify) and hands back a job the start script enqueues.
type captureJobs struct {
	mu   sync.Mutex
	msgs []delivery.Message
}

func (c *captureJobs) Prepare(_ context.Context, m delivery.Message) (*store.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return &store.Job{ID: "j", Payload: "sealed", Stream: "otpd:{q0-16}:jobs", MaxLen: 1000}, nil
}

func (c *captureJobs) last() delivery.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[len(c.msgs)-1]
}

// downOutbox cannot enqueue: Redis went away after the change was made.
type downOutbox struct{}

func (downOutbox) Enqueue(context.Context, *store.Job, string, time.Time) error {
	return errors.New("redis: connection refused")
}

// A security notice that cannot be queued never blocks or undoes the
// change it reports: the verify succeeds, the email is changed, and the
// failure is counted.
func TestNoticeFailureNeverBlocksTheChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
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
	reg := prometheus.NewRegistry()
	m, err := flow.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	jobs := &captureJobs{}
	e := flow.New(flow.Deps{Codes: st, Users: st, Sessions: st, Accounts: st, Gen: otpcode.NewGenerator(rand.Reader),
		Hasher: h, Jobs: jobs, Outbox: downOutbox{}, Metrics: m, Clock: clk, Random: rand.Reader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
		CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}

	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUp, LoginID: "old@example.com"}); err != nil {
		t.Fatal(err)
	}
	v, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "old@example.com", Code: jobs.last().Code})
	if err != nil {
		t.Fatal(err)
	}
	caller, err := e.Authenticate(ctx, p, v.Tokens.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateStart(ctx, flow.UpdateInput{Project: p, Channel: flow.Email, Caller: caller,
		LoginID: "old@example.com", Address: "new@example.com", Locale: "es"}); err != nil {
		t.Fatal(err)
	}
	u, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "old@example.com", Code: jobs.last().Code})
	if err != nil || u.User.Email != "new@example.com" || !u.User.VerifiedEmail {
		t.Fatalf("the change did not go through: %+v %v", u.User, err)
	}
	n := jobs.last()
	if n.Purpose != delivery.PurposeContactChanged || n.To != "old@example.com" || n.Code != "" ||
		n.Notice == nil || n.Notice.NewMasked != "n***@example.com" || !n.Notice.ChangedAt.Equal(clk.Now()) {
		t.Fatalf("notice: %+v %+v", n, n.Notice)
	}
	if got := counterValue(t, reg, "otpd_security_notice_failures_total"); got != 1 {
		t.Fatalf("notice failures counted %v, want 1", got)
	}
	if strings.Contains(n.Notice.NewMasked, "new@") {
		t.Fatal("the notice carries the new address unmasked")
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// recordOutbox accepts every job and remembers nothing: the messages are
// in captureJobs.
type recordOutbox struct{}

func (recordOutbox) Enqueue(context.Context, *store.Job, string, time.Time) error { return nil }

// smsless is a project that cannot send SMS (WhatsApp and voice only).
type smsless struct{}

func (smsless) HasTemplate(string, string) bool  { return true }
func (smsless) HasProvider(_, ch, _ string) bool { return ch != "sms" }

// Whoever changes a phone picks the update's channel; the notice to the
// old number must not depend on it: a change made through
// update/phone/whatsapp (or /voice) also tells the old number by SMS,
// which every mobile number receives, when the project can send SMS.
func TestPhoneNoticeGoesBySMSWhateverChannelTheChangeUsed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ch      flow.Channel
		options flow.DeliveryOptions
		want    []string
	}{
		{"whatsapp", flow.WhatsApp, nil, []string{"sms", "whatsapp"}},
		{"voice", flow.Voice, nil, []string{"sms", "voice"}},
		{"sms", flow.SMS, nil, []string{"sms"}},
		{"whatsapp, no SMS provider", flow.WhatsApp, smsless{}, []string{"whatsapp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			_, c := testredis.Mini(t)
			st := store.NewRedisStore(c)
			h, _ := otpcode.NewHasher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
			clk := clock.NewFake(time.Now())
			key, _ := token.GenerateKey(token.ES256)
			ks, _ := token.NewKeySet(key)
			iss, _ := token.NewIssuer(token.Config{ProjectID: "P1"}, ks, clk.Now, rand.Reader)
			m, _ := flow.NewMetrics(prometheus.NewRegistry())
			jobs := &captureJobs{}
			e := flow.New(flow.Deps{Codes: st, Users: st, Sessions: st, Accounts: st, Gen: otpcode.NewGenerator(rand.Reader),
				Hasher: h, Jobs: jobs, Outbox: recordOutbox{}, Metrics: m, Clock: clk, Random: rand.Reader, Options: tc.options,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
				CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}
			const oldPhone, newPhone = "+14155550100", "+14155550199"
			if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: tc.ch, Op: flow.SignUp, LoginID: oldPhone}); err != nil {
				t.Fatal(err)
			}
			v, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: tc.ch, LoginID: oldPhone, Code: jobs.last().Code})
			if err != nil {
				t.Fatal(err)
			}
			caller, err := e.Authenticate(ctx, p, v.Tokens.Refresh)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.UpdateStart(ctx, flow.UpdateInput{Project: p, Channel: tc.ch, Caller: caller,
				LoginID: oldPhone, Address: newPhone}); err != nil {
				t.Fatal(err)
			}
			before := len(jobs.msgs)
			if _, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: tc.ch, LoginID: oldPhone, Code: jobs.last().Code}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range jobs.msgs[before:] {
				if n.Purpose != delivery.PurposeContactChanged || n.To != oldPhone || n.Notice == nil || strings.Contains(n.Notice.NewMasked, "5550199") {
					t.Fatalf("notice: %+v %+v", n, n.Notice)
				}
				got = append(got, n.Channel)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("the old number was told on %v, want %v", got, tc.want)
			}
		})
	}
}

// The notice to the replaced address is in the project's default locale
// (the message names none), never the requester's: whoever changes the
// contact (perhaps a thief with the victim's refresh JWT) must not pick a
// language the victim cannot read. The code to the new address keeps the
// requester's locale.
func TestNoticeIgnoresTheRequestersLocale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	st := store.NewRedisStore(c)
	h, _ := otpcode.NewHasher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	clk := clock.NewFake(time.Now())
	key, _ := token.GenerateKey(token.ES256)
	ks, _ := token.NewKeySet(key)
	iss, _ := token.NewIssuer(token.Config{ProjectID: "P1"}, ks, clk.Now, rand.Reader)
	m, _ := flow.NewMetrics(prometheus.NewRegistry())
	jobs := &captureJobs{}
	e := flow.New(flow.Deps{Codes: st, Users: st, Sessions: st, Accounts: st, Gen: otpcode.NewGenerator(rand.Reader),
		Hasher: h, Jobs: jobs, Outbox: recordOutbox{}, Metrics: m, Clock: clk, Random: rand.Reader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p := &flow.Project{ID: "P1", CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5, Issuer: iss, Keys: ks,
		CookiePath: "/", RefreshTTL: time.Hour, SessionTTL: time.Minute}
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUp, LoginID: "victim@example.com"}); err != nil {
		t.Fatal(err)
	}
	v, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "victim@example.com", Code: jobs.last().Code})
	if err != nil {
		t.Fatal(err)
	}
	caller, err := e.Authenticate(ctx, p, v.Tokens.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateStart(ctx, flow.UpdateInput{Project: p, Channel: flow.Email, Caller: caller,
		LoginID: "victim@example.com", Address: "thief@example.com", Locale: "ja"}); err != nil {
		t.Fatal(err)
	}
	if code := jobs.last(); code.Code == "" || code.Locale != "ja" {
		t.Fatalf("the code to the new address: locale %q, want the requester's", code.Locale)
	}
	if _, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "victim@example.com", Code: jobs.last().Code}); err != nil {
		t.Fatal(err)
	}
	n := jobs.last()
	if n.Purpose != delivery.PurposeContactChanged || n.To != "victim@example.com" {
		t.Fatalf("no notice to the old address: %+v", n)
	}
	if n.Locale != "" {
		t.Fatalf("the notice is in the requester's locale %q; want none (the project's default)", n.Locale)
	}
}
