package server_test

import (
	"fmt"
	"testing"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/token"
)

func TestUpdateEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	b := e.login("sms", "+14155550180", "+14155550180")
	uid := b["user"].(map[string]any)["userId"]
	// Without addToLoginIDs: the email is set and verified, not a login id.
	if s, r := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550180","email":"First@Example.com"}`, e.bearer(b["refreshJwt"])); s != 200 || r["maskedEmail"] != "f***@example.com" {
		t.Fatalf("update email: %d %v", s, r)
	}
	_, v := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550180","code":%q}`, e.code("first@example.com")))
	u := v["user"].(map[string]any)
	if u["userId"] != uid || u["email"] != "first@example.com" || u["verifiedEmail"] != true || fmt.Sprint(u["loginIds"]) != "[+14155550180]" {
		t.Fatalf("after update: %v", u)
	}
	// The phone login id now signs in by email too: the code goes to the new address.
	if s, r := e.post("/v1/auth/otp/signin/email", `{"loginId":"+14155550180"}`); s != 200 || r["maskedEmail"] != "f***@example.com" {
		t.Fatalf("sign-in by email for the phone login id: %d %v", s, r)
	}
	// With addToLoginIDs the new address becomes a login id of the same user.
	e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550180","email":"second@example.com","addToLoginIDs":true}`, e.bearer(v["refreshJwt"]))
	_, v = e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550180","code":%q}`, e.code("second@example.com")))
	if u := v["user"].(map[string]any); fmt.Sprint(u["loginIds"]) != "[+14155550180 second@example.com]" || u["email"] != "second@example.com" {
		t.Fatalf("after addToLoginIDs: %v", u)
	}
	again := e.login("email", "second@example.com", "second@example.com")
	if again["user"].(map[string]any)["userId"] != uid || again["firstSeen"] != false {
		t.Fatalf("signing in with the added login id found another user: %v", again["user"])
	}
	// Updating a login id that is not the caller's is refused.
	e.login("email", "stranger@example.com", "stranger@example.com")
	if s, r := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"stranger@example.com","email":"x@example.com"}`, e.bearer(v["refreshJwt"])); s != 401 || r["errorCode"] != "E064002" {
		t.Fatalf("update of another user's login id: %d %v", s, r)
	}
}

func TestUpdatePhoneOnEveryMethod(t *testing.T) {
	t.Parallel()
	for i, method := range []string{"sms", "voice", "whatsapp"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false)
			b := e.login("email", "p@example.com", "p@example.com")
			phone := fmt.Sprintf("+1415555019%d", i)
			s, r := e.do("POST", "/v1/auth/otp/update/phone/"+method,
				fmt.Sprintf(`{"loginId":"p@example.com","phone":%q,"addToLoginIDs":true,"onMergeUseExisting":false}`, phone), e.bearer(b["refreshJwt"]))
			if s != 200 || r["maskedPhone"] == nil {
				t.Fatalf("update phone: %d %v", s, r)
			}
			s, v := e.post("/v1/auth/otp/verify/"+method, fmt.Sprintf(`{"loginId":"p@example.com","code":%q}`, e.code(phone)))
			u, _ := v["user"].(map[string]any)
			if s != 200 || u["phone"] != phone || u["verifiedPhone"] != true || fmt.Sprint(u["loginIds"]) != "[p@example.com "+phone+"]" {
				t.Fatalf("after update: %d %v", s, v)
			}
			if c := verifyWithJWKS(t, e, v["sessionJwt"].(string)); fmt.Sprint(c["amr"]) != "["+method+"]" {
				t.Fatalf("amr %v", c["amr"])
			}
		})
	}
}

func TestUpdateConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	owner := e.login("email", "owner@example.com", "owner@example.com")
	mover := e.login("sms", "+14155550200", "+14155550200")
	ownerID := owner["user"].(map[string]any)["userId"]
	before, sent := e.dump(), e.messages()

	// Without onMergeUseExisting: a clear conflict, nothing sent, nothing changed.
	s, r := e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550200","email":"owner@example.com"}`, e.bearer(mover["refreshJwt"]))
	if s != 409 || r["errorCode"] != "E062125" {
		t.Fatalf("conflict: %d %v", s, r)
	}
	if fmt.Sprint(e.dump()) != fmt.Sprint(before) || e.messages() != sent {
		t.Fatal("a refused update changed Redis or sent a code")
	}

	// With onMergeUseExisting: the mover merges into the owner.
	s, r = e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550200","email":"owner@example.com","onMergeUseExisting":true}`, e.bearer(mover["refreshJwt"]))
	if s != 200 {
		t.Fatalf("merge start: %d %v", s, r)
	}
	s, v := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550200","code":%q}`, e.code("owner@example.com")))
	u, _ := v["user"].(map[string]any)
	if s != 200 || u["userId"] != ownerID || fmt.Sprint(u["loginIds"]) != "[owner@example.com +14155550200]" {
		t.Fatalf("after merge: %d %v", s, v)
	}
	// The phone now signs in as the owner; the merged user's sessions are gone.
	if b := e.login("sms", "+14155550200", "+14155550200"); b["user"].(map[string]any)["userId"] != ownerID {
		t.Fatalf("the merged login id signs in as %v", b["user"])
	}
	if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(mover["refreshJwt"])); s != 401 {
		t.Fatal("the merged-away user's session survived")
	}
	if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(owner["refreshJwt"])); s != 200 {
		t.Fatal("the owner's own session must survive the merge")
	}
}

// TestKeyRotation: a second otpd on the same Redis signs with a new key and
// still publishes (and accepts) the old one, so tokens from both validate.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	pem := func(alg token.Algorithm) []byte {
		k, err := token.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oldKey, newKey := pem(token.ES256), pem(token.ES256)

	codes := &syncBuffer{} // both servers' workers deliver from the shared queue
	before := newEnv(t, false, withFile("old.pem", oldKey), withCodeLog(codes),
		withProject(config.Project{ID: pid, SigningKeyFiles: []string{"old.pem"}}))
	oldTokens := before.login("email", "k@example.com", "k@example.com")

	after := newEnv(t, false, withRedis(before.redis), withFile("old.pem", oldKey), withFile("new.pem", newKey), withCodeLog(codes),
		withProject(config.Project{ID: pid, SigningKeyFiles: []string{"new.pem", "old.pem"}}))
	_, keys := after.do("GET", "/v2/keys/"+pid, "", "")
	if n := len(keys["keys"].([]any)); n != 2 {
		t.Fatalf("the JWKS after rotation lists %d keys, want 2", n)
	}
	newTokens := after.login("email", "k@example.com", "k@example.com")
	kid := func(tok any) string {
		verifyWithJWKS(t, after, tok.(string)) // tokens of both keys validate against the new JWKS
		return headerKid(t, tok.(string))
	}
	if kid(oldTokens["sessionJwt"]) == kid(newTokens["sessionJwt"]) {
		t.Fatal("the rotated server still signs with the old key")
	}
	// The old refresh token keeps working until it expires.
	if s, b := after.do("POST", "/v1/auth/refresh", "", after.bearer(oldTokens["refreshJwt"])); s != 200 || headerKid(t, b["sessionJwt"].(string)) != kid(newTokens["sessionJwt"]) {
		t.Fatalf("refresh with a token of the old key: %d %v", s, b)
	}
}
