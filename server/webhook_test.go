package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/provider"
)

// TestWebhookRetriesThroughOutage: the gateway fails twice (503); the start
// still answers at once, and the job is retried with the same idempotency
// key until the gateway takes it. The receiver checks the signature.
func TestWebhookRetriesThroughOutage(t *testing.T) {
	t.Parallel()
	secret := []byte("webhook-secret-0123456789abcdef0123")
	type hit struct {
		key     string
		attempt int
		code    string
		to      string
	}
	var mu sync.Mutex
	var hits []hit
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := provider.VerifyWebhook(secret, r.Header.Get("X-Otpd-Timestamp"), r.Header.Get("X-Otpd-Signature"), body, time.Now(), time.Hour); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(401)
			return
		}
		var m struct {
			ID      string `json:"id"`
			Attempt int    `json:"attempt"`
			Code    string `json:"code"`
			To      string `json:"to"`
		}
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		hits = append(hits, hit{r.Header.Get("Idempotency-Key"), m.Attempt, m.Code, m.To})
		n := len(hits)
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(gw.Close)
	p := config.Project{ID: pid, Delivery: config.Delivery{Providers: []config.Provider{{ID: "gw", Type: "webhook",
		Channels: []string{"sms", "voice", "whatsapp"},
		Webhook:  &config.WebhookProvider{URL: gw.URL, AllowHTTP: true, SecretFile: "hook.secret"}}}}}
	e := newEnv(t, false, withProject(p), withFile("hook.secret", secret))

	began := time.Now()
	if st, b := e.post("/v1/auth/otp/signup-in/sms", `{"loginId":"+14155550199"}`); st != 200 {
		t.Fatalf("start during the outage: %d %v", st, b)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("the start waited %v for the provider", d)
	}
	e.drain()
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 3 {
		t.Fatalf("%d requests reached the gateway, want 3 (two 503s, then accepted)", len(hits))
	}
	for i, h := range hits {
		if h.key != hits[0].key || h.attempt != i+1 || h.code != hits[0].code || h.to != "+14155550199" {
			t.Fatalf("request %d: %+v (first %+v)", i+1, h, hits[0])
		}
	}
	if st, b := e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550199","code":%q}`, hits[2].code)); st != 200 {
		t.Fatalf("verify with the delivered code: %d %v", st, b)
	}
}
