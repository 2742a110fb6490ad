package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// lastLocale is the locale of the last message sent to to.
func (e *env) lastLocale(to string) string {
	e.t.Helper()
	e.drain()
	loc := ""
	for _, line := range strings.Split(e.codes.String(), "\n") {
		var m struct{ To, Locale string }
		if json.Unmarshal([]byte(line), &m) == nil && m.To == to {
			loc = m.Locale
		}
	}
	return loc
}

// TestLocaleMustBeWellFormed: a locale that is not a well-formed BCP 47
// tag is refused with 400 naming the field, on a start and on an update,
// storing and sending nothing; a well-formed tag is accepted and
// negotiated along the chain (the tag, its language, the project
// default, English), an unknown language ending in English.
func TestLocaleMustBeWellFormed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	for _, l := range []string{"english", "en--US", "e", "fr-", "-fr", "fr FR", "fr/../en", strings.Repeat("a", 65)} {
		body := fmt.Sprintf(`{"loginId":"l@example.com","loginOptions":{"locale":%q}}`, l)
		b := e.refusedUnchanged(400, "E011003", func() (int, map[string]any) { return e.post("/v1/auth/otp/signup-in/email", body) })
		if msg, _ := b["errorMessage"].(string); !strings.Contains(msg, "loginOptions.locale") {
			t.Errorf("%q: %v, want the message to name loginOptions.locale", l, b)
		}
	}
	for l, want := range map[string]string{"": "en", "fr": "fr", "fr-CA": "fr", "pt_BR": "pt-br", "zh-Hant-TW": "zh-hant", "xx": "en", "ar-EG": "ar"} {
		to := fmt.Sprintf("loc-%s@example.com", strings.ToLower(l))
		if s, b := e.post("/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q,"loginOptions":{"locale":%q}}`, to, l)); s != 200 {
			t.Fatalf("locale %q: %d %v", l, s, b)
		}
		if got := e.lastLocale(to); got != want {
			t.Errorf("locale %q: message in %q, want %q", l, got, want)
		}
	}
	// gRPC: the same refusal, with its ErrorInfo.
	_, err := otpv1.NewOtpSmsClient(e.conn).SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "+14155550111", LoginOptions: &otpv1.LoginOptions{Locale: "en--US"}})
	if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "E011003" || !strings.Contains(status.Convert(err).Message(), "loginOptions.locale") {
		t.Fatalf("gRPC bad locale: %v", err)
	}
	signin := e.login("email", "up@example.com", "up@example.com")
	e.refusedUnchanged(400, "E011003", func() (int, map[string]any) {
		return e.do("POST", "/v1/auth/otp/update/email", `{"loginId":"up@example.com","email":"up2@example.com","locale":"not a tag"}`, e.bearer(signin["refreshJwt"]))
	})
}
