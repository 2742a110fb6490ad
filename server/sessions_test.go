package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// login signs loginID in (or up) on ch and returns the verify response.
func (e *env) login(ch, loginID, to string) map[string]any {
	e.t.Helper()
	return e.loginWith(ch, loginID, to, "", "Bearer "+e.project)
}

// loginWith starts with extra loginOptions JSON and the given authorization.
func (e *env) loginWith(ch, loginID, to, loginOptions, auth string) map[string]any {
	e.t.Helper()
	body := fmt.Sprintf(`{"loginId":%q}`, loginID)
	if loginOptions != "" {
		body = fmt.Sprintf(`{"loginId":%q,"loginOptions":%s}`, loginID, loginOptions)
	}
	if s, b := e.do("POST", "/v1/auth/otp/signup-in/"+ch, body, auth); s != 200 {
		e.t.Fatalf("start %s: %d %v", ch, s, b)
	}
	s, b := e.post("/v1/auth/otp/verify/"+ch, fmt.Sprintf(`{"loginId":%q,"code":%q}`, loginID, e.code(to)))
	if s != 200 {
		e.t.Fatalf("verify %s: %d %v", ch, s, b)
	}
	return b
}

func (e *env) bearer(refresh any) string { return fmt.Sprintf("Bearer %s:%s", e.project, refresh) }

func TestRefreshLogoutAndMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	first := e.login("email", "r@example.com", "r@example.com")
	second := e.login("email", "r@example.com", "r@example.com")
	uid := first["user"].(map[string]any)["userId"]

	// Refresh with no body (the Go SDK), with {} (JS, Python).
	for _, body := range []string{"", "{}"} {
		s, b := e.do("POST", "/v1/auth/refresh", body, e.bearer(first["refreshJwt"]))
		if s != 200 {
			t.Fatalf("refresh with body %q: %d %v", body, s, b)
		}
		c := verifyWithJWKS(t, e, b["sessionJwt"].(string))
		if c["drn"] != "DS" || c["sub"] != uid || c["amr"].([]any)[0] != "email" {
			t.Fatalf("refreshed session claims: %v", c)
		}
		if b["refreshJwt"] != first["refreshJwt"] {
			t.Fatal("without rotation the refresh token stays the same")
		}
	}
	// Me: the user object at the top level.
	s, me := e.do("GET", "/v1/auth/me", "", e.bearer(first["refreshJwt"]))
	if s != 200 || me["userId"] != uid || me["email"] != "r@example.com" || me["verifiedEmail"] != true {
		t.Fatalf("me: %d %v", s, me)
	}
	// Logout kills that token at once, and only that one.
	if s, b := e.do("POST", "/v1/auth/logout", "", e.bearer(first["refreshJwt"])); s != 200 || len(b) != 0 {
		t.Fatalf("logout: %d %v (want {})", s, b)
	}
	for _, path := range []string{"/v1/auth/refresh", "/v1/auth/logout"} {
		if s, b := e.do("POST", path, "{}", e.bearer(first["refreshJwt"])); s != 401 || b["errorCode"] != "E064001" {
			t.Fatalf("%s after logout: %d %v", path, s, b)
		}
	}
	if s, b := e.do("GET", "/v1/auth/me", "", e.bearer(first["refreshJwt"])); s != 401 || b["errorCode"] != "E064001" {
		t.Fatalf("me after logout: %d %v", s, b)
	}
	if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(second["refreshJwt"])); s != 200 {
		t.Fatal("logout must not touch the user's other sessions")
	}
	// Logout-all kills every token of the user.
	third := e.login("email", "r@example.com", "r@example.com")
	if s, b := e.do("POST", "/v1/auth/logoutall", "{}", e.bearer(third["refreshJwt"])); s != 200 || len(b) != 0 {
		t.Fatalf("logoutall: %d %v", s, b)
	}
	for _, tok := range []any{second["refreshJwt"], third["refreshJwt"]} {
		if s, b := e.do("POST", "/v1/auth/refresh", "", e.bearer(tok)); s != 401 || b["errorCode"] != "E064001" {
			t.Fatalf("refresh after logoutall: %d %v", s, b)
		}
	}
	// try-refresh never fails for a missing or dead token.
	for _, auth := range []string{"Bearer " + pid, e.bearer(third["refreshJwt"])} {
		if s, b := e.do("POST", "/v1/auth/try-refresh", "", auth); s != 200 || b["sessionJwt"] != "" {
			t.Fatalf("try-refresh: %d %v", s, b)
		}
	}
}

func TestRefreshTokenRejections(t *testing.T) {
	t.Parallel()
	other := config.Project{ID: "P2other"}
	e := newEnv(t, false, withProjects(config.Project{ID: pid}, other))
	b := e.login("email", "x@example.com", "x@example.com")
	refresh := b["refreshJwt"].(string)
	parts := strings.Split(refresh, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	cases := map[string]string{
		"tampered":               e.bearer(tampered),
		"session JWT as refresh": e.bearer(b["sessionJwt"]),
		"other project":          "Bearer P2other:" + refresh,
	}
	for name, auth := range cases {
		if s, body := e.do("POST", "/v1/auth/refresh", "", auth); s != 401 || body["errorCode"] != "E064002" {
			t.Errorf("%s: %d %v", name, s, body)
		}
	}
	e.clock.Add(config.DefaultRefreshTTL + time.Second)
	if s, body := e.do("POST", "/v1/auth/refresh", "", e.bearer(refresh)); s != 401 || body["errorCode"] != "E064002" {
		t.Errorf("expired: %d %v", s, body)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(config.Project{ID: pid, RefreshRotation: true}))
	b := e.login("sms", "+14155550150", "+14155550150")
	r0 := b["refreshJwt"]
	_, b1 := e.do("POST", "/v1/auth/refresh", "", e.bearer(r0))
	r1 := b1["refreshJwt"]
	if r1 == nil || r1 == r0 {
		t.Fatalf("rotation must issue a new refresh token: %v", b1)
	}
	c0, c1 := verifyWithJWKS(t, e, r0.(string)), verifyWithJWKS(t, e, r1.(string))
	if c0["exp"] != c1["exp"] {
		t.Fatalf("a rotated token keeps its family's end: %v vs %v", c0["exp"], c1["exp"])
	}
	_, b2 := e.do("POST", "/v1/auth/refresh", "", e.bearer(r1))
	r2 := b2["refreshJwt"]
	// r0 comes back (a stolen copy): refused, and the whole family dies.
	if s, body := e.do("POST", "/v1/auth/refresh", "", e.bearer(r0)); s != 401 || body["errorCode"] != "E064001" {
		t.Fatalf("reused token: %d %v", s, body)
	}
	if s, body := e.do("POST", "/v1/auth/refresh", "", e.bearer(r2)); s != 401 || body["errorCode"] != "E064001" {
		t.Fatalf("the family's newest token after reuse: %d %v", s, body)
	}
}

func TestStepUpMFACustomClaimsAndRevokeOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	// A user with an email and a phone login id.
	first := e.login("email", "m@example.com", "m@example.com")
	if s, b := e.do("POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"m@example.com","phone":"+14155550160","addToLoginIDs":true}`, e.bearer(first["refreshJwt"])); s != 200 {
		t.Fatalf("update phone: %d %v", s, b)
	}
	s, b := e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"m@example.com","code":%q}`, e.code("+14155550160")))
	if s != 200 {
		t.Fatalf("verify update: %d %v", s, b)
	}
	session := b

	// Step-up: the new session carries su=true; the refresh token does not.
	up := e.loginWith("email", "m@example.com", "m@example.com", `{"stepup":true}`, e.bearer(session["refreshJwt"]))
	if c := verifyWithJWKS(t, e, up["sessionJwt"].(string)); c["su"] != true {
		t.Fatalf("step-up session claims: %v", c)
	}
	if c := verifyWithJWKS(t, e, up["refreshJwt"].(string)); c["su"] != nil {
		t.Fatalf("su on the refresh token: %v", c)
	}
	// MFA: the sms factor is added to the email session's factors (of a
	// session that signed in after the phone was added: docs/security.md).
	e.clock.Add(time.Second)
	fresh := e.login("email", "m@example.com", "m@example.com")
	mfa := e.loginWith("sms", "+14155550160", "+14155550160", `{"mfa":true}`, e.bearer(fresh["refreshJwt"]))
	if c := verifyWithJWKS(t, e, mfa["sessionJwt"].(string)); fmt.Sprint(c["amr"]) != "[email sms]" {
		t.Fatalf("mfa amr %v, want [email sms]", c["amr"])
	}
	// Custom claims land in nsec of both tokens and survive a refresh.
	cc := e.loginWith("email", "m@example.com", "m@example.com", `{"customClaims":{"plan":"pro","n":3}}`, "Bearer "+pid)
	for _, tok := range []string{cc["sessionJwt"].(string), cc["refreshJwt"].(string)} {
		if c := verifyWithJWKS(t, e, tok); fmt.Sprint(c["nsec"]) != "map[n:3 plan:pro]" {
			t.Fatalf("nsec %v", c["nsec"])
		}
	}
	_, rb := e.do("POST", "/v1/auth/refresh", "", e.bearer(cc["refreshJwt"]))
	if c := verifyWithJWKS(t, e, rb["sessionJwt"].(string)); fmt.Sprint(c["nsec"]) != "map[n:3 plan:pro]" {
		t.Fatalf("nsec after refresh %v", c["nsec"])
	}
	big := fmt.Sprintf(`{"loginId":"m@example.com","loginOptions":{"customClaims":{"k":%q}}}`, strings.Repeat("x", 2000))
	if s, b := e.post("/v1/auth/otp/signin/email", big); s != 400 || b["errorCode"] != "E011002" {
		t.Fatalf("oversized custom claims: %d %v", s, b)
	}
	// Step-up for a login id of another user is refused.
	e.login("email", "someone@example.com", "someone@example.com")
	if s, b := e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"someone@example.com","loginOptions":{"stepup":true}}`, e.bearer(cc["refreshJwt"])); s != 401 || b["errorCode"] != "E064002" {
		t.Fatalf("step-up for another user's login id: %d %v", s, b)
	}
	// revokeOtherSessions: every earlier token dies, the new one lives.
	last := e.loginWith("email", "m@example.com", "m@example.com", `{"revokeOtherSessions":true}`, "Bearer "+pid)
	for _, old := range []map[string]any{first, session, up, mfa, cc} {
		if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(old["refreshJwt"])); s != 401 {
			t.Fatal("an earlier session survived revokeOtherSessions")
		}
	}
	if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(last["refreshJwt"])); s != 200 {
		t.Fatal("the new session must survive revokeOtherSessions")
	}
}

func TestCookieMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(config.Project{ID: pid, CookieDomain: "example.com", CookiePath: "/app",
		SessionTokenResponseMethod: "cookies", RefreshTokenResponseMethod: "cookies"}))
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"c@example.com"}`)
	req, _ := http.NewRequest("POST", e.base+"/v1/auth/otp/verify/email",
		strings.NewReader(fmt.Sprintf(`{"loginId":"c@example.com","code":%q}`, e.code("c@example.com"))))
	req.Header.Set("Authorization", "Bearer "+pid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	for name, maxAge := range map[string]int{"DS": int(config.DefaultSessionTTL / time.Second), "DSR": int(config.DefaultRefreshTTL / time.Second)} {
		c := cookies[name]
		if c == nil || c.Value == "" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode ||
			c.Path != "/app" || c.Domain != "example.com" || c.MaxAge != maxAge {
			t.Fatalf("cookie %s: %+v (all: %v)", name, c, resp.Header.Values("Set-Cookie"))
		}
	}
	// The body omits the refresh JWT; gRPC callers still get it.
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"c@example.com"}`)
	s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"c@example.com","code":%q}`, e.code("c@example.com")))
	if _, has := b["refreshJwt"]; s != 200 || has || b["sessionJwt"] == "" {
		t.Fatalf("cookie mode body: %d %v", s, b)
	}
	// Refresh and me with the DSR cookie and only the project id in Authorization.
	withDSR := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, e.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+pid)
		req.AddCookie(&http.Cookie{Name: "DSR", Value: cookies["DSR"].Value})
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	if r := withDSR("POST", "/v1/auth/refresh"); r.StatusCode != 200 {
		t.Fatalf("refresh with the DSR cookie: %d", r.StatusCode)
	}
	if r := withDSR("GET", "/v1/auth/me"); r.StatusCode != 200 {
		t.Fatalf("me with the DSR cookie: %d", r.StatusCode)
	}
	// A browser sends the page's other cookies too, malformed ones
	// included (a flag cookie, a JSON value, a trailing ';'): the DSR
	// cookie is still read.
	req, _ = http.NewRequest("POST", e.base+"/v1/auth/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+pid)
	req.Header.Set("Cookie", `seen; consent={"ads":false}; DSR=`+cookies["DSR"].Value+";")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("refresh with the DSR cookie among malformed cookies: %d", r.StatusCode)
	}
	// Logout clears both cookies.
	r = withDSR("POST", "/v1/auth/logout")
	if got := strings.Join(r.Header.Values("Set-Cookie"), "\n"); r.StatusCode != 200 || strings.Count(got, "Max-Age=0") != 2 {
		t.Fatalf("logout cookies: %d %q", r.StatusCode, got)
	}
	// Over gRPC the refresh JWT stays in the message.
	wa := otpv1.NewOtpEmailClient(e.conn)
	if _, err := wa.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "g@example.com"}); err != nil {
		t.Fatal(err)
	}
	jwt, err := wa.Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "g@example.com", Code: e.code("g@example.com")})
	if err != nil || jwt.GetRefreshJwt() == "" {
		t.Fatalf("gRPC verify in cookie mode: %v %v", jwt, err)
	}
}

func TestSessionServiceOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	b := e.login("voice", "+14155550170", "+14155550170")
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", e.bearer(b["refreshJwt"]))
	sess := otpv1.NewSessionClient(e.conn)
	r, err := sess.Refresh(ctx, &otpv1.RefreshRequest{})
	if err != nil || r.GetSessionJwt() == "" {
		t.Fatalf("Refresh: %v %v", r, err)
	}
	me, err := sess.Me(ctx, &otpv1.MeRequest{})
	if err != nil || me.GetPhone() != "+14155550170" {
		t.Fatalf("Me: %v %v", me, err)
	}
	if _, err := sess.LogoutAll(ctx, &otpv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Me(ctx, &otpv1.MeRequest{}); err == nil {
		t.Fatal("Me after LogoutAll must fail")
	}
}
