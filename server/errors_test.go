package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestRESTErrors: every refusal has Descope's body, the documented status,
// and changes nothing in Redis.
func TestRESTErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	// A user that exists, for sign-up conflicts.
	e.post("/v1/auth/otp/signup/email", `{"loginId":"taken@example.com"}`)
	e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"taken@example.com","code":%q}`, e.code("taken@example.com")))

	cases := []struct {
		name, method, path, body, auth string
		status                         int
		code                           string
	}{
		{"no authorization", "POST", "/v1/auth/otp/signup/email", `{"loginId":"a@example.com"}`, "", 401, "E011401"},
		{"not a bearer", "POST", "/v1/auth/otp/signup/email", `{"loginId":"a@example.com"}`, "Basic " + pid, 401, "E011401"},
		{"unknown project", "POST", "/v1/auth/otp/signup/email", `{"loginId":"a@example.com"}`, "Bearer P2nope", 401, "E011401"},
		{"malformed JSON", "POST", "/v1/auth/otp/signup/email", `{"loginId":`, "bearer", 400, "E011001"},
		{"wrong JSON type", "POST", "/v1/auth/otp/signup/email", `{"loginId":42}`, "bearer", 400, "E011001"},
		{"JSON array body", "POST", "/v1/auth/otp/signup/email", `[]`, "bearer", 400, "E011001"},
		{"missing loginId", "POST", "/v1/auth/otp/signup/email", `{}`, "bearer", 400, "E011004"},
		{"blank loginId", "POST", "/v1/auth/otp/signup-in/sms", `{"loginId":"   "}`, "bearer", 400, "E011004"},
		{"invalid email loginId", "POST", "/v1/auth/otp/signup/email", `{"loginId":"a@@example.com"}`, "bearer", 400, "E011002"},
		{"invalid explicit email", "POST", "/v1/auth/otp/signup/email", `{"loginId":"bob","email":"not-an-email"}`, "bearer", 400, "E011002"},
		{"invalid phone loginId", "POST", "/v1/auth/otp/signup/sms", `{"loginId":"+1 555"}`, "bearer", 400, "E011002"},
		{"phone without country code", "POST", "/v1/auth/otp/signup/sms", `{"loginId":"4155550123"}`, "bearer", 400, "E011002"},
		{"no address for a user name", "POST", "/v1/auth/otp/signup/email", `{"loginId":"nobody"}`, "bearer", 400, "E011002"},
		{"sign-up of an existing user", "POST", "/v1/auth/otp/signup/email", `{"loginId":"Taken@example.com"}`, "bearer", 400, "E062107"},
		{"sign-in of an unknown user", "POST", "/v1/auth/otp/signin/email", `{"loginId":"ghost@example.com"}`, "bearer", 400, "E062108"},
		{"verify without a pending code", "POST", "/v1/auth/otp/verify/email", `{"loginId":"ghost@example.com","code":"123456"}`, "bearer", 401, "E061102"},
		{"verify with a malformed code", "POST", "/v1/auth/otp/verify/email", `{"loginId":"taken@example.com","code":"12ab56"}`, "bearer", 401, "E061102"},
		{"verify without a code", "POST", "/v1/auth/otp/verify/email", `{"loginId":"taken@example.com"}`, "bearer", 400, "E011004"},
		{"unknown path", "POST", "/v1/auth/otp/signup/fax", `{}`, "bearer", 404, "E011404"},
		{"wrong method", "GET", "/v1/auth/otp/signup/email", ``, "bearer", 405, "E011405"},
		{"keys of an unknown project", "GET", "/v2/keys/P2nope", ``, "", 404, "E011404"},
		{"update email without a refresh JWT", "POST", "/v1/auth/otp/update/email", `{"loginId":"taken@example.com","email":"n@example.com"}`, "bearer", 401, "E064002"},
		{"update phone with a garbage refresh JWT", "POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"taken@example.com","phone":"+14155550100"}`, "Bearer " + pid + ":not.a.jwt", 401, "E064002"},
		{"stepup without a refresh JWT", "POST", "/v1/auth/otp/signin/email", `{"loginId":"taken@example.com","loginOptions":{"stepup":true}}`, "bearer", 401, "E064002"},
		{"refresh without a token", "POST", "/v1/auth/refresh", ``, "bearer", 401, "E064002"},
		{"me with a garbage token", "GET", "/v1/auth/me", ``, "Bearer " + pid + ":a.b.c", 401, "E064002"},
		{"logout without a token", "POST", "/v1/auth/logout", `{}`, "bearer", 401, "E064002"},
		{"reserved custom claim", "POST", "/v1/auth/otp/signup-in/email", `{"loginId":"c@example.com","loginOptions":{"customClaims":{"sub":"admin"}}}`, "bearer", 400, "E011002"},
	}
	before := e.state()
	sent := e.messages()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			if auth == "bearer" {
				auth = "Bearer " + pid
			}
			status, body := e.do(c.method, c.path, c.body, auth)
			if status != c.status || body["errorCode"] != c.code {
				t.Fatalf("got %d %v, want %d %s", status, body, c.status, c.code)
			}
			if d, _ := body["errorDescription"].(string); d == "" {
				t.Errorf("empty errorDescription: %v", body)
			}
			if m, _ := body["errorMessage"].(string); m == "" {
				t.Errorf("empty errorMessage: %v", body)
			}
		})
	}
	if after := e.state(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused requests changed Redis:\nbefore %v\nafter  %v", before, after)
	}
	if e.messages() != sent {
		t.Errorf("refused requests sent %d messages", e.messages()-sent)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	big := fmt.Sprintf(`{"loginId":"a@example.com","providerId":%q}`, make([]byte, 70<<10))
	status, body := e.post("/v1/auth/otp/signup/email", big)
	if status != http.StatusBadRequest || body["errorCode"] != "E011001" {
		t.Fatalf("got %d %v", status, body)
	}
}

// TestGRPCErrors: gRPC callers get the status code and ErrorInfo with the
// Descope code as reason.
func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	email := otpv1.NewOtpEmailClient(e.conn)
	sms := otpv1.NewOtpSmsClient(e.conn)
	cases := []struct {
		name   string
		call   func(ctx context.Context) error
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{"no authorization", func(ctx context.Context) error {
			_, err := email.SignUp(ctx, &otpv1.StartRequest{LoginId: "a@example.com"})
			return err
		}, context.Background(), codes.Unauthenticated, "E011401"},
		{"unknown project", func(ctx context.Context) error {
			_, err := email.SignUp(ctx, &otpv1.StartRequest{LoginId: "a@example.com"})
			return err
		}, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope"), codes.Unauthenticated, "E011401"},
		{"missing loginId", func(ctx context.Context) error {
			_, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{})
			return err
		}, e.authCtx(), codes.InvalidArgument, "E011004"},
		{"invalid phone", func(ctx context.Context) error {
			_, err := sms.SignUp(ctx, &otpv1.StartRequest{LoginId: "+1 555"})
			return err
		}, e.authCtx(), codes.InvalidArgument, "E011002"},
		{"unknown user", func(ctx context.Context) error {
			_, err := sms.SignIn(ctx, &otpv1.StartRequest{LoginId: "+14155550100"})
			return err
		}, e.authCtx(), codes.NotFound, "E062108"},
		{"wrong code", func(ctx context.Context) error {
			_, err := email.Verify(ctx, &otpv1.VerifyRequest{LoginId: "a@example.com", Code: "123456"})
			return err
		}, e.authCtx(), codes.Unauthenticated, "E061102"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := status.Convert(c.call(c.ctx))
			var reason string
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.GetReason()
				}
			}
			if st.Code() != c.code || reason != c.reason {
				t.Fatalf("got %s %q (%s), want %s %q", st.Code(), reason, st.Message(), c.code, c.reason)
			}
		})
	}
	if n := len(e.state()); n != 0 {
		t.Fatalf("refused gRPC calls wrote %d keys", n)
	}
}

// TestRejectedRESTRequestsAreObserved: requests the gateway refuses before
// the RPC chain still get a log line and a metric.
func TestRejectedRESTRequestsAreObserved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post("/v1/auth/otp/signup/email", `{not json`)
	e.post("/v1/auth/otp/nowhere", `{}`)
	logs := e.logs.String()
	for _, code := range []string{`"errorCode":"E011001"`, `"errorCode":"E011404"`} {
		if !strings.Contains(logs, code) {
			t.Errorf("no log line with %s:\n%s", code, logs)
		}
	}
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), `otpd_requests_total{code="InvalidArgument",error_code="E011001",method="rest:rejected",transport="rest"} 1`) {
		t.Errorf("metrics lack the rejected request:\n%s", raw)
	}
}
