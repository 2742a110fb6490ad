package devconsole_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/devconsole"
)

func newConsole(t *testing.T, size int, anyClient bool) (*devconsole.Inbox, http.Handler) {
	t.Helper()
	inbox := devconsole.NewInbox(size, time.Now)
	routes := devconsole.New(devconsole.Options{Inbox: inbox, Projects: []string{"P1"}, AnyClient: anyClient}).Routes()
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.Handle(p, h)
	}
	return inbox, mux
}

func get(h http.Handler, path string, hdr map[string]string, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
	r.RemoteAddr = remote
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestGuardRefusesOtherClients: codes are readable only from this machine,
// through a loopback host name (not a rebinding attacker's name), and not
// by other sites' pages.
func TestGuardRefusesOtherClients(t *testing.T) {
	_, h := newConsole(t, 10, false)
	cases := []struct {
		name   string
		hdr    map[string]string
		remote string
		want   int
	}{
		{"loopback", nil, "127.0.0.1:5000", 200},
		{"loopback v6 localhost", map[string]string{"Host": "localhost:8080"}, "[::1]:5000", 200},
		{"typed in the address bar", map[string]string{"Sec-Fetch-Site": "none"}, "127.0.0.1:5000", 200},
		{"same origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}, "127.0.0.1:5000", 200},
		{"remote client", nil, "192.0.2.7:5000", 403},
		{"DNS rebinding", map[string]string{"Host": "attacker.example:8080"}, "127.0.0.1:5000", 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "127.0.0.1:5000", 403},
		{"same-site other port", map[string]string{"Sec-Fetch-Site": "same-site"}, "127.0.0.1:5000", 403},
		{"other origin", map[string]string{"Origin": "http://127.0.0.1:9999"}, "127.0.0.1:5000", 403},
	}
	for _, c := range cases {
		for _, p := range []string{"/dev/", "/dev/api/messages"} {
			if w := get(h, p, c.hdr, c.remote); w.Code != c.want {
				t.Errorf("%s %s: %d, want %d", c.name, p, w.Code, c.want)
			}
		}
	}
	_, forced := newConsole(t, 10, true)
	if w := get(forced, "/dev/api/messages", nil, "192.0.2.7:5000"); w.Code != 200 {
		t.Errorf("OTPD_DEV_CONSOLE=true, remote client: %d, want 200", w.Code)
	}
	if w := get(forced, "/dev/api/messages", map[string]string{"Sec-Fetch-Site": "cross-site"}, "192.0.2.7:5000"); w.Code != 403 {
		t.Errorf("OTPD_DEV_CONSOLE=true, cross-site: %d, want 403", w.Code)
	}
}

// TestConsoleSendsNoCORS: the embedded default allows any origin on the
// REST API; the console's paths must not inherit that (a page on any site
// could read the codes).
func TestConsoleSendsNoCORS(t *testing.T) {
	base := startOtpd(t, nil)
	for _, p := range []string{"/dev/api/messages", "/dev/api/events", "/dev/"} {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Origin", "https://evil.example")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", p, v)
		}
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s from another origin: %d, want 403", p, res.StatusCode)
		}
	}
	// The API itself keeps its CORS.
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/auth/me", nil)
	req.Header.Set("Origin", "https://app.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Error("the REST API lost its CORS headers")
	}
}

// TestPagesHaveStrictCSP: pages run only their own scripts; message HTML
// runs in a CSP sandbox that loads nothing.
func TestPagesHaveStrictCSP(t *testing.T) {
	inbox, h := newConsole(t, 10, false)
	inbox.Add(delivery.Outgoing{Channel: "email", To: "a@example.com", Code: "123456",
		Rendered: delivery.Rendered{Subject: "s", Text: "t", HTML: "<p>x</p>"}})
	w := get(h, "/dev/", nil, "127.0.0.1:1")
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("page CSP %q", csp)
	}
	w = get(h, "/dev/api/html?id=1", nil, "127.0.0.1:1")
	csp := w.Header().Get("Content-Security-Policy")
	if w.Code != 200 || !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "allow-scripts") {
		t.Errorf("message HTML: %d, CSP %q", w.Code, csp)
	}
	if w.Body.String() != "<p>x</p>" {
		t.Errorf("message HTML body %q", w.Body.String())
	}
	if w := get(h, "/dev/api/html?id=2", nil, "127.0.0.1:1"); w.Code != 404 {
		t.Errorf("unknown message: %d", w.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/dev/api/messages", nil)
	r.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestInboxIsBounded: the inbox keeps the newest messages only, newest
// first, and cuts oversized parts.
func TestInboxIsBounded(t *testing.T) {
	inbox := devconsole.NewInbox(3, time.Now)
	for i := 1; i <= 5; i++ {
		inbox.Add(delivery.Outgoing{Channel: "sms", Code: fmt.Sprint(i), Rendered: delivery.Rendered{Text: "code " + fmt.Sprint(i)}})
	}
	ms, _ := inbox.After(0)
	var codes []string
	for _, m := range ms {
		codes = append(codes, m.Code)
	}
	if strings.Join(codes, ",") != "5,4,3" {
		t.Fatalf("kept %v, want 5,4,3", codes)
	}
	if ms, _ := inbox.After(4); len(ms) != 1 || ms[0].Code != "5" {
		t.Errorf("After(4) = %+v", ms)
	}
	big := strings.Repeat("é", devconsole.MaxPartBytes)
	inbox.Add(delivery.Outgoing{Channel: "email", Rendered: delivery.Rendered{HTML: big, Text: "ok"}})
	ms, _ = inbox.After(5)
	if len(ms) != 1 || !ms[0].Truncated || len(ms[0].HTML) > devconsole.MaxPartBytes || !strings.HasSuffix(ms[0].HTML, "é") {
		t.Errorf("oversized HTML: truncated=%v len=%d", ms[0].Truncated, len(ms[0].HTML))
	}
}

// TestInboxAfterRestart: a browser tab that saw ids of an earlier otpd
// process (Last-Event-ID above anything this inbox has given out) gets
// every kept message, not nothing until the ids catch up.
func TestInboxAfterRestart(t *testing.T) {
	inbox := devconsole.NewInbox(10, time.Now)
	inbox.Add(delivery.Outgoing{Channel: "sms", Code: "1", Rendered: delivery.Rendered{Text: "code 1"}})
	if ms, _ := inbox.After(40); len(ms) != 1 || ms[0].Code != "1" {
		t.Fatalf("After(40) on a fresh inbox = %+v, want the one message", ms)
	}
}

// TestSegmentsShown: SMS and WhatsApp bodies carry their encoding and SMS
// segment count.
func TestSegmentsShown(t *testing.T) {
	inbox := devconsole.NewInbox(10, time.Now)
	inbox.Add(delivery.Outgoing{Channel: "sms", Rendered: delivery.Rendered{Text: strings.Repeat("a", 161)}})
	inbox.Add(delivery.Outgoing{Channel: "whatsapp", Rendered: delivery.Rendered{Text: "ça 🙂"}})
	inbox.Add(delivery.Outgoing{Channel: "voice", Rendered: delivery.Rendered{Text: "1, 2, 3"}})
	ms, _ := inbox.After(0)
	if ms[0].Segments != 0 || ms[0].Encoding != "" {
		t.Errorf("voice: %+v", ms[0])
	}
	if ms[1].Encoding != "UCS-2" || ms[1].Segments != 1 {
		t.Errorf("whatsapp: %s %d", ms[1].Encoding, ms[1].Segments)
	}
	if ms[2].Encoding != "GSM-7" || ms[2].Segments != 2 {
		t.Errorf("sms of 161 GSM-7 characters: %s %d segments, want GSM-7 2", ms[2].Encoding, ms[2].Segments)
	}
}

// TestEventsResume: the event stream sends what is kept after
// Last-Event-ID, then new messages as they come.
func TestEventsResume(t *testing.T) {
	inbox, h := newConsole(t, 10, false)
	srv := httptest.NewServer(h)
	defer srv.Close()
	inbox.Add(delivery.Outgoing{Channel: "sms", Code: "1"})
	inbox.Add(delivery.Outgoing{Channel: "sms", Code: "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/dev/api/events", nil)
	req.Header.Set("Last-Event-ID", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	next := func() devconsole.Message {
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m devconsole.Message
				if err := json.Unmarshal([]byte(d), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return devconsole.Message{}
	}
	if m := next(); m.Code != "2" {
		t.Fatalf("first event %+v, want message 2", m)
	}
	go inbox.Add(delivery.Outgoing{Channel: "sms", Code: "3"})
	if m := next(); m.Code != "3" || m.ID != 3 {
		t.Fatalf("live event %+v, want message 3", m)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 0))
}

// TestConsoleOnlyInEmbeddedMode: a real Redis turns the console off unless
// OTPD_DEV_CONSOLE=true.
func TestConsoleOnlyInEmbeddedMode(t *testing.T) {
	load := func(env map[string]string) *config.Config {
		c, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, func(string) ([]byte, error) {
			return []byte("projects:\n- id: P1\n  signingKeyFiles: [k.pem]\n  delivery:\n    providers:\n    - {id: l, type: log, channels: [email]}\n"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := load(nil); !c.DevConsole || c.DevConsoleForced {
		t.Error("embedded default: console off")
	}
	if c := load(map[string]string{"OTPD_DEV_CONSOLE": "false"}); c.DevConsole {
		t.Error("OTPD_DEV_CONSOLE=false: console on")
	}
	real := map[string]string{"OTPD_REDIS_URL": "redis://127.0.0.1:6379", "OTPD_CONFIG": "x.yaml",
		"OTPD_HMAC_SECRETS": strings.Repeat("s", 32), "OTPD_SEAL_KEYS": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	if c := load(real); c.DevConsole {
		t.Error("real Redis: console on by default")
	}
	real["OTPD_DEV_CONSOLE"] = "true"
	if c := load(real); !c.DevConsole || !c.DevConsoleForced {
		t.Error("real Redis with OTPD_DEV_CONSOLE=true: console off")
	}
	_, err := config.Load(func(k string) (string, bool) {
		if k == "OTPD_DEV_CONSOLE" {
			return "yes", true
		}
		return "", false
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "OTPD_DEV_CONSOLE") {
		t.Errorf("OTPD_DEV_CONSOLE=yes: %v", err)
	}
}

// TestOpenAPIServed: otpd serves the generated spec at /openapi.json, in
// every mode (not only with the console).
func TestOpenAPIServed(t *testing.T) {
	base := startOtpd(t, map[string]string{"OTPD_DEV_CONSOLE": "false"})
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || !bytes.Equal(b, otpd.OpenAPI) {
		t.Errorf("/openapi.json: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(b))
	}
	if res, err := http.Get(base + "/dev/"); err != nil || res.StatusCode == 200 {
		t.Errorf("OTPD_DEV_CONSOLE=false still serves /dev/: %v", err)
	} else {
		res.Body.Close()
	}
}
