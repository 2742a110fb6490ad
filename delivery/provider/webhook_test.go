package provider

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

const webhookKey = "0123456789abcdef0123456789abcdef-webhook"

func webhookClock() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

func newTestWebhook(t *testing.T, url string, headers map[string]string) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, AllowHTTP: true, Secret: []byte(webhookKey), Headers: headers},
		&http.Client{Timeout: 5 * time.Second}, webhookClock)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookSend(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	var headers []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The receiver's side, as documented.
		err := VerifyWebhook([]byte(webhookKey), r.Header.Get("X-Otpd-Timestamp"), r.Header.Get("X-Otpd-Signature"),
			body, webhookClock().Add(30*time.Second), time.Minute)
		if err != nil {
			t.Errorf("VerifyWebhook: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		got = append(got, m)
		headers = append(headers, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	wh := newTestWebhook(t, srv.URL+"/otp?tenant=acme", map[string]string{
		"Authorization":    "Bearer receiver-key",
		"X-Otpd-Signature": "v1=forged", // cannot override the provider's headers
	})
	email := delivery.Outgoing{
		ID: "job-7", Attempt: 2, Project: "acme", Channel: "email", To: "alice@example.com", Code: "482913",
		ExpiresAt: time.Date(2025, 3, 4, 6, 16, 7, 0, time.FixedZone("CET", 3600)),
		Rendered: delivery.Rendered{
			Subject: "Votre code", Text: "Code : 482913", HTML: "<p>Code : <b>482913</b> & co</p>", Locale: "fr",
		},
	}
	sms := delivery.Outgoing{
		ID: "job-8", Attempt: 1, Project: "acme", Channel: "sms", To: "+33612345678", Code: "111222",
		ExpiresAt: webhookClock().Add(5 * time.Minute), Rendered: delivery.Rendered{Text: "Code 111222", Locale: "en"},
	}
	for _, o := range []delivery.Outgoing{email, sms} {
		if err := wh.Send(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}

	want := []map[string]any{
		{
			"id": "job-7", "attempt": 2.0, "project": "acme", "channel": "email", "to": "alice@example.com",
			"code": "482913", "expiresAt": "2025-03-04T05:16:07Z", "locale": "fr", "subject": "Votre code",
			"text": "Code : 482913", "html": "<p>Code : <b>482913</b> & co</p>",
		},
		{
			"id": "job-8", "attempt": 1.0, "project": "acme", "channel": "sms", "to": "+33612345678",
			"code": "111222", "expiresAt": "2025-03-04T05:11:07Z", "locale": "en", "text": "Code 111222",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	for i, h := range headers {
		for k, v := range map[string]string{
			"Content-Type":     "application/json",
			"User-Agent":       "otpd",
			"Idempotency-Key":  want[i]["id"].(string),
			"X-Otpd-Timestamp": strconv.FormatInt(webhookClock().Unix(), 10),
			"Authorization":    "Bearer receiver-key",
		} {
			if h.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, h.Get(k), v)
			}
		}
		if sig := h.Values("X-Otpd-Signature"); len(sig) != 1 || !strings.HasPrefix(sig[0], "v1=") || len(sig[0]) != 3+64 {
			t.Errorf("request %d: signature %q", i, sig)
		}
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"id":"job-1","code":"123456"}`)
	ts := strconv.FormatInt(webhookClock().Unix(), 10)
	sig := "v1=" + webhookMAC([]byte(webhookKey), ts, body)
	other := "v1=" + webhookMAC([]byte("another-secret-another-secret-xx"), ts, body)
	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil: valid
	}{
		{name: "valid", ts: ts, sig: sig, body: body, now: webhookClock()},
		{name: "valid at edge of tolerance", ts: ts, sig: sig, body: body, now: webhookClock().Add(5 * time.Minute)},
		{name: "valid among several", ts: ts, sig: other + ", " + sig, body: body, now: webhookClock()},
		{name: "tampered body", ts: ts, sig: sig, body: []byte(`{"id":"job-1","code":"654321"}`), now: webhookClock(), want: ErrWebhookSignature},
		{name: "tampered timestamp", ts: strconv.FormatInt(webhookClock().Unix()+1, 10), sig: sig, body: body, now: webhookClock(), want: ErrWebhookSignature},
		{name: "wrong secret", secret: []byte("another-secret-another-secret-xx"), ts: ts, sig: sig, body: body, now: webhookClock(), want: ErrWebhookSignature},
		{name: "stale", ts: ts, sig: sig, body: body, now: webhookClock().Add(5*time.Minute + time.Second), want: ErrWebhookExpired},
		{name: "from the future", ts: ts, sig: sig, body: body, now: webhookClock().Add(-time.Hour), want: ErrWebhookExpired},
		{name: "custom tolerance", ts: ts, sig: sig, body: body, now: webhookClock().Add(31 * time.Second), tolerance: 30 * time.Second, want: ErrWebhookExpired},
		{name: "huge timestamp", ts: "9223372036854775807", sig: sig, body: body, now: webhookClock(), want: ErrWebhookExpired},
		{name: "bad timestamp", ts: "yesterday", sig: sig, body: body, now: webhookClock(), want: ErrWebhookMalformed},
		{name: "no signature", ts: ts, sig: "", body: body, now: webhookClock(), want: ErrWebhookMalformed},
		{name: "unknown version", ts: ts, sig: "v0=" + sig[3:], body: body, now: webhookClock(), want: ErrWebhookMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := tt.secret
			if secret == nil {
				secret = []byte(webhookKey)
			}
			err := VerifyWebhook(secret, tt.ts, tt.sig, tt.body, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWebhookErrors(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		after      time.Duration
	}{
		{status: 429, retryAfter: "3", after: 3 * time.Second},
		{status: 503},
		{status: 408},
		{status: 500, retryAfter: "soon"}, // unparseable: plain transient
		{status: 400, permanent: true},
		{status: 401, permanent: true},
		{status: 410, retryAfter: "3", permanent: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"error":"bad number +33612345678"}`)
			}))
			defer srv.Close()
			err := newTestWebhook(t, srv.URL+"/hook?key=url-secret", nil).
				Send(context.Background(), testPhoneMessage("sms", "code 482913"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("error: %v", err)
			if delivery.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", delivery.IsPermanent(err), tt.permanent)
			}
			var ra *RetryAfterError
			if errors.As(err, &ra) != (tt.after > 0) || (ra != nil && ra.After != tt.after) {
				t.Errorf("RetryAfterError = %+v, want After %v", ra, tt.after)
			}
			if !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(tt.status)) {
				t.Errorf("error %q lacks the status", err)
			}
			checkSafeError(t, err, "33612345678", "482913", "url-secret")
		})
	}
}

func TestWebhookNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?key=url-secret"
	srv.Close()
	err := newTestWebhook(t, url, nil).Send(context.Background(), testPhoneMessage("sms", "code 482913"))
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	t.Logf("error: %v", err)
	checkSafeError(t, err, "url-secret", "482913")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = newTestWebhook(t, url, nil).Send(ctx, testPhoneMessage("sms", "code 482913"))
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Fatalf("cancelled: err = %v, want transient context.Canceled", err)
	}
}

func TestNewWebhookValidation(t *testing.T) {
	tests := []struct {
		name string
		c    WebhookConfig
		want string
	}{
		{"no URL", WebhookConfig{Secret: []byte(webhookKey)}, "URL is required"},
		{"http refused", WebhookConfig{URL: "http://gw.example.com/otp", Secret: []byte(webhookKey)}, "https"},
		{"relative URL", WebhookConfig{URL: "/otp", Secret: []byte(webhookKey)}, "absolute"},
		{"ftp", WebhookConfig{URL: "ftp://gw.example.com/otp", Secret: []byte(webhookKey), AllowHTTP: true}, "scheme"},
		{"short secret", WebhookConfig{URL: "https://gw.example.com/otp", Secret: []byte("too-short")}, "at least 32 bytes"},
		{"header injection", WebhookConfig{URL: "https://gw.example.com/otp", Secret: []byte(webhookKey),
			Headers: map[string]string{"X-Key": "a\r\nX-Evil: 1"}}, "invalid header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWebhook(tt.c, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	for _, c := range []WebhookConfig{
		{URL: "https://gw.example.com/otp", Secret: []byte(webhookKey)},
		{URL: "http://127.0.0.1:8080/otp", Secret: []byte(webhookKey), AllowHTTP: true},
	} {
		if _, err := NewWebhook(c, nil, nil); err != nil {
			t.Errorf("NewWebhook(%s): %v", c.URL, err)
		}
	}
}
