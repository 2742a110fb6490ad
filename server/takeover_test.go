package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// sentTo returns the log provider's lines (decoded) addressed to to.
func (e *env) sentTo(to string) []map[string]any {
	e.t.Helper()
	e.drain()
	var out []map[string]any
	for _, line := range strings.Split(e.codes.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["to"] == to {
			out = append(out, m)
		}
	}
	return out
}

// updateAttempts are the first step on every channel, with and
// without addToLoginIDs.
var updateAttempts = []struct{ path, body string }{
	{"/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"attacker@evil.test"}`},
	{"/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"attacker@evil.test","addToLoginIDs":true}`},
	{"/v1/auth/otp/update/phone/sms", `{"loginId":"victim@example.com","phone":"+14155550199"}`},
	{"/v1/auth/otp/update/phone/sms", `{"loginId":"victim@example.com","phone":"+14155550199","addToLoginIDs":true}`},
	{"/v1/auth/otp/update/phone/voice", `{"loginId":"victim@example.com","phone":"+14155550199"}`},
	{"/v1/auth/otp/update/phone/whatsapp", `{"loginId":"victim@example.com","phone":"+14155550199","addToLoginIDs":true}`},
}

// Issue 19 §1: a refresh JWT whose sign-in is older than the project's
// recentSignInMaxAge (10 min by default) cannot change a verified contact
// or a login id: the sequence fails at its first step (403
// E064403, nothing stored, charged or sent), on REST and gRPC, on every
// channel, and no refresh makes the session look recent again. A step-up
// (whose code goes to the victim's own, older address) makes it recent.
func TestStolenRefreshJWTOfAnOldSessionCannotChangeContacts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false) // default configuration
	victim := e.login("email", "victim@example.com", "victim@example.com")
	stolen := victim["refreshJwt"].(string)
	auth := e.bearer(stolen)

	e.clock.Add(10*time.Minute + time.Second)
	// Refreshing does not renew the sign-in time.
	if s, b := e.do("POST", "/v1/auth/refresh", "", auth); s != 200 {
		t.Fatalf("refresh: %d %v", s, b)
	}
	for _, c := range updateAttempts {
		b := e.refusedUnchanged(403, "E064403", func() (int, map[string]any) { return e.do("POST", c.path, c.body, auth) })
		if !strings.Contains(fmt.Sprint(b["errorMessage"]), "step up") {
			t.Fatalf("%s: the refusal does not tell the client to step up: %v", c.path, b)
		}
	}
	if n := len(e.sentTo("attacker@evil.test")) + len(e.sentTo("+14155550199")); n != 0 {
		t.Fatalf("%d messages reached the attacker", n)
	}
	// gRPC: PermissionDenied with ErrorInfo E064403.
	_, err := otpv1.NewOtpEmailClient(e.conn).UpdateEmail(e.refreshCtx(stolen), &otpv1.UpdateEmailRequest{
		LoginId: "victim@example.com", Email: "attacker@evil.test", AddToLoginIds: true})
	if c, r := grpcReason(t, err); c != codes.PermissionDenied || r != "E064403" {
		t.Fatalf("gRPC update email: %v %s", c, r)
	}
	_, err = otpv1.NewOtpWhatsappClient(e.conn).UpdatePhone(e.refreshCtx(stolen), &otpv1.UpdatePhoneRequest{
		LoginId: "victim@example.com", Phone: "+14155550199"})
	if c, r := grpcReason(t, err); c != codes.PermissionDenied || r != "E064403" {
		t.Fatalf("gRPC update phone: %v %s", c, r)
	}

	// The client steps up: the code goes to the victim's own address, and
	// the step-up's refresh JWT may change the email.
	if s, b := e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"victim@example.com","loginOptions":{"stepup":true}}`, auth); s != 200 || b["maskedEmail"] != "v***@example.com" {
		t.Fatalf("step-up: %d %v", s, b)
	}
	up := e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"victim@example.com","code":%q}`, e.code("victim@example.com")))
	e.clock.Add(5 * time.Minute) // "later", within the max age
	if s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"new@example.com"}`, e.bearer(up["refreshJwt"])); s != 200 {
		t.Fatalf("update after a step-up: %d %v", s, b)
	}
}

// With rotation, a rotated refresh JWT keeps its session's sign-in time:
// rotating an old session's token does not make it recent.
func TestRotationDoesNotRenewTheSignInTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(config.Project{ID: pid, RefreshRotation: true}))
	v := e.login("email", "victim@example.com", "victim@example.com")
	tok := v["refreshJwt"].(string)
	for range 3 {
		e.clock.Add(4 * time.Minute)
		s, b := e.do("POST", "/v1/auth/refresh", "", e.bearer(tok))
		if s != 200 || b["refreshJwt"] == tok {
			t.Fatalf("refresh: %d %v", s, b)
		}
		tok = b["refreshJwt"].(string)
	}
	if c := verifyWithJWKS(t, e, tok); c["auth_time"] != float64(startAt.Unix()) {
		t.Fatalf("rotated token auth_time %v, want the sign-in's %d", c["auth_time"], startAt.Unix())
	}
	e.refusedUnchanged(403, "E064403", func() (int, map[string]any) {
		return e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"attacker@evil.test"}`, e.bearer(tok))
	})
}

// Issue 19 §1, a fresh session (the theft within the max age): the
// attacker may change the email, but (1) the old address is told, in a
// notice with the new address masked, through the delivery queue; (2) no
// step-up or MFA code of that session, nor of the session the update
// verify returned, reaches the address the change added: 403 E064409,
// nothing stored, charged or sent.
func TestStolenRefreshJWTOfAFreshSessionCannotStepUpToTheNewAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	victim := e.login("email", "victim@example.com", "victim@example.com")
	stolen := victim["refreshJwt"].(string)
	e.clock.Add(2 * time.Minute)

	if s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"attacker@evil.test","addToLoginIDs":true}`, e.bearer(stolen)); s != 200 || b["maskedEmail"] != "a***@evil.test" {
		t.Fatalf("update email: %d %v", s, b)
	}
	changed := e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"victim@example.com","code":%q}`, e.code("attacker@evil.test")))

	// The old address got the notice (and nothing else since its sign-in code).
	old := e.sentTo("victim@example.com")
	if len(old) != 2 {
		t.Fatalf("%d messages to the old address, want the sign-in code and the notice: %v", len(old), old)
	}
	notice := old[1]
	text := fmt.Sprint(notice["text"])
	if notice["code"] != "" || !strings.Contains(text, "a***@evil.test") || strings.Contains(text, "attacker@evil.test") ||
		!strings.Contains(text, e.clock.Now().UTC().Format("2006-01-02 15:04 UTC")) || !strings.Contains(text, "support") ||
		!strings.Contains(fmt.Sprint(notice["subject"]), "email address was changed") {
		t.Fatalf("notice: %v", notice)
	}

	// Step-up and MFA by email, with either refresh JWT, REST and gRPC.
	before := len(e.sentTo("attacker@evil.test"))
	for _, tok := range []string{stolen, changed["refreshJwt"].(string)} {
		for _, opt := range []string{`{"stepup":true}`, `{"mfa":true}`} {
			body := `{"loginId":"victim@example.com","loginOptions":` + opt + `}`
			e.refusedUnchanged(403, "E064409", func() (int, map[string]any) {
				return e.do("POST", "/v1/auth/otp/signin/email", body, e.bearer(tok))
			})
			body = `{"loginId":"attacker@evil.test","loginOptions":` + opt + `}`
			e.refusedUnchanged(403, "E064409", func() (int, map[string]any) {
				return e.do("POST", "/v1/auth/otp/signin/email", body, e.bearer(tok))
			})
		}
		_, err := otpv1.NewOtpEmailClient(e.conn).SignIn(e.refreshCtx(tok), &otpv1.StartRequest{
			LoginId: "victim@example.com", LoginOptions: &otpv1.LoginOptions{Stepup: true}})
		if c, r := grpcReason(t, err); c != codes.PermissionDenied || r != "E064409" {
			t.Fatalf("gRPC step-up: %v %s", c, r)
		}
	}
	if n := len(e.sentTo("attacker@evil.test")); n != before {
		t.Fatalf("a second factor reached the attacker's address (%d messages, had %d)", n, before)
	}

	// (Why: the update's refresh JWT keeps the session's sign-in time.)
	if c := verifyWithJWKS(t, e, changed["refreshJwt"].(string)); c["auth_time"] != float64(startAt.Unix()) {
		t.Fatalf("the update's refresh JWT auth_time %v, want the session's sign-in %d", c["auth_time"], startAt.Unix())
	}

	// The same for a phone: the victim's own phone, then an attacker's
	// phone added by the same stolen session.
	if s, b := e.do("POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"victim@example.com","phone":"+14155550199"}`, e.bearer(stolen)); s != 200 {
		t.Fatalf("update phone: %d %v", s, b)
	}
	e.post2xx("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"victim@example.com","code":%q}`, e.code("+14155550199")))
	e.refusedUnchanged(403, "E064409", func() (int, map[string]any) {
		return e.do("POST", "/v1/auth/otp/signin/sms", `{"loginId":"victim@example.com","loginOptions":{"mfa":true}}`, e.bearer(stolen))
	})
}

// A phone change sends the notice to the old phone, on the update's
// channel, in the project's default locale (not the requester's "fr");
// a first phone (none verified before) sends none.
func TestPhoneChangeNotifiesTheOldPhone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	v := e.login("sms", "+14155550160", "+14155550160")
	if len(e.sentTo("+14155550160")) != 1 {
		t.Fatal("want one sign-in code")
	}
	if s, b := e.do("POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"+14155550160","phone":"+14155550161","locale":"fr"}`, e.bearer(v["refreshJwt"])); s != 200 {
		t.Fatalf("update phone: %d %v", s, b)
	}
	e.post2xx("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550160","code":%q}`, e.code("+14155550161")))
	old := e.sentTo("+14155550160")
	if len(old) != 2 || old[1]["code"] != "" || !strings.Contains(fmt.Sprint(old[1]["text"]), "*61") || old[1]["locale"] != "en" {
		t.Fatalf("messages to the old phone: %v", old)
	}
	if n := e.sentTo("+14155550161"); len(n) != 1 || n[0]["locale"] != "fr" {
		t.Fatalf("the new phone: want only its code, in the requester's locale: %v", n)
	}
}

// Issue 19 §4: a step-up or MFA start with another user's refresh JWT is
// refused as not the signed-in user (401), whatever the caller's own
// profile (before: 400 "no verified phone" for a caller without one).
func TestSecondFactorForAnotherUsersLoginIDIs401First(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.login("sms", "+14155550170", "+14155550170")                              // the target, with a phone
	emailOnly := e.login("email", "mallory@example.com", "mallory@example.com") // no phone
	for _, c := range []struct{ path, body string }{
		{"/v1/auth/otp/signin/sms", `{"loginId":"+14155550170","loginOptions":{"stepup":true}}`},
		{"/v1/auth/otp/signin/whatsapp", `{"loginId":"+14155550170","loginOptions":{"mfa":true}}`},
		{"/v1/auth/otp/signin/email", `{"loginId":"+14155550170","loginOptions":{"stepup":true}}`},
		{"/v1/auth/otp/update/phone/sms", `{"loginId":"+14155550170","phone":"+14155550171"}`},
	} {
		e.refusedUnchanged(401, "E064002", func() (int, map[string]any) { return e.do("POST", c.path, c.body, e.bearer(emailOnly["refreshJwt"])) })
	}
	_, err := otpv1.NewOtpSmsClient(e.conn).SignIn(e.refreshCtx(emailOnly["refreshJwt"]), &otpv1.StartRequest{
		LoginId: "+14155550170", LoginOptions: &otpv1.LoginOptions{Stepup: true}})
	if c, r := grpcReason(t, err); c != codes.Unauthenticated || r != "E064002" {
		t.Fatalf("gRPC step-up for another user: %v %s", c, r)
	}
}

// An update with mfa:true ("keep the factors and add the new one") would
// make the session multi-factor through a code to the contact the same
// session is adding: a thief with a fresh stolen refresh JWT adds their own
// phone and holds amr [email sms]. A second factor goes only to a contact
// the user had when the session signed in, so the update refuses mfa
// (403 E064409, nothing stored or sent); a later sign-in may use MFA with
// the new phone (TestDefaultsKeepEveryFlowWorking).
func TestUpdateWithMFANeverMakesTheNewContactASecondFactor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	victim := e.login("email", "victim@example.com", "victim@example.com")
	stolen := e.bearer(victim["refreshJwt"].(string))
	for _, c := range []struct{ path, body string }{
		{"/v1/auth/otp/update/phone/sms", `{"loginId":"victim@example.com","phone":"+14155550199","mfa":true}`},
		{"/v1/auth/otp/update/phone/whatsapp", `{"loginId":"victim@example.com","phone":"+14155550199","mfa":true}`},
		{"/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"attacker@evil.test","mfa":true}`},
	} {
		b := e.refusedUnchanged(403, "E064409", func() (int, map[string]any) { return e.do("POST", c.path, c.body, stolen) })
		if !strings.Contains(fmt.Sprint(b["errorMessage"]), "mfa") {
			t.Errorf("%s: the refusal does not name mfa: %v", c.path, b)
		}
	}
	if n := len(e.sentTo("+14155550199")) + len(e.sentTo("attacker@evil.test")); n != 0 {
		t.Fatalf("%d codes reached the attacker", n)
	}
	// Without mfa the update itself still works right after sign-in.
	if s, b := e.do("POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"victim@example.com","phone":"+14155550199"}`, stolen); s != 200 {
		t.Fatalf("update phone: %d %v", s, b)
	}
}
