package provider

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Twilio's published request-validation example (auth token 12345).
func TestTwilioSignatureMatchesTwilioVector(t *testing.T) {
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"}}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got := TwilioSignature("12345", u, form); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Fatalf("signature = %s, want Twilio's RSOYDt4T1cUTdK1PDd93/VVr8B8=", got)
	}
	if got := TwilioSignature("12345", u+"&x=1", form); got == "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Fatal("the URL is not signed")
	}
}

func callbackTwilio(t *testing.T) *Twilio {
	t.Helper()
	tw, err := NewTwilio(TwilioConfig{AccountSID: "AC00000000000000000000000000000001", AuthToken: "tok", From: "+15005550006"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func TestTwilioCallbackRefusesUnsignedAndMisSigned(t *testing.T) {
	tw := callbackTwilio(t)
	const u = "https://otp.example.com/v1/delivery/status?t=abc"
	form := url.Values{"AccountSid": {"AC00000000000000000000000000000001"}, "MessageSid": {"SM0123456789abcdef0123456789abcdef"},
		"MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}, "To": {"+33612345678"}}
	body := []byte(form.Encode())
	good := TwilioSignature("tok", u, form)
	cases := map[string]struct {
		sig, url string
		body     []byte
	}{
		"unsigned":          {"", u, body},
		"other token":       {TwilioSignature("other", u, form), u, body},
		"other url":         {good, u + "x", body},
		"tampered body":     {good, u, []byte(strings.Replace(string(body), "undelivered", "delivered", 1))},
		"truncated sig":     {good[:len(good)-2], u, body},
		"signature as body": {good, u, []byte("")},
	}
	for name, c := range cases {
		h := http.Header{}
		if c.sig != "" {
			h.Set(HeaderTwilioSignature, c.sig)
		}
		if _, err := tw.VerifyCallback(c.url, h, c.body, time.Now()); err != ErrCallbackSignature {
			t.Errorf("%s: err = %v, want ErrCallbackSignature", name, err)
		}
	}
	h := http.Header{}
	h.Set(HeaderTwilioSignature, good)
	rep, err := tw.VerifyCallback(u, h, body, time.Now())
	if err != nil || rep.Status != "undelivered" || rep.ErrorCode != "30003" || rep.MessageID != "SM0123456789abcdef0123456789abcdef" {
		t.Fatalf("valid callback: %+v, %v", rep, err)
	}
	// Signed by the same token but for another account: refused.
	form.Set("AccountSid", "AC00000000000000000000000000000002")
	h.Set(HeaderTwilioSignature, TwilioSignature("tok", u, form))
	if _, err := tw.VerifyCallback(u, h, []byte(form.Encode()), time.Now()); err != ErrCallbackSignature {
		t.Fatalf("other account: %v", err)
	}
}

func TestTwilioStatusMapping(t *testing.T) {
	for in, want := range map[string]string{"queued": "queued", "sending": "sent", "sent": "sent", "delivered": "delivered",
		"read": "delivered", "undelivered": "undelivered", "failed": "failed"} {
		if got, ok := TwilioStatus(in, false); !ok || got != want {
			t.Errorf("message %s = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"initiated": "queued", "ringing": "sent", "completed": "delivered",
		"busy": "undelivered", "no-answer": "undelivered", "failed": "failed"} {
		if got, ok := TwilioStatus(in, true); !ok || got != want {
			t.Errorf("call %s = %s, want %s", in, got, want)
		}
	}
	if _, ok := TwilioStatus("bogus", false); ok {
		t.Error("an unknown status is accepted")
	}
}

// Twilio is asked for status callbacks at the URL otpd hands it, and its
// SID is read from the answer.
func TestTwilioSendAsksForStatusCallbacks(t *testing.T) {
	rs := newRecordingServer(t, http.StatusCreated, nil, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`)
	tw := newTestTwilio(t, rs.URL, nil)
	for _, ch := range []string{"sms", "whatsapp", "voice"} {
		o := testPhoneMessage(ch, "code")
		o.StatusCallback = "https://otp.example.com/v1/delivery/status?t=abc.def"
		sid, err := tw.SendReceipt(t.Context(), o)
		if err != nil || sid != "SM0123456789abcdef0123456789abcdef" {
			t.Fatalf("%s: sid %q, %v", ch, sid, err)
		}
	}
	reqs := rs.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		form := r.Form
		if form.Get("StatusCallback") != "https://otp.example.com/v1/delivery/status?t=abc.def" {
			t.Errorf("%s: StatusCallback = %q", r.Path, form.Get("StatusCallback"))
		}
	}
}
