package server_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNonCanonicalPathsNeverRoute: a proxy rule that denies /v1/mgmt/
// must not be walked around by spelling the path differently. Encoded
// slashes (or any percent-encoding), empty segments and dot segments get
// 400 in Descope's shape from every handler on the REST listener (API,
// /v2/keys, the dev console, /healthz, /openapi.json), and nothing runs.
func TestNonCanonicalPathsNeverRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	auth := "Bearer " + e.project + ":" + mgmtKey
	create := []string{
		"/v1%2Fmgmt%2Fuser%2Fcreate",
		"/v1/mgmt%2Fuser/create",
		"/v1%2fmgmt/user/create",
		"/v1//mgmt/user/create",
		"/v1/mgmt//user/create",
		"/v1/./mgmt/user/create",
		"/v1/auth/../mgmt/user/create",
		"/v1/%2E%2E/v1/mgmt/user/create",
		"/v1/%6dgmt/user/create",
		"//v1//mgmt/user/create",
	}
	for i, p := range create {
		login := fmt.Sprintf("walk%d@example.com", i)
		resp, raw := e.send("POST", p, fmt.Sprintf(`{"loginId":%q}`, login), auth, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(raw), `"errorCode":"E011001"`) {
			t.Errorf("POST %s: %d %s, want 400 E011001", p, resp.StatusCode, raw)
		}
		if s, b := e.mgmt("GET", "/v1/mgmt/user?loginId="+login, ""); s != 404 {
			t.Errorf("POST %s created user %s: %d %v", p, login, s, b)
		}
	}
	// The other handlers on the same listener.
	others := []string{
		"/v2/keys/" + strings.Replace(e.project, "P", "%50", 1),
		"/v2//keys/" + e.project,
		"/dev%2Fapi%2Fmessages", "/dev//api/messages", "/dev/./api/messages", "/dev/api/../api/messages", "/dev/%61pi/messages",
		"/%68ealthz", "/healthz/.", "/openapi%2Ejson", "/./openapi.json",
	}
	for _, p := range others {
		resp, raw := e.send("GET", p, "", "", map[string]string{"Host": "127.0.0.1"})
		if resp.StatusCode != 400 || !strings.Contains(string(raw), `"errorCode":"E011001"`) {
			t.Errorf("GET %s: %d %.200s, want 400 E011001", p, resp.StatusCode, raw)
		}
	}
	// What the SDKs and browsers send still works: the canonical paths
	// (the Go SDK's leading double slash: TestLeadingSlashesNeverReachManagement).
	if s, b := e.mgmt("POST", "/v1/mgmt/user/create", `{"loginId":"ok@example.com"}`); s != 200 {
		t.Errorf("canonical create: %d %v", s, b)
	}
	for _, p := range []string{"/dev/", "/dev/api/messages", "/healthz", "/openapi.json", "/v2/keys/" + e.project} {
		if resp, raw := e.send("GET", p, "", "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %.200s", p, resp.StatusCode, raw)
		}
	}
}

// TestLeadingSlashesNeverReachManagement: leading slashes collapse for
// the Go SDK's "//v1/..." (a base URL with a trailing slash), but not into
// the management API: a proxy that does not merge slashes (Envoy's
// default, HAProxy's path_beg) does not see "//v1/mgmt/user/create" under
// a rule that denies /v1/mgmt/, so otpd must not route it there.
func TestLeadingSlashesNeverReachManagement(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	auth := "Bearer " + e.project + ":" + mgmtKey
	for i, p := range []string{"//v1/mgmt/user/create", "///v1/mgmt/user/create", "//v2/mgmt/user/create"} {
		login := fmt.Sprintf("lead%d@example.com", i)
		resp, raw := e.send("POST", p, fmt.Sprintf(`{"loginId":%q}`, login), auth, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(raw), `"errorCode":"E011001"`) {
			t.Errorf("POST %s: %d %s, want 400 E011001", p, resp.StatusCode, raw)
		}
		if s, b := e.mgmt("GET", "/v1/mgmt/user?loginId="+login, ""); s != 404 {
			t.Errorf("POST %s created user %s: %d %v", p, login, s, b)
		}
	}
	if resp, raw := e.send("GET", "//v1/mgmt/user?loginId=x@example.com", "", auth, nil); resp.StatusCode != 400 {
		t.Errorf("GET //v1/mgmt/user: %d %.200s, want 400", resp.StatusCode, raw)
	}
	// The end-user API and the keys keep the Go SDK's tolerance.
	if s, b := e.do("POST", "//v1/auth/otp/signup-in/email", `{"loginId":"lead-ok@example.com"}`, "Bearer "+e.project); s != 200 {
		t.Errorf("//v1/auth/otp/signup-in/email: %d %v", s, b)
	}
	if resp, raw := e.send("GET", "//v2/keys/"+e.project, "", "", nil); resp.StatusCode != 200 {
		t.Errorf("GET //v2/keys: %d %.200s", resp.StatusCode, raw)
	}
}

// TestRawRequestLinesNeverRoute sends request lines byte for byte (no
// client library rewrites them): the encoded-slash and empty-segment
// forms of a management call are refused before authentication.
func TestRawRequestLinesNeverRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	addr := strings.TrimPrefix(e.base, "http://")
	body := `{"loginId":"raw@example.com"}`
	for _, target := range []string{"/v1%2Fmgmt%2Fuser%2Fcreate", "/v1/mgmt%2Fuser/create", "/v1//mgmt/user/create",
		"http://" + addr + "/v1//mgmt/user/create"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s:%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			target, addr, e.project, mgmtKey, len(body), body)
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		c.Close()
		if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); line != "HTTP/1.1 400 Bad Request" {
			t.Errorf("POST %s: %q, want 400", target, line)
		}
	}
	if s, b := e.mgmt("GET", "/v1/mgmt/user?loginId=raw@example.com", ""); s != 404 {
		t.Errorf("a raw request created the user: %d %v", s, b)
	}
}

// TestDevConsolePreflightGetsNoCORS: the embedded default allows any
// origin on the API, but a preflight to the console's paths is answered
// without Access-Control-Allow-Origin (a page on any site must not be
// invited to read codes).
func TestDevConsolePreflightGetsNoCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	pre := map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "X-Anything"}
	for _, p := range []string{"/dev", "/dev/", "/dev/api/messages", "/dev/api/events", "//dev/api/messages"} {
		resp, _ := e.send(http.MethodOptions, p, "", "", pre)
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" || resp.StatusCode == http.StatusNoContent {
			t.Errorf("preflight %s: %d, Access-Control-Allow-Origin %q", p, resp.StatusCode, v)
		}
	}
	// The API keeps answering preflights.
	resp, _ := e.send(http.MethodOptions, "/v1/auth/otp/signup-in/email", "", "", pre)
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://evil.example" {
		t.Error("the API's preflight lost its CORS headers")
	}
}
