package server_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// refusedUnchanged asserts that a call was refused with status/errorCode
// and that it stored, charged and sent nothing.
func (e *env) refusedUnchanged(wantStatus int, wantCode string, call func() (int, map[string]any)) map[string]any {
	e.t.Helper()
	return e.refused(e.dump, wantStatus, wantCode, call)
}

// refusedNoSend is refusedUnchanged for a start refused after Redis was
// asked (no address on record): only project-wide buckets may be charged.
func (e *env) refusedNoSend(wantStatus int, wantCode string, call func() (int, map[string]any)) map[string]any {
	e.t.Helper()
	return e.refused(e.state, wantStatus, wantCode, call)
}

func (e *env) refused(dump func() map[string][]string, wantStatus int, wantCode string, call func() (int, map[string]any)) map[string]any {
	e.t.Helper()
	before, sent := dump(), e.messages()
	s, b := call()
	if s != wantStatus || b["errorCode"] != wantCode {
		e.t.Fatalf("got %d %v, want %d %s", s, b, wantStatus, wantCode)
	}
	if after := dump(); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("a refused call changed Redis:\nbefore %v\nafter  %v", before, after)
	}
	if e.messages() != sent {
		e.t.Fatal("a refused call sent a message")
	}
	return b
}

// grpcReason returns a gRPC error's code and its ErrorInfo reason.
func grpcReason(t *testing.T, err error) (codes.Code, string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("want a gRPC status error, got %v", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason()
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return 0, ""
}

func (e *env) refreshCtx(refresh any) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", e.bearer(refresh))
}

// named signs up a user-name login id with an email address and verifies.
func (e *env) named(name, email string) map[string]any {
	e.t.Helper()
	e.post2xx("/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q,"email":%q}`, name, email))
	return e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, name, e.code(email)))
}

// Issue 9 §1: a stolen refresh JWT cannot send a step-up or MFA code to an
// address of the attacker's choosing, nor make verify bind one.
func TestSecondFactorGoesOnlyToTheVerifiedContact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	victim := e.login("email", "victim@example.com", "victim@example.com")
	auth := e.bearer(victim["refreshJwt"])

	// A body address on a step-up or MFA start is refused; nothing stored,
	// charged or sent.
	for _, c := range []struct{ path, body string }{
		{"/v1/auth/otp/signin/email", `{"loginId":"victim@example.com","email":"attacker@evil.test","loginOptions":{"stepup":true}}`},
		{"/v1/auth/otp/signin/email", `{"loginId":"victim@example.com","user":{"email":"attacker@evil.test"},"loginOptions":{"mfa":true}}`},
		{"/v1/auth/otp/signup-in/email", `{"loginId":"victim@example.com","email":"attacker@evil.test","loginOptions":{"stepup":true}}`},
		{"/v1/auth/otp/signin/sms", `{"loginId":"victim@example.com","phone":"+14155550199","loginOptions":{"mfa":true}}`},
		{"/v1/auth/otp/signin/whatsapp", `{"loginId":"victim@example.com","whatsapp":"+14155550199","loginOptions":{"stepup":true}}`},
	} {
		e.refusedUnchanged(400, "E011002", func() (int, map[string]any) { return e.do("POST", c.path, c.body, auth) })
	}
	// The same over gRPC: InvalidArgument with ErrorInfo.
	_, err := otpv1.NewOtpSmsClient(e.conn).SignIn(e.refreshCtx(victim["refreshJwt"]), &otpv1.StartRequest{
		LoginId: "victim@example.com", Phone: "+14155550199", LoginOptions: &otpv1.LoginOptions{Mfa: true}})
	if c, r := grpcReason(t, err); c != codes.InvalidArgument || r != "E011002" {
		t.Fatalf("gRPC MFA with a body phone: %v %s", c, r)
	}

	// No verified phone: MFA by SMS says how to add one.
	b := e.refusedUnchanged(400, "E011002", func() (int, map[string]any) {
		return e.do("POST", "/v1/auth/otp/signin/sms", `{"loginId":"victim@example.com","loginOptions":{"mfa":true}}`, auth)
	})
	if !strings.Contains(fmt.Sprint(b["errorMessage"]), "update phone") {
		t.Fatalf("the refusal does not say how to add a phone: %v", b)
	}

	// After a verified email change, a step-up reaches the NEW address, not
	// the login id's own (old) one.
	if s, r := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"victim@example.com","email":"new@example.com"}`, auth); s != 200 {
		t.Fatalf("update email: %d %v", s, r)
	}
	s, v := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"victim@example.com","code":%q}`, e.code("new@example.com")))
	if s != 200 {
		t.Fatalf("verify update: %d %v", s, v)
	}
	// (A session that signed in after the change: one that signed in
	// before may not step up to the new address at all, see
	// TestStolenRefreshJWTCannotTakeOver.)
	e.clock.Add(time.Second)
	v = e.login("email", "victim@example.com", "new@example.com")
	oldCodes := strings.Count(e.codes.String(), `"to":"victim@example.com"`)
	if s, r := e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"victim@example.com","loginOptions":{"stepup":true}}`, e.bearer(v["refreshJwt"])); s != 200 || r["maskedEmail"] != "n***@example.com" {
		t.Fatalf("step-up after the email change: %d %v", s, r)
	}
	userBefore := e.dump()[store.UserKey(e.project, v["user"].(map[string]any)["userId"].(string))]
	up := e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"victim@example.com","code":%q}`, e.code("new@example.com")))
	if c := verifyWithJWKS(t, e, up["sessionJwt"].(string)); c["su"] != true {
		t.Fatalf("step-up claims %v", c)
	}
	if strings.Count(e.codes.String(), `"to":"victim@example.com"`) != oldCodes {
		t.Fatal("a step-up code went to the old address")
	}
	// Verify of a second factor writes no contact and no login id.
	if after := e.dump()[store.UserKey(e.project, up["user"].(map[string]any)["userId"].(string))]; !reflect.DeepEqual(userBefore, after) {
		t.Fatalf("step-up verify changed the user: %v -> %v", userBefore, after)
	}
}

// post2xx posts and fails the test unless the answer is 200.
func (e *env) post2xx(path, body string) map[string]any {
	e.t.Helper()
	s, b := e.post(path, body)
	if s != 200 {
		e.t.Fatalf("%s: %d %v", path, s, b)
	}
	return b
}

// Issue 9 §2: an address-shaped login id is bound only through a code sent
// to that address.
func TestLoginIDsCannotBePreClaimed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	for _, c := range []struct{ path, body string }{
		// An email login id with another body address.
		{"/v1/auth/otp/signup/email", `{"loginId":"ceo@bigcorp.test","email":"attacker@evil.test"}`},
		{"/v1/auth/otp/signup-in/email", `{"loginId":"ceo@bigcorp.test","user":{"email":"attacker@evil.test"}}`},
		// A phone login id with another body number.
		{"/v1/auth/otp/signup/sms", `{"loginId":"+14155550123","phone":"+14155550999"}`},
		// A phone login id on the email channel, an email one on a phone channel.
		{"/v1/auth/otp/signup/email", `{"loginId":"+14155550123","email":"attacker@evil.test"}`},
		{"/v1/auth/otp/signup/whatsapp", `{"loginId":"ceo@bigcorp.test","phone":"+14155550999"}`},
	} {
		e.refusedUnchanged(400, "E011002", func() (int, map[string]any) { return e.post(c.path, c.body) })
	}
	_, err := otpv1.NewOtpEmailClient(e.conn).SignUp(e.authCtx(), &otpv1.StartRequest{LoginId: "ceo@bigcorp.test", Email: "attacker@evil.test"})
	if c, r := grpcReason(t, err); c != codes.InvalidArgument || r != "E011002" {
		t.Fatalf("gRPC pre-claim: %v %s", c, r)
	}
	// Sign-up-or-in of a phone login id on the email channel is a sign-in:
	// an unknown one is not created.
	if s, b := e.post("/v1/auth/otp/signup-in/email", `{"loginId":"+14155550123","email":"attacker@evil.test"}`); s != 400 || b["errorCode"] != "E062108" {
		t.Fatalf("signup-in of an unknown phone login id by email: %d %v", s, b)
	}
	// The same address in the body is fine; a user name takes any address.
	e.post2xx("/v1/auth/otp/signup/email", `{"loginId":"ceo@bigcorp.test","email":"CEO@bigcorp.test"}`)
	e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"ceo@bigcorp.test","code":%q}`, e.code("ceo@bigcorp.test")))
	e.post2xx("/v1/auth/otp/signup/email", `{"loginId":"ceo","email":"ceo-mail@bigcorp.test"}`)
	e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"ceo","code":%q}`, e.code("ceo-mail@bigcorp.test")))

	// The real owner of a phone signs up by SMS and gets their own account.
	owner := e.login("sms", "+14155550123", "+14155550123")
	if owner["firstSeen"] != true {
		t.Fatal("the phone's owner found an existing account")
	}
}

// An existing user's login id whose index lacks the channel's contact (a
// record pre-claimed before this fix) never falls back to the login id
// itself as the destination.
func TestExistingUserNeverGetsCodeAtAnUnprovenLoginID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ctx := context.Background()
	if err := e.redis.HSet(ctx, store.LoginKey(e.project, "+14155550123"), "uid", "U2ATTACKER", "email", "attacker@evil.test").Err(); err != nil {
		t.Fatal(err)
	}
	e.refusedNoSend(400, "E011002", func() (int, map[string]any) {
		return e.post("/v1/auth/otp/signin/sms", `{"loginId":"+14155550123"}`)
	})
}

// A code issued to a new user-name login id does not sign into a user who
// took that login id between the start and the verify.
func TestNewUserCodeDoesNotSignIntoAUserCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post2xx("/v1/auth/otp/signup-in/sms", `{"loginId":"sam","phone":"+14155550177"}`) // the attacker's phone
	attackerCode := e.code("+14155550177")
	e.post2xx("/v1/auth/otp/signup-in/email", `{"loginId":"sam","email":"sam@example.com"}`)
	e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"sam","code":%q}`, e.code("sam@example.com")))
	if s, b := e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"sam","code":%q}`, attackerCode)); s != 400 || b["errorCode"] != "E062107" {
		t.Fatalf("the stale new-user code: %d %v", s, b)
	}
	if s, r := e.post("/v1/auth/otp/signin/sms", `{"loginId":"sam"}`); s != 400 || r["errorCode"] != "E011002" {
		t.Fatalf("the attacker's phone became sam's: %d %v", s, r)
	}
}

// The README's rule "an address in the request never redirects an existing
// user's code", for every start kind.
func TestRequestAddressNeverRedirectsAnExistingUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.named("kim", "kim@example.com")
	for _, c := range []struct {
		name, path, body string
		status           int
	}{
		{"sign-up", "/v1/auth/otp/signup/email", `{"loginId":"kim","email":"attacker@evil.test"}`, 400},
		{"sign-in", "/v1/auth/otp/signin/email", `{"loginId":"kim","email":"attacker@evil.test"}`, 200},
		{"sign-up-or-in", "/v1/auth/otp/signup-in/email", `{"loginId":"kim","email":"attacker@evil.test","user":{"email":"attacker@evil.test"}}`, 200},
	} {
		s, b := e.post(c.path, c.body)
		if s != c.status || (s == 200 && b["maskedEmail"] != "k***@example.com") {
			t.Fatalf("%s: %d %v", c.name, s, b)
		}
	}
	e.drain()
	if strings.Contains(e.codes.String(), "evil.test") {
		t.Fatal("a code reached the request's address")
	}
}

// Issue 9 §4: unknown templateId / providerId are refused at start.
func TestUnknownTemplateOrProviderRefusedAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	first := e.login("email", "t@example.com", "t@example.com")
	for _, c := range []struct{ path, body, auth string }{
		{"/v1/auth/otp/signup-in/email", `{"loginId":"t@example.com","loginOptions":{"templateId":"nope"}}`, ""},
		{"/v1/auth/otp/signup-in/email", `{"loginId":"t@example.com","providerId":"nope"}`, ""},
		{"/v1/auth/otp/update/email", `{"loginId":"t@example.com","email":"u@example.com","templateId":"nope"}`, e.bearer(first["refreshJwt"])},
	} {
		auth := c.auth
		if auth == "" {
			auth = "Bearer " + e.project
		}
		e.refusedUnchanged(400, "E011002", func() (int, map[string]any) { return e.do("POST", c.path, c.body, auth) })
	}
	_, err := otpv1.NewOtpEmailClient(e.conn).SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "t@example.com", ProviderId: "nope"})
	if c, r := grpcReason(t, err); c != codes.InvalidArgument || r != "E011002" {
		t.Fatalf("gRPC unknown provider: %v %s", c, r)
	}
	// templateOptions are sealed into every job: bounded (20 entries, 64-byte
	// keys, 512-byte values, 4 KiB in all).
	big := fmt.Sprintf(`{"loginId":"t@example.com","loginOptions":{"templateOptions":{"k":%q}}}`, strings.Repeat("x", 600))
	e.refusedUnchanged(400, "E011002", func() (int, map[string]any) { return e.post("/v1/auth/otp/signup-in/email", big) })
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf(`"k%d":"v"`, i))
	}
	e.refusedUnchanged(400, "E011002", func() (int, map[string]any) {
		return e.post("/v1/auth/otp/signup-in/email", `{"loginId":"t@example.com","loginOptions":{"templateOptions":{`+strings.Join(many, ",")+`}}}`)
	})
	// The live code survived the refused starts.
	e.post2xx("/v1/auth/otp/signup-in/email", `{"loginId":"t@example.com","loginOptions":{"templateId":"default"}}`)
	e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"t@example.com","code":%q}`, e.code("t@example.com")))
}

// Issue 9 §4: user names go through PRECIS UsernameCaseMapped.
func TestUserNamesArePRECISNormalised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	for _, id := range []string{"bob\u200b", "\u202ebob", "b\u00adob", "bob\ufeff"} {
		e.refusedUnchanged(400, "E011002", func() (int, map[string]any) {
			return e.post("/v1/auth/otp/signup/email", fmt.Sprintf(`{"loginId":%q,"email":"bob@example.com"}`, id))
		})
	}
	e.named("bob", "bob@example.com")
	// Full-width and case variants are the same login id.
	if s, r := e.post("/v1/auth/otp/signup/email", `{"loginId":"ＢＯＢ","email":"other@example.com"}`); s != 400 || r["errorCode"] != "E062107" {
		t.Fatalf("full-width BOB is not bob: %d %v", s, r)
	}
}

// Issue 9 §4: user.email on an SMS sign-up is stored unverified and is
// never a destination.
func TestSMSSignUpStoresUserEmailUnverified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.post2xx("/v1/auth/otp/signup/sms", `{"loginId":"+14155550133","user":{"name":"S","email":"S@Example.com"}}`)
	v := e.post2xx("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550133","code":%q}`, e.code("+14155550133")))
	u := v["user"].(map[string]any)
	if u["email"] != "s@example.com" || u["verifiedEmail"] != false || u["verifiedPhone"] != true {
		t.Fatalf("user: %v", u)
	}
	e.refusedNoSend(400, "E011002", func() (int, map[string]any) {
		return e.post("/v1/auth/otp/signin/email", `{"loginId":"+14155550133"}`)
	})
	e.refusedUnchanged(400, "E011002", func() (int, map[string]any) {
		return e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"+14155550133","loginOptions":{"stepup":true}}`, e.bearer(v["refreshJwt"]))
	})
	// An update proves it; then it is verified and reachable.
	if s, r := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550133","email":"s@example.com"}`, e.bearer(v["refreshJwt"])); s != 200 {
		t.Fatalf("update: %d %v", s, r)
	}
	v = e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550133","code":%q}`, e.code("s@example.com")))
	if u := v["user"].(map[string]any); u["verifiedEmail"] != true {
		t.Fatalf("after update: %v", u)
	}
	if s, r := e.post("/v1/auth/otp/signup/sms", `{"loginId":"+14155550134","user":{"email":"not an email"}}`); s != 400 || r["errorCode"] != "E011002" {
		t.Fatalf("invalid user.email: %d %v", s, r)
	}
}

var _ = config.Unlimited

// Issue 9 §3: with enumeration protection on, a known and an unknown login
// id cannot be told apart through status, body, mask shape, attempt
// counting or limits.
func TestEnumerationProtectionHasNoSideChannels(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(l *config.Limits) { l.SendsPerLoginID = rate(4, time.Hour) })
	p.EnumerationProtection = true
	e := newEnv(t, false, withProject(p))
	e.login("email", "known@example.com", "known@example.com")
	e.named("kay", "kay@example.com") // a user name with an email and no phone
	e.post2xx("/v1/auth/otp/signup/sms", `{"loginId":"pat","phone":"+14155550130"}`)
	e.post2xx("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"pat","code":%q}`, e.code("+14155550130")))
	e.clock.Add(time.Hour) // the sign-ups above used part of the per-login-id budget

	// Each pair: a known login id and an unknown one, on one channel. The
	// transcript of sign-in, six wrong codes, and starts up to the limit
	// must be the same byte for byte, masks aside.
	transcript := func(ch, id string) []string {
		var out []string
		rec := func(st int, retry, b string) {
			out = append(out, fmt.Sprintf("%d %s %s", st, retry, strings.Replace(b, maskedOf(b), "MASK", 1)))
		}
		rec(e.raw("POST", "/v1/auth/otp/signin/"+ch, fmt.Sprintf(`{"loginId":%q}`, id), nil))
		for range 6 {
			rec(e.raw("POST", "/v1/auth/otp/verify/"+ch, fmt.Sprintf(`{"loginId":%q,"code":"000000"}`, id), nil))
		}
		for range 4 {
			rec(e.raw("POST", "/v1/auth/otp/signin/"+ch, fmt.Sprintf(`{"loginId":%q}`, id), nil))
		}
		return out
	}
	for _, c := range []struct{ name, ch, known, unknown string }{
		{"email login id", "email", "known@example.com", "nobody@example.com"},
		{"user name with a phone", "sms", "pat", "nobody"},
		{"user name without a phone", "sms", "kay", "nobody2"},
	} {
		k, u := transcript(c.ch, c.known), transcript(c.ch, c.unknown)
		if !reflect.DeepEqual(k, u) {
			t.Fatalf("%s: known and unknown differ:\nknown   %q\nunknown %q", c.name, k, u)
		}
		if !strings.Contains(k[6], "E061103") || !strings.HasPrefix(k[len(k)-1], "429") {
			t.Fatalf("%s: the code must die after 5 attempts and the starts hit the limit: %q", c.name, k)
		}
	}
	// Masks have the shape of a real one: a decoy phone mask is as long as
	// a real US number's.
	e.clock.Add(time.Hour)
	_, _, known := e.raw("POST", "/v1/auth/otp/signin/voice", `{"loginId":"pat"}`, nil)
	_, _, decoy := e.raw("POST", "/v1/auth/otp/signin/voice", `{"loginId":"nobody3"}`, nil)
	if len(maskedOf(known)) != len(maskedOf(decoy)) || len(maskedOf(decoy)) != len("+14155550130") {
		t.Fatalf("decoy mask %q vs real %q", maskedOf(decoy), maskedOf(known))
	}

	// update/email to another user's login id: answered like any update
	// start (and charged), refused only at verify once the address is proven.
	mover := e.login("sms", "+14155550140", "+14155550140")
	auth := e.bearer(mover["refreshJwt"])
	if s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550140","email":"known@example.com"}`, auth); s != 200 || b["maskedEmail"] != "k***@example.com" {
		t.Fatalf("update start to a taken address: %d %v", s, b)
	}
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550140","code":%q}`, e.code("known@example.com"))); s != 409 || b["errorCode"] != "E062125" {
		t.Fatalf("verify of the update: %d %v", s, b)
	}
	for i := 0; ; i++ {
		s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550140","email":"known@example.com"}`, auth)
		if s == 429 && b["errorCode"] == "E130429" {
			break
		}
		if s != 200 || i > 5 {
			t.Fatalf("update starts are not held to the limits: %d %v after %d", s, b, i)
		}
	}
}
