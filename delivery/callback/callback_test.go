package callback_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/callback"
	"github.com/otpd/otpd/delivery/failover"
	"github.com/otpd/otpd/delivery/provider"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/gateway"
	"github.com/otpd/otpd/internal/testredis"
)

const (
	base    = "https://otp.example.com"
	account = "AC00000000000000000000000000000001"
	token   = "twilio-auth-token"
)

// twilioFake accepts like Twilio: it keeps the StatusCallback it was given
// and answers a SID.
type twilioFake struct {
	mu        sync.Mutex
	n         int
	callbacks map[string]string // job -> StatusCallback
	sids      map[string]string
}

func (f *twilioFake) SendReceipt(_ context.Context, o delivery.Outgoing) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	sid := fmt.Sprintf("SM%032x", f.n)
	f.callbacks[o.ID], f.sids[o.ID] = o.StatusCallback, sid
	return sid, nil
}
func (f *twilioFake) Send(ctx context.Context, o delivery.Outgoing) error {
	_, err := f.SendReceipt(ctx, o)
	return err
}

type providers map[string]delivery.CallbackVerifier

func (p providers) Callbacks(project, id string) (delivery.CallbackVerifier, bool) {
	v, ok := p[project+"/"+id]
	return v, ok
}
func (p providers) Order(string, string) []string { return []string{"tw", "wh"} }

type rig struct {
	h       *callback.Handler
	clock   *clock.Fake
	fake    *twilioFake
	sender  *failover.Sender
	rec     *status.Recorder
	resends []status.Resend
	refused []string
	secret  []byte
	logs    *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T, rate int) *rig {
	t.Helper()
	_, rdb := testredis.Real(t)
	r := &rig{clock: clock.NewFake(time.Unix(1_800_000_000, 0)), fake: &twilioFake{callbacks: map[string]string{}, sids: map[string]string{}},
		secret: []byte(strings.Repeat("s", 32))}
	rec, err := status.NewRecorder(rdb, r.clock, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := status.NewSigner([][]byte{[]byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := provider.NewTwilio(provider.TwilioConfig{AccountSID: account, AuthToken: token, From: "+15005550006"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := provider.NewWebhook(provider.WebhookConfig{URL: "https://gw.example.com", Secret: r.secret}, nil, r.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := provider.NewTwilio(provider.TwilioConfig{AccountSID: account, AuthToken: "other-project-token", From: "+15005550006"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.logs = &syncBuf{}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.rec = rec
	r.sender = failover.NewSender(rec, failover.NewBreaker(r.clock, 5, time.Minute),
		func(b status.Binding) string { return callback.URL(base, signer, b) }, log, nil)
	r.h = callback.New(callback.Options{Signer: signer, Recorder: rec,
		Providers: providers{"P1/tw": tw, "P1/wh": wh, "P2/tw": other},
		Resend:    func(_ context.Context, rs status.Resend) error { r.resends = append(r.resends, rs); return nil },
		BaseURL:   base, Clock: r.clock, Rate: rate, Log: log, WriteError: gateway.WriteError,
	}, func(reason string) { r.refused = append(r.refused, reason) })
	return r
}

// send delivers a job of project P1 through the Twilio fake (then the
// webhook) and returns the status callback URL Twilio was given.
func (r *rig) send(t *testing.T, job string) (cbURL, sid string) {
	t.Helper()
	exp := r.clock.Now().Add(5 * time.Minute)
	j := status.Job{ID: job, Project: "P1", Channel: "sms", To: "+33612345678", Sealed: "x", Expires: exp}
	o := delivery.Outgoing{ID: job, Project: "P1", Channel: "sms", To: j.To, Code: "123456", ExpiresAt: exp}
	if err := r.sender.Send(context.Background(), j, o, []failover.Provider{{ID: "tw", Provider: r.fake}}, false); err != nil {
		t.Fatal(err)
	}
	r.fake.mu.Lock()
	defer r.fake.mu.Unlock()
	return r.fake.callbacks[job], r.fake.sids[job]
}

func twilioForm(sid, st string) url.Values {
	return url.Values{"AccountSid": {account}, "MessageSid": {sid}, "MessageStatus": {st}, "ErrorCode": {"30003"},
		"To": {"+33612345678"}, "From": {"+15005550006"}, "ApiVersion": {"2010-04-01"}}
}

// post sends a Twilio-style callback to u, signed with sign (none when "").
func (r *rig) post(u string, form url.Values, sign string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, strings.TrimPrefix(u, base), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign != "" {
		req.Header.Set(provider.HeaderTwilioSignature, provider.TwilioSignature(sign, u, form))
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func recorded(t *testing.T, r *rig, job string) string {
	t.Helper()
	all, err := r.rec.Get(context.Background(), job)
	if err != nil || len(all) == 0 {
		t.Fatalf("record of %s: %v %v", job, all, err)
	}
	return all[0].Status + "/" + all[0].ErrorCode
}

func TestSignedTwilioCallbackIsRecorded(t *testing.T) {
	r := newRig(t, 100)
	u, sid := r.send(t, "job-1")
	if !strings.HasPrefix(u, base+callback.Path+"?t=") {
		t.Fatalf("StatusCallback = %q", u)
	}
	if w := r.post(u, twilioForm(sid, "undelivered"), token); w.Code != http.StatusNoContent {
		t.Fatalf("signed callback: %d %s", w.Code, w.Body)
	}
	if got := recorded(t, r, "job-1"); got != "undelivered/30003" {
		t.Fatalf("record = %s", got)
	}
	if len(r.resends) != 1 || r.resends[0].Provider != "wh" {
		t.Fatalf("resends = %+v, want one to wh", r.resends)
	}
	if l := r.logs.String(); !strings.Contains(l, "job-1") || strings.Contains(l, "612345678") {
		t.Fatalf("the log names the job and never the number:\n%s", l)
	}
}

func TestCallbackRefusals(t *testing.T) {
	r := newRig(t, 100)
	u, sid := r.send(t, "job-a")
	_, sidB := r.send(t, "job-b")
	tok := strings.TrimPrefix(u, base+callback.Path+"?t=")
	payload, mac, _ := strings.Cut(tok, ".")
	forged := base + callback.Path + "?t=" + payload + "." + strings.Repeat("A", len(mac))
	for name, c := range map[string]struct {
		url  string
		form url.Values
		sign string
		want int
	}{
		"unsigned":                       {u, twilioForm(sid, "delivered"), "", http.StatusUnauthorized},
		"signed with another token":      {u, twilioForm(sid, "delivered"), "guess", http.StatusUnauthorized},
		"signed with P2's token":         {u, twilioForm(sid, "delivered"), "other-project-token", http.StatusUnauthorized},
		"forged otpd token":              {forged, twilioForm(sid, "delivered"), token, http.StatusUnauthorized},
		"no token":                       {base + callback.Path, twilioForm(sid, "delivered"), token, http.StatusUnauthorized},
		"another job's message id":       {u, twilioForm(sidB, "delivered"), token, http.StatusNotFound},
		"a status Twilio does not send":  {u, twilioForm(sid, "teleported"), token, http.StatusBadRequest},
		"an extra query parameter added": {u + "&x=1", twilioForm(sid, "delivered"), token, http.StatusUnauthorized},
	} {
		if w := r.post(c.url, c.form, c.sign); w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, c.want)
		}
	}
	if got := recorded(t, r, "job-a"); got != "queued/" {
		t.Fatalf("a refused callback changed the record: %s", got)
	}
	if got := recorded(t, r, "job-b"); got != "queued/" {
		t.Fatalf("a refused callback changed another job: %s", got)
	}
	// Too large a body, and the wrong method.
	big := twilioForm(sid, "delivered")
	big.Set("Body", strings.Repeat("x", callback.MaxBody))
	if w := r.post(u, big, token); w.Code != http.StatusBadRequest {
		t.Errorf("oversized: %d", w.Code)
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, strings.TrimPrefix(u, base), nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
	// After the token's lifetime (code expiry + status.Retention), refused.
	r.clock.Add(5*time.Minute + status.Retention)
	if w := r.post(u, twilioForm(sid, "delivered"), token); w.Code != http.StatusUnauthorized {
		t.Errorf("expired token: %d", w.Code)
	}
}

func TestCallbackRate(t *testing.T) {
	r := newRig(t, 2)
	u, sid := r.send(t, "job-r")
	codes := map[int]int{}
	for range 6 {
		codes[r.post(u, twilioForm(sid, "sent"), token).Code]++
	}
	// A burst of twice the rate, then 429 until time passes.
	if codes[http.StatusTooManyRequests] != 2 {
		t.Fatalf("codes = %v, want 4 answered and 2 refused with 429", codes)
	}
	r.clock.Add(time.Second)
	if w := r.post(u, twilioForm(sid, "delivered"), token); w.Code != http.StatusNoContent {
		t.Fatalf("after a second: %d", w.Code)
	}
}

func TestSignedWebhookCallbackIsRecorded(t *testing.T) {
	r := newRig(t, 100)
	exp := r.clock.Now().Add(5 * time.Minute)
	j := status.Job{ID: "job-w", Project: "P1", Channel: "sms", To: "+33612345678", Sealed: "x", Expires: exp}
	var got delivery.Outgoing
	wh := provider.Func(func(_ context.Context, o delivery.Outgoing) error { got = o; return nil })
	if err := r.sender.Send(context.Background(), j, delivery.Outgoing{ID: "job-w"}, []failover.Provider{{ID: "wh", Provider: wh}}, false); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"job-w","status":"delivered"}`)
	post := func(b []byte, secret []byte) int {
		ts := strconv.FormatInt(r.clock.Now().Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, strings.TrimPrefix(got.StatusCallback, base), strings.NewReader(string(b)))
		req.Header.Set(provider.HeaderWebhookTimestamp, ts)
		req.Header.Set(provider.HeaderWebhookSignature, "v1="+hmacHex(secret, ts, b))
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		return w.Code
	}
	if c := post(body, []byte(strings.Repeat("z", 32))); c != http.StatusUnauthorized {
		t.Fatalf("mis-signed webhook callback: %d", c)
	}
	if c := post([]byte(`{"id":"job-other","status":"delivered"}`), r.secret); c != http.StatusNotFound {
		t.Fatalf("another job's id: %d", c)
	}
	if c := post(body, r.secret); c != http.StatusNoContent {
		t.Fatalf("signed webhook callback: %d", c)
	}
	if s := recorded(t, r, "job-w"); s != "delivered/" {
		t.Fatalf("record = %s", s)
	}
}

func hmacHex(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// An unauthenticated flood (no token, a forged token, a valid URL without
// the provider's signature) must not spend the endpoint's rate: Twilio
// does not retry a status callback, so a crowded-out one is lost.
func TestUnsignedFloodDoesNotStarveSignedCallbacks(t *testing.T) {
	r := newRig(t, 2)
	u, sid := r.send(t, "job-f")
	tok := strings.TrimPrefix(u, base+callback.Path+"?t=")
	payload, mac, _ := strings.Cut(tok, ".")
	forged := base + callback.Path + "?t=" + payload + "." + strings.Repeat("A", len(mac))
	for i := range 50 {
		var w *httptest.ResponseRecorder
		switch i % 3 {
		case 0:
			w = r.post(base+callback.Path, twilioForm(sid, "delivered"), token)
		case 1:
			w = r.post(forged, twilioForm(sid, "delivered"), token)
		default:
			w = r.post(u, twilioForm(sid, "delivered"), "guess")
		}
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("flood request %d: %d %s, want 401", i, w.Code, w.Body)
		}
	}
	if w := r.post(u, twilioForm(sid, "delivered"), token); w.Code != http.StatusNoContent {
		t.Fatalf("the signed callback after an unsigned flood: %d %s, want 204", w.Code, w.Body)
	}
	if got := recorded(t, r, "job-f"); got != "delivered/30003" {
		t.Fatalf("record = %s", got)
	}
}
