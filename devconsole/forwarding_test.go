package devconsole_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGuardRefusesForwardedRequests: a proxy or tunnel on the same host
// (nginx with proxy_set_header X-Forwarded-For, `ngrok
// --host-header=rewrite`, cloudflared) connects from loopback with Host:
// 127.0.0.1; the headers it adds give it away, and the console refuses, unless forced on with
// OTPD_DEV_CONSOLE=true.
func TestGuardRefusesForwardedRequests(t *testing.T) {
	headers := []map[string]string{
		{"X-Forwarded-For": "203.0.113.9"},
		{"Forwarded": "for=203.0.113.9;proto=https"},
		{"X-Forwarded-Proto": "https"},
		{"X-Forwarded-Host": "abc.ngrok.app"},
		{"X-Real-IP": "203.0.113.9"},
		{"Via": "1.1 proxy"},
		{"Cf-Connecting-Ip": "203.0.113.9"},
		{"True-Client-IP": "203.0.113.9"},
		{"X-Forwarded-For": ""}, // present, even empty
	}
	_, h := newConsole(t, 10, false)
	_, forced := newConsole(t, 10, true)
	for _, hdr := range headers {
		hdr["Host"] = "127.0.0.1:8080"
		for _, p := range []string{"/dev/", "/dev/api/messages", "/dev/api/info"} {
			if w := get(h, p, hdr, "127.0.0.1:5000"); w.Code != http.StatusForbidden {
				t.Errorf("%v %s: %d, want 403", hdr, p, w.Code)
			}
			if w := get(forced, p, hdr, "127.0.0.1:5000"); w.Code != http.StatusOK {
				t.Errorf("OTPD_DEV_CONSOLE=true, %v %s: %d, want 200", hdr, p, w.Code)
			}
		}
	}
	// The same request without the header is the developer's browser.
	if w := get(h, "/dev/api/messages", map[string]string{"Host": "127.0.0.1:8080"}, "127.0.0.1:5000"); w.Code != http.StatusOK {
		t.Errorf("loopback without forwarding headers: %d, want 200", w.Code)
	}

	// End to end on a default (embedded) otpd.
	base := startOtpd(t, nil)
	for _, hdr := range headers[:2] {
		req, _ := http.NewRequest(http.MethodGet, base+"/dev/api/messages", nil)
		for k, v := range hdr {
			if k != "Host" {
				req.Header.Set(k, v)
			}
		}
		req.Host = "127.0.0.1"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("otpd, %v: %d, want 403", hdr, res.StatusCode)
		}
	}
}

// TestGuardRefusesNginxDefaultProxyPass: nginx's default `proxy_pass
// http://127.0.0.1:8080;` adds no forwarding header at all: it connects
// from loopback, rewrites Host to 127.0.0.1:8080 and speaks HTTP/1.0
// (proxy_http_version's default). No browser or curl speaks HTTP/1.0 to
// a console today, so the console refuses it unless forced on; that is
// the request, byte for byte, that such a proxy sends.
func TestGuardRefusesNginxDefaultProxyPass(t *testing.T) {
	base := startOtpd(t, nil)
	addr := strings.TrimPrefix(base, "http://")
	ask := func(proto string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /dev/api/messages %s\r\nHost: %s\r\nConnection: close\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n", proto, addr)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	if got := ask("HTTP/1.0"); !strings.HasSuffix(got, " 403 Forbidden") {
		t.Errorf("nginx-default proxied request (HTTP/1.0, no forwarding header): %q, want 403", got)
	}
	if got := ask("HTTP/1.1"); !strings.HasSuffix(got, " 200 OK") {
		t.Errorf("the developer's own HTTP/1.1 request: %q, want 200", got)
	}
	_, forced := newConsole(t, 10, true)
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/dev/api/messages", nil)
	r.RemoteAddr, r.Proto, r.ProtoMinor = "127.0.0.1:5000", "HTTP/1.0", 0
	w := httptest.NewRecorder()
	forced.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("OTPD_DEV_CONSOLE=true, HTTP/1.0: %d, want 200", w.Code)
	}
}
