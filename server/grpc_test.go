package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

func TestSignUpOrInAndVerifyOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	wa := otpv1.NewOtpWhatsappClient(e.conn)
	resp, err := wa.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "grpcuser", Whatsapp: "+1 415 555 0142",
		User: &otpv1.SignUpUser{Name: "G R"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMaskedPhone() != "**********42" || resp.MaskedEmail != nil {
		t.Fatalf("masked: %v", resp)
	}
	jwt, err := wa.Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "GrpcUser", Code: e.code("+14155550142")})
	if err != nil {
		t.Fatal(err)
	}
	u := jwt.GetUser()
	if u.GetPhone() != "+14155550142" || !u.GetVerifiedPhone() || u.GetLoginIds()[0] != "grpcuser" || u.GetName() != "G R" || !jwt.GetFirstSeen() {
		t.Fatalf("user: %v", u)
	}
	claims := verifyWithJWKS(t, e, jwt.GetSessionJwt())
	if claims["sub"] != u.GetUserId() || claims["amr"].([]any)[0] != "whatsapp" {
		t.Fatalf("claims: %v", claims)
	}
	// The user name signs in on another phone channel, to the stored number.
	if r, err := otpv1.NewOtpSmsClient(e.conn).SignIn(e.authCtx(), &otpv1.StartRequest{LoginId: "grpcuser"}); err != nil || r.GetMaskedPhone() != "**********42" {
		t.Fatalf("sms sign-in of the user name: %v %v", r, err)
	}

	keys, err := otpv1.NewSessionClient(e.conn).GetKeys(context.Background(), &otpv1.GetKeysRequest{ProjectId: pid})
	if err != nil || len(keys.GetKeys()) != 1 || keys.GetKeys()[0].GetAlg() != "ES256" {
		t.Fatalf("GetKeys without authorization: %v %v", keys, err)
	}
}

func TestHealthAndReflection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	h, err := grpc_health_v1.NewHealthClient(e.conn).Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
	if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	stream, err := grpc_reflection_v1.NewServerReflectionClient(e.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range r.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	for _, want := range []string{"otp.v1.OtpEmail", "otp.v1.OtpSms", "otp.v1.OtpVoice", "otp.v1.OtpWhatsapp", "otp.v1.Session"} {
		if !got[want] {
			t.Errorf("reflection does not list %s (got %v)", want, got)
		}
	}
	status, body := e.do("GET", "/healthz", "", "")
	if status != 200 || body["status"] != "SERVING" {
		t.Fatalf("/healthz: %d %v", status, body)
	}
}

// TestProjectSettings: code length, attempt cap and algorithm come from the
// project's configuration.
func TestProjectSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(config.Project{ID: "P2eight", CodeLength: 8, CodeTTL: config.Duration(time.Minute),
		MaxAttempts: 2, SessionTTL: config.Duration(time.Hour), RefreshTTL: config.Duration(48 * time.Hour),
		Algorithm: "EdDSA"}))
	if s, b := e.post("/v1/auth/otp/signup-in/email", `{"loginId":"eight@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, b)
	}
	code := e.code("eight@example.com")
	if len(code) != 8 {
		t.Fatalf("code %q is not 8 digits", code)
	}
	for range 2 {
		e.post("/v1/auth/otp/verify/email", `{"loginId":"eight@example.com","code":"00000000"}`)
	}
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"eight@example.com","code":%q}`, code)); b["errorCode"] != "E061103" {
		t.Fatalf("after 2 wrong attempts: %d %v", s, b)
	}
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"eight@example.com"}`)
	s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"eight@example.com","code":%q}`, e.code("eight@example.com")))
	if s != 200 || b["cookieMaxAge"] != float64(48*3600) {
		t.Fatalf("verify: %d %v", s, b)
	}
	claims := verifyWithJWKS(t, e, b["sessionJwt"].(string))
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Fatalf("session lifetime %v s, want 3600", exp-iat)
	}
	_, keys := e.do("GET", "/v2/keys/P2eight", "", "")
	if k := keys["keys"].([]any)[0].(map[string]any); k["alg"] != "EdDSA" || k["crv"] != "Ed25519" || k["kty"] != "OKP" {
		t.Fatalf("JWKS: %v", keys)
	}
}
