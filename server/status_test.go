package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestDeliveryStatusRoute: on the default configuration a delivered code
// is counted as queued in otpd_delivery_status_total, and the status
// callback endpoint is mounted and refuses what is not signed, in
// Descope's error shape.
func TestDeliveryStatusRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"status@example.com"}`); s != http.StatusOK {
		t.Fatalf("signup: %d %v", s, b)
	}
	_ = e.code("status@example.com")
	if m := e.metrics(); !strings.Contains(m, `otpd_delivery_status_total{channel="email",status="queued"} 1`) {
		t.Fatalf("/metrics lacks the queued status:\n%s", grepLines(m, "otpd_delivery_status"))
	}
	for _, path := range []string{"/v1/delivery/status", "/v1/delivery/status?t=forged.token"} {
		s, b := e.do(http.MethodPost, path, "MessageSid=SM1&MessageStatus=delivered", "")
		if s != http.StatusUnauthorized || b["errorCode"] != "E011401" {
			t.Fatalf("%s: %d %v", path, s, b)
		}
	}
	if s, b := e.do(http.MethodGet, "/v1/delivery/status", "", ""); s != http.StatusMethodNotAllowed || b["errorCode"] != "E011405" {
		t.Fatalf("GET: %d %v", s, b)
	}
}
