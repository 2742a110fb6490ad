package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: `otpd healthcheck` (the distroless image's container
// health check) succeeds only when the local /healthz answers 200, finds
// the admin listener from a container-style ":port" address, and falls back
// to the REST listener when the admin listener is off.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	if out, _, err := run(t, map[string]string{"OTPD_ADMIN_ADDR": ":" + port}, "healthcheck"); err != nil || !strings.Contains(out, "healthy") {
		t.Fatalf("healthy server: %v %q", err, out)
	}
	if _, _, err := run(t, map[string]string{"OTPD_ADMIN_ADDR": "off", "OTPD_HTTP_ADDR": "0.0.0.0:" + port}, "healthcheck"); err != nil {
		t.Fatalf("admin off, REST listener: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, _, err := run(t, map[string]string{"OTPD_ADMIN_ADDR": ":" + port}, "healthcheck"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy server: %v", err)
	}
	srv.Close()
	if _, _, err := run(t, map[string]string{"OTPD_ADMIN_ADDR": ":" + port}, "healthcheck"); err == nil {
		t.Fatal("nothing listening, yet healthy")
	}
}

// TestConfigCheckFlagsLoadTestPreset: the shipped load-test preset passes
// `otpd config check` (otpd serves it) but every limit it switches off and
// its noop provider are printed as NOT FOR PRODUCTION.
func TestConfigCheckFlagsLoadTestPreset(t *testing.T) {
	out, _, err := run(t, map[string]string{"OTPD_CONFIG": "../../loadtest/otpd-loadtest.yaml",
		"OTPD_MANAGEMENT_KEYS": "mk-load-test-key-0123456789abcdefghijkl"}, "config", "check")
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, want := range []string{"!!! NOT FOR PRODUCTION", "warning: NOT FOR PRODUCTION: project \"P2otpdLoadTest0000000000000\": limits off (", "sendsPerIp", "provider \"noop\" is noop", "configuration OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
}
