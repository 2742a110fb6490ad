package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/otpd/otpd/config"
)

// channelCase is one channel's REST shape.
type channelCase struct {
	method  string // path suffix
	loginID string // as sent
	to      string // normalised address the code goes to
	masked  string // response field
}

var channels = []channelCase{
	{"email", "New.User@Example.COM", "new.user@example.com", "maskedEmail"},
	{"sms", "+1 415 555 0123", "+14155550123", "maskedPhone"},
	{"voice", "+44 20 7946 0958", "+442079460958", "maskedPhone"},
	{"whatsapp", "+972 54-423-4544", "+972544234544", "maskedPhone"},
}

func TestSignUpAndVerifyOverREST(t *testing.T) {
	t.Parallel()
	for _, real := range []bool{false, true} {
		for _, ch := range channels {
			t.Run(fmt.Sprintf("%s/real=%v", ch.method, real), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, real)
				status, body := e.post("/v1/auth/otp/signup/"+ch.method,
					fmt.Sprintf(`{"loginId":%q,"user":{"name":"Ada L","givenName":"Ada"}}`, ch.loginID))
				if status != http.StatusOK {
					t.Fatalf("signup: %d %v", status, body)
				}
				masked, _ := body[ch.masked].(string)
				if masked == "" || strings.Contains(masked, ch.to[2:]) || len(body) != 2 {
					t.Fatalf("signup response %v: want only %s (masked) and verificationAttempts", body, ch.masked)
				}
				code := e.code(ch.to)
				status, body = e.post("/v1/auth/otp/verify/"+ch.method, fmt.Sprintf(`{"loginId":%q,"code":%q}`, ch.loginID, code))
				if status != http.StatusOK {
					t.Fatalf("verify: %d %v", status, body)
				}
				user := body["user"].(map[string]any)
				contact, verified := "email", "verifiedEmail"
				if ch.method != "email" {
					contact, verified = "phone", "verifiedPhone"
				}
				if user[contact] != ch.to || user[verified] != true || user["name"] != "Ada L" ||
					body["firstSeen"] != true || user["status"] != "enabled" {
					t.Fatalf("verify response user: %v firstSeen=%v", user, body["firstSeen"])
				}
				if ids := user["loginIds"].([]any); len(ids) != 1 || ids[0] != ch.to {
					t.Fatalf("loginIds %v, want [%s]", ids, ch.to)
				}
				for _, f := range []string{"cookieMaxAge", "cookieExpiration", "sessionExpiration"} {
					if _, ok := body[f].(float64); !ok {
						t.Fatalf("%s must be a JSON number, got %T", f, body[f])
					}
				}
				claims := verifyWithJWKS(t, e, body["sessionJwt"].(string))
				if claims["drn"] != "DS" || claims["iss"] != pid || claims["sub"] != user["userId"] {
					t.Fatalf("session claims: %v", claims)
				}
				if amr := claims["amr"].([]any); len(amr) != 1 || amr[0] != ch.method {
					t.Fatalf("amr %v", amr)
				}
				if _, hasAud := claims["aud"]; hasAud {
					t.Fatal("tokens must not carry aud (the Python SDK rejects it)")
				}
				if int64(claims["exp"].(float64)) != int64(body["sessionExpiration"].(float64)) {
					t.Fatalf("sessionExpiration %v != exp %v", body["sessionExpiration"], claims["exp"])
				}
				rc := verifyWithJWKS(t, e, body["refreshJwt"].(string))
				if rc["drn"] != "DSR" || rc["sub"] != user["userId"] {
					t.Fatalf("refresh claims: %v", rc)
				}
				// Signing in again finds the same user, not a new one.
				if status, body := e.post("/v1/auth/otp/signin/"+ch.method, fmt.Sprintf(`{"loginId":%q}`, ch.loginID)); status != 200 {
					t.Fatalf("signin: %d %v", status, body)
				}
				_, body = e.post("/v1/auth/otp/verify/"+ch.method, fmt.Sprintf(`{"loginId":%q,"code":%q}`, ch.to, e.code(ch.to)))
				if u := body["user"].(map[string]any); u["userId"] != user["userId"] || body["firstSeen"] != false {
					t.Fatalf("second login: user %v firstSeen %v", u["userId"], body["firstSeen"])
				}
			})
		}
	}
}

// verifyWithJWKS checks a JWT the way Descope's SDKs do: fetch
// /v2/keys/{projectId}, pick the key by the header's kid, verify.
func verifyWithJWKS(t *testing.T, e *env, tok string) map[string]any {
	t.Helper()
	resp, err := http.Get(e.base + "/v2/keys/" + e.project)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 || keys[0].Use != "sig" || keys[0].Algorithm != jws.Signatures[0].Header.Algorithm {
		t.Fatalf("JWKS has no usable key %q: %+v", kid, set)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("signature does not verify with the published key: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestBodyVariants sends each body shape Descope's SDKs send.
func TestBodyVariants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	cases := []struct {
		name, path, body, to string
	}{
		{"core: loginId only", "/v1/auth/otp/signup/email", `{"loginId":"core@example.com"}`, "core@example.com"},
		{"go: top-level email and user", "/v1/auth/otp/signup/email",
			`{"loginId":"gouser","email":"Go@Example.com","user":{"email":"other@example.com","name":"G"},"loginOptions":{}}`, "go@example.com"},
		{"user.email only", "/v1/auth/otp/signup/email", `{"loginId":"u2","user":{"email":"u2@example.com"}}`, "u2@example.com"},
		{"python: explicit nulls and falses", "/v1/auth/otp/signup-in/email",
			`{"loginId":"py@example.com","loginOptions":{"stepup":false,"mfa":false,"customClaims":null,"templateOptions":null,"revokeOtherSessions":null}}`, "py@example.com"},
		// Undeclared fields are accepted only empty (issue 19 §3; a value is
		// refused naming the field: TestUnknownFieldsRefused).
		{"empty unknown fields accepted", "/v1/auth/otp/signup-in/email", `{"loginId":"unk@example.com","ssoAppId":"","future":{"a":0,"b":null}}`, "unk@example.com"},
		{"go: phone top-level", "/v1/auth/otp/signup/sms", `{"loginId":"smsuser","phone":"+1 (415) 555-0199"}`, "+14155550199"},
		{"python: voice top-level", "/v1/auth/otp/signup/voice", `{"loginId":"voiceuser","voice":"+14155550198"}`, "+14155550198"},
		{"go: whatsapp top-level", "/v1/auth/otp/signup/whatsapp", `{"loginId":"wauser","whatsapp":"+14155550197"}`, "+14155550197"},
		{"go: double slash from a trailing-slash base URL", "//v1/auth/otp/signup-in/email", `{"loginId":"slash@example.com"}`, "slash@example.com"},
	}
	for _, c := range cases {
		status, body := e.post(c.path, c.body)
		if status != 200 {
			t.Errorf("%s: %d %v", c.name, status, body)
			continue
		}
		e.code(c.to) // fails the test if nothing went to c.to
	}
}

func TestConcurrentVerifiesSucceedOnce(t *testing.T) {
	t.Parallel()
	for _, real := range []bool{false, true} {
		t.Run(fmt.Sprintf("real=%v", real), func(t *testing.T) {
			t.Parallel()
			// 50 verifies of one login id at once is a race, not a flow: the
			// default verifies-per-login-id limit (20) would refuse most.
			e := newEnv(t, real, withProject(limitedProject(func(*config.Limits) {})))
			if s, b := e.post("/v1/auth/otp/signup-in/email", `{"loginId":"race@example.com"}`); s != 200 {
				t.Fatalf("start: %d %v", s, b)
			}
			code := e.code("race@example.com")
			var ok, other atomic.Int32
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"race@example.com","code":%q}`, code))
					switch {
					case s == 200:
						ok.Add(1)
					case s == 401 && b["errorCode"] == "E061102":
						other.Add(1)
					default:
						t.Errorf("unexpected answer %d %v", s, b)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || other.Load() != 49 {
				t.Fatalf("%d successes and %d refusals of 50 concurrent verifies; want exactly 1 and 49", ok.Load(), other.Load())
			}
		})
	}
}

func TestResendInvalidatesEarlierCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post("/v1/auth/otp/signup-in/sms", `{"loginId":"+14155550111"}`)
	first := e.code("+14155550111")
	// Resend until the new code differs (two random codes collide once in
	// a million).
	second := first
	for i := 0; second == first && i < 5; i++ {
		e.post("/v1/auth/otp/signup-in/sms", `{"loginId":"+14155550111"}`)
		second = e.code("+14155550111")
	}
	if first == second {
		t.Fatal("five resends gave the same code")
	}
	if s, b := e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550111","code":%q}`, first)); s != 401 || b["errorCode"] != "E061102" {
		t.Fatalf("first code after resend: %d %v", s, b)
	}
	if s, b := e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550111","code":%q}`, second)); s != 200 {
		t.Fatalf("second code: %d %v", s, b)
	}
}

func TestCodeExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"late@example.com"}`)
	code := e.code("late@example.com")
	e.clock.Add(5*time.Minute + time.Second)
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"late@example.com","code":%q}`, code)); s != 401 || b["errorCode"] != "E061104" {
		t.Fatalf("expired code: %d %v", s, b)
	}
	// Long after, Redis has dropped the record (its TTL ran out).
	e.clock.Add(time.Hour)
	if n := len(e.dump()); n != 0 {
		t.Fatalf("%d keys left after every TTL ran out: %v", n, e.dump())
	}
}

func TestAttemptsCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"guess@example.com"}`)
	code := e.code("guess@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 5; i++ {
		s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"guess@example.com","code":%q}`, wrong))
		if s != 401 || b["errorCode"] != "E061102" || !strings.Contains(b["errorMessage"].(string), fmt.Sprintf("%d attempts left", 5-i)) {
			t.Fatalf("wrong attempt %d: %d %v", i, s, b)
		}
	}
	s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"guess@example.com","code":%q}`, code))
	if s != 401 || b["errorCode"] != "E061103" {
		t.Fatalf("right code after 5 wrong ones must be refused: %d %v", s, b)
	}
}

// TestNoPlaintextCodeAtRest scans every Redis key and value after starts on
// every channel: the code must not appear anywhere.
func TestNoPlaintextCodeAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	digits := regexp.MustCompile(`[0-9]+`)
	for _, ch := range channels {
		e.post("/v1/auth/otp/signup-in/"+ch.method, fmt.Sprintf(`{"loginId":%q}`, ch.loginID))
		code := e.code(ch.to)
		dump := e.dump()
		if len(dump) == 0 {
			t.Fatal("nothing stored")
		}
		for k, vals := range dump {
			for _, s := range append([]string{k}, vals...) {
				for _, tok := range digits.FindAllString(s, -1) {
					if tok == code {
						t.Fatalf("the %s code appears in clear in Redis key %s", ch.method, k)
					}
				}
			}
		}
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post("/v1/auth/otp/signup/email", `{"loginId":"secret.person@example.com"}`)
	code := e.code("secret.person@example.com")
	_, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"secret.person@example.com","code":%q}`, code))
	e.post("/v1/auth/otp/verify/email", `{"loginId":"secret.person@example.com","code":"123456"}`)
	logs := e.logs.String()
	if !strings.Contains(logs, "/otp.v1.OtpEmail/Verify") {
		t.Fatalf("the service log has no line for the calls: %s", logs)
	}
	for name, secret := range map[string]string{
		"code": code, "address": "secret.person@example.com", "local part": "secret.person",
		"session token": b["sessionJwt"].(string), "refresh token": b["refreshJwt"].(string),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the service log contains the %s", name)
		}
	}
}
