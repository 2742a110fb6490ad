package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

// Issue 12 §1: on the DEFAULT configuration, the flows real apps make pass
// without waiting, while a flood of one recipient still gets 429.
func TestDefaultLimitsAllowRealFlows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false) // default limits
	verify := func(ch, id, to string) map[string]any {
		t.Helper()
		return e.post2xx("/v1/auth/otp/verify/"+ch, fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, e.code(to)))
	}

	// A second sign-up before verify replaces the first code; a resend
	// after a slow email too.
	e.post2xx("/v1/auth/otp/signup/email", `{"loginId":"ada@example.com"}`)
	first := e.code("ada@example.com")
	e.post2xx("/v1/auth/otp/signup/email", `{"loginId":"ada@example.com"}`)
	e.drain() // deliver in order: the newest code must be the last one logged
	e.clock.Add(5 * time.Second)
	e.post2xx("/v1/auth/otp/signup/email", `{"loginId":"ada@example.com"}`)
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"ada@example.com","code":%q}`, first)); s != 401 && first != e.code("ada@example.com") {
		t.Fatalf("the replaced code still works: %d %v", s, b)
	}
	signup := verify("email", "ada@example.com", "ada@example.com")

	// Sign-in right after the sign-up (another device).
	e.post2xx("/v1/auth/otp/signin/email", `{"loginId":"ada@example.com"}`)
	signin := verify("email", "ada@example.com", "ada@example.com")

	// Step-up right after sign-in.
	if s, b := e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"ada@example.com","loginOptions":{"stepup":true}}`, e.bearer(signin["refreshJwt"])); s != 200 {
		t.Fatalf("step-up: %d %v", s, b)
	}
	verify("email", "ada@example.com", "ada@example.com")

	// Update of phone right after sign-in, then MFA by SMS from a session
	// that signed in after the phone was added (a session that signed in
	// before may not send its second factor to it: docs/security.md).
	if s, b := e.do("POST", "/v1/auth/otp/update/phone/sms", `{"loginId":"ada@example.com","phone":"+14155550160"}`, e.bearer(signin["refreshJwt"])); s != 200 {
		t.Fatalf("update phone: %d %v", s, b)
	}
	verify("sms", "ada@example.com", "+14155550160")
	e.clock.Add(time.Second)
	e.post2xx("/v1/auth/otp/signin/email", `{"loginId":"ada@example.com"}`)
	signup = verify("email", "ada@example.com", "ada@example.com")
	if s, b := e.do("POST", "/v1/auth/otp/signin/sms", `{"loginId":"ada@example.com","loginOptions":{"mfa":true}}`, e.bearer(signup["refreshJwt"])); s != 200 {
		t.Fatalf("mfa: %d %v", s, b)
	}
	verify("sms", "ada@example.com", "+14155550160")

	// Update of email right after sign-in: charged to the new address.
	if s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"ada@example.com","email":"ada2@example.com"}`, e.bearer(signin["refreshJwt"])); s != 200 {
		t.Fatalf("update email: %d %v", s, b)
	}
	verify("email", "ada@example.com", "ada2@example.com")
	// ...and a sign-in by SMS on top: the user has had 10 codes in seconds.
	e.post2xx("/v1/auth/otp/signin/sms", `{"loginId":"ada@example.com"}`)
	verify("sms", "ada@example.com", "+14155550160")

	// Starts that send nothing answer their own error, not a send limit.
	for range 12 {
		if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"ada@example.com"}`); s != 400 || b["errorCode"] != "E062107" {
			t.Fatalf("sign-up of an existing user: %d %v", s, b)
		}
		if s, b := e.post("/v1/auth/otp/signin/email", `{"loginId":"ghost@example.com"}`); s != 400 || b["errorCode"] != "E062108" {
			t.Fatalf("sign-in of an unknown user: %d %v", s, b)
		}
	}

	// A flood of one recipient still gets 429 with Retry-After.
	for i := 0; ; i++ {
		st, retry, b := e.raw("POST", "/v1/auth/otp/signin/email", `{"loginId":"victim@example.com"}`, nil)
		if i == 0 {
			e.login("email", "victim@example.com", "victim@example.com")
			continue
		}
		if st == 429 {
			if retry == "" {
				t.Fatalf("429 without Retry-After: %s", b)
			}
			break
		}
		if st != 200 || i > 12 {
			t.Fatalf("start %d of a flood: %d %s", i, st, b)
		}
	}
}

// The resend cooldown, when turned on, never holds back the flow after a
// verified code, and an update is charged to the address it sends to.
func TestResendCooldownOptionLetsTheNextFlowThrough(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(l *config.Limits) { d := config.Duration(30 * time.Second); l.ResendCooldown = &d })
	e := newEnv(t, false, withProject(p))
	e.post2xx("/v1/auth/otp/signup-in/email", `{"loginId":"cd@example.com"}`)
	if st, retry, b := e.raw("POST", "/v1/auth/otp/signup-in/email", `{"loginId":"cd@example.com"}`, nil); st != 429 || retry != "30" {
		t.Fatalf("a resend inside the cooldown: %d %q %s", st, retry, b)
	}
	v := e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"cd@example.com","code":%q}`, e.code("cd@example.com")))
	// Verified: the next flow (sign-in, step-up) is not held back.
	e.post2xx("/v1/auth/otp/signin/email", `{"loginId":"cd@example.com"}`)
	// The update's code goes to the new address: its cooldown is that address's.
	if s, b := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"cd@example.com","email":"cd2@example.com"}`, e.bearer(v["refreshJwt"])); s != 200 {
		t.Fatalf("update inside the login id's cooldown: %d %v", s, b)
	}
	if st, _, b := e.raw("POST", "/v1/auth/otp/update/email", `{"loginId":"cd@example.com","email":"cd2@example.com"}`, map[string]string{"Authorization": e.bearer(v["refreshJwt"])}); st != 429 {
		t.Fatalf("a second update to the same address inside its cooldown: %d %s", st, b)
	}
}
