package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/server"
)

func get(t *testing.T, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAdminListener: metrics and profiles are served on the admin
// listener only; the public REST port answers 404 in Descope's shape.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withServer(func(o *server.Options) { o.Pprof = true }))
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"m@example.com"}`)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if st, _, b := get(t, e.base+path, nil); st != 404 || !strings.Contains(b, `"errorCode":"E011404"`) {
			t.Errorf("REST %s: %d %.80s, want 404 E011404", path, st, b)
		}
	}
	if st, _, b := get(t, e.admin+"/metrics", nil); st != 200 || !strings.Contains(b, "otpd_requests_total") {
		t.Errorf("admin /metrics: %d %.80s", st, b)
	}
	if st, _, b := get(t, e.admin+"/debug/pprof/heap?debug=1", nil); st != 200 || !strings.Contains(b, "heap profile") {
		t.Errorf("admin pprof: %d %.80s", st, b)
	}
	if st, _, b := get(t, e.admin+"/healthz", nil); st != 200 || !strings.Contains(b, "SERVING") {
		t.Errorf("admin /healthz: %d %s", st, b)
	}
	// Without OTPD_PPROF the admin listener serves no profiles.
	plain := newEnv(t, false)
	if st, _, _ := get(t, plain.admin+"/debug/pprof/", nil); st != 404 {
		t.Errorf("pprof without OTPD_PPROF: %d", st)
	}
}

// TestReflectionSwitch: OTPD_GRPC_REFLECTION=false leaves the reflection
// service out (TestHealthAndReflection covers the default, on).
func TestReflectionSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, func(s *envSetup) { s.cfg.GRPCReflection = false })
	stream, err := grpc_reflection_v1.NewServerReflectionClient(e.conn).ServerReflectionInfo(context.Background())
	if err == nil {
		_ = stream.Send(&grpc_reflection_v1.ServerReflectionRequest{MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{}})
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection switched off: %v, want Unimplemented", err)
	}
}

// TestCORS: an allowed origin's preflight allows every header Descope's
// web SDK sends (device tokens included) and any other token-shaped header
// it asks for; every response varies by Origin; other origins get no CORS
// headers.
func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, func(s *envSetup) { s.cfg.CORSOrigins = []string{"https://app.example.com"} })
	preflight := func(origin, headers string) (int, http.Header) {
		req, _ := http.NewRequest("OPTIONS", e.base+"/v1/auth/otp/signup-in/email", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	st, h := preflight("https://app.example.com",
		"authorization,content-type,x-descope-sdk-name,x-descope-sdk-version,x-descope-trusted-device-token,x-descope-known-device-token,x-descope-widget-id")
	allow := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"authorization", "x-descope-trusted-device-token", "x-descope-known-device-token", "x-descope-widget-id"} {
		if !containsToken(allow, want) {
			t.Errorf("preflight does not allow %s: %q", want, allow)
		}
	}
	if st != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!containsToken(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("preflight: %d %v", st, h)
	}
	// A name that is not a token is not echoed.
	if _, h := preflight("https://app.example.com", "x-ok, bad name, x-a\"b"); strings.Contains(h.Get("Access-Control-Allow-Headers"), "bad") ||
		!containsToken(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "x-ok") {
		t.Errorf("echoed: %q", h.Get("Access-Control-Allow-Headers"))
	}
	if _, h := preflight("https://evil.example.com", "x-descope-known-device-token"); h.Get("Access-Control-Allow-Origin") != "" ||
		h.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("foreign origin got CORS headers: %v", h)
	}
	for _, hdr := range []map[string]string{nil, {"Origin": "https://evil.example.com"}, {"Origin": "https://app.example.com"}} {
		_, h, _ := get(t, e.base+"/v2/keys/"+e.project, hdr)
		if !containsToken(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("response to %v lacks Vary: Origin: %v", hdr, h)
		}
	}
}

func containsToken(list, tok string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), tok) {
			return true
		}
	}
	return false
}
