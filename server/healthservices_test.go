package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestHealthPerServiceAndUncounted: gRPC health answers for the server and
// for each API service by name (a client configured with its service's
// name, as gRPC's client-side health checking does, gets SERVING);
// unknown names are NotFound; and health checks, gRPC or /healthz, are
// not API requests: no request metric, no request log line.
func TestHealthPerServiceAndUncounted(t *testing.T) {
	e := newEnv(t, false)
	hc := healthpb.NewHealthClient(e.conn)
	ctx := context.Background()
	for _, svc := range []string{"", "otp.v1.OtpEmail", "otp.v1.OtpSms", "otp.v1.OtpVoice", "otp.v1.OtpWhatsapp", "otp.v1.Session", "otp.v1.Management"} {
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v", svc, res, err)
		}
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "otp.v1.Nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown service: %v", err)
	}
	for i := 0; i < 3; i++ {
		res, err := http.Get(e.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	m := e.metrics()
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "otpd_request") && (strings.Contains(l, "Health") || strings.Contains(l, "healthz")) {
			t.Errorf("a health check counted as an API request: %s", l)
		}
	}
	if strings.Contains(e.logs.String(), "grpc.health") {
		t.Errorf("a health check logged as a request:\n%s", e.logs.String())
	}
	// The API itself is still counted and logged.
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"a@example.com"}`)
	if !strings.Contains(e.metrics(), `otpd_requests_total{code="OK",error_code="",method="/otp.v1.OtpEmail/SignUpOrIn"`) {
		t.Error("API request not counted")
	}
}
