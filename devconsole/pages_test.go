package devconsole_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/devconsole"
)

// TestEveryRouteIsGuarded: every console route, the Users page and the API
// reference included, refuses remote clients, rebinding host names,
// cross-site requests and methods other than GET/HEAD, and every page runs
// under the strict CSP.
func TestEveryRouteIsGuarded(t *testing.T) {
	routes := devconsole.New(devconsole.Options{Inbox: devconsole.NewInbox(10, time.Now), Projects: []string{"P1"}}).Routes()
	for _, want := range []string{"/dev/users", "/dev/users.js", "/dev/reference", "/dev/reference.js"} {
		if routes[want] == nil {
			t.Errorf("no route %s", want)
		}
	}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.Handle(p, h)
	}
	for p := range routes {
		if p == "/dev/api/events" {
			continue // streams; its guard is the same wrapper (TestGuardRefusesOtherClients)
		}
		for name, c := range map[string]struct {
			hdr    map[string]string
			remote string
		}{
			"remote":     {nil, "192.0.2.7:5000"},
			"rebinding":  {map[string]string{"Host": "attacker.example:8080"}, "127.0.0.1:5000"},
			"cross-site": {map[string]string{"Sec-Fetch-Site": "cross-site"}, "127.0.0.1:5000"},
		} {
			if w := get(mux, p, c.hdr, c.remote); w.Code != http.StatusForbidden {
				t.Errorf("%s %s: %d, want 403", name, p, w.Code)
			}
		}
		if strings.HasSuffix(p, "users") || strings.HasSuffix(p, "reference") {
			w := get(mux, p, nil, "127.0.0.1:5000")
			if csp := w.Header().Get("Content-Security-Policy"); w.Code != 200 || !strings.Contains(csp, "script-src 'self'") ||
				strings.Contains(csp, "unsafe") || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: %d, CSP %q", p, w.Code, csp)
			}
			for _, m := range regexp.MustCompile(`<(?:script|link)[^>]*(?:src|href)="([^"]+)"`).FindAllStringSubmatch(w.Body.String(), -1) {
				if !strings.HasPrefix(m[1], "/dev/") {
					t.Errorf("%s loads %s (not bundled)", p, m[1])
				}
			}
		}
	}
}
