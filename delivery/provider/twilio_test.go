package provider

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

// capturedRequest is what a test HTTP server saw.
type capturedRequest struct {
	Method, Path string
	User, Pass   string
	Header       http.Header
	Form         url.Values
	Body         []byte
}

// recordingServer answers every request with status, headers and body, and
// records the requests.
type recordingServer struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []capturedRequest
	status int
	header map[string]string
	body   string
}

func newRecordingServer(t *testing.T, status int, header map[string]string, body string) *recordingServer {
	t.Helper()
	rs := &recordingServer{status: status, header: header, body: body}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := capturedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		c.User, c.Pass, _ = r.BasicAuth()
		if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			if err := r.ParseForm(); err != nil {
				t.Errorf("ParseForm: %v", err)
			}
			c.Form = r.PostForm
		} else {
			c.Body, _ = io.ReadAll(r.Body)
		}
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, c)
		rs.mu.Unlock()
		for k, v := range rs.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rs.status)
		_, _ = io.WriteString(w, rs.body)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) requests() []capturedRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]capturedRequest(nil), rs.reqs...)
}

func (rs *recordingServer) only(t *testing.T) capturedRequest {
	t.Helper()
	r := rs.requests()
	if len(r) != 1 {
		t.Fatalf("server got %d requests, want 1", len(r))
	}
	return r[0]
}

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "twilio-auth-token-secret"
	testFrom  = "+15005550006"
	testTo    = "+33612345678"
)

func newTestTwilio(t *testing.T, baseURL string, change func(*TwilioConfig)) *Twilio {
	t.Helper()
	c := TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: baseURL}
	if change != nil {
		change(&c)
	}
	tw, err := NewTwilio(c, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func testPhoneMessage(channel, text string) delivery.Outgoing {
	return delivery.Outgoing{
		ID: "job-42", Attempt: 1, Project: "acme", Channel: channel, To: testTo, Code: "482913",
		ExpiresAt: time.Date(2025, 3, 4, 5, 16, 7, 0, time.UTC),
		Rendered:  delivery.Rendered{Text: text, Locale: "fr"},
	}
}

func checkTwilioRequest(t *testing.T, got capturedRequest, path string, form url.Values) {
	t.Helper()
	if got.Method != http.MethodPost || got.Path != path {
		t.Errorf("request %s %s, want POST %s", got.Method, got.Path, path)
	}
	if got.User != testSID || got.Pass != testToken {
		t.Errorf("basic auth %q:%q", got.User, got.Pass)
	}
	for h, want := range map[string]string{
		"I-Twilio-Idempotency-Token": "job-42",
		"Content-Type":               "application/x-www-form-urlencoded",
		"User-Agent":                 "otpd",
	} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	if form != nil {
		if diff := cmp.Diff(form, got.Form); diff != "" {
			t.Errorf("form (-want +got):\n%s", diff)
		}
	}
}

const messagesPath = "/2010-04-01/Accounts/" + testSID + "/Messages.json"

func TestTwilioSMS(t *testing.T) {
	srv := newRecordingServer(t, http.StatusCreated, nil, `{"sid":"SM1"}`)
	o := testPhoneMessage("sms", "Acme : votre code est 482913")
	if err := newTestTwilio(t, srv.URL, nil).Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	checkTwilioRequest(t, srv.only(t), messagesPath, url.Values{
		"To": {testTo}, "From": {testFrom}, "Body": {o.Text},
	})
}

func TestTwilioWhatsApp(t *testing.T) {
	srv := newRecordingServer(t, http.StatusCreated, nil, `{"sid":"SM1"}`)
	o := testPhoneMessage("whatsapp", "*482913* est votre code Acme.")
	if err := newTestTwilio(t, srv.URL+"/", nil).Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	checkTwilioRequest(t, srv.only(t), messagesPath, url.Values{
		"To": {"whatsapp:" + testTo}, "From": {"whatsapp:" + testFrom}, "Body": {o.Text},
	})
}

func TestTwilioMessagingService(t *testing.T) {
	srv := newRecordingServer(t, http.StatusCreated, nil, `{}`)
	tw := newTestTwilio(t, srv.URL, func(c *TwilioConfig) { c.From, c.MessagingServiceSID = "", "MG0123" })
	for _, ch := range []string{"sms", "whatsapp"} {
		if err := tw.Send(context.Background(), testPhoneMessage(ch, "code 482913")); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	checkTwilioRequest(t, reqs[0], messagesPath, url.Values{
		"To": {testTo}, "MessagingServiceSid": {"MG0123"}, "Body": {"code 482913"},
	})
	checkTwilioRequest(t, reqs[1], messagesPath, url.Values{
		"To": {"whatsapp:" + testTo}, "MessagingServiceSid": {"MG0123"}, "Body": {"code 482913"},
	})
	// A messaging service cannot place calls.
	err := tw.Send(context.Background(), testPhoneMessage("voice", "4 8 2"))
	if !delivery.IsPermanent(err) {
		t.Errorf("voice without From: %v, want permanent", err)
	}
}

type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Say     []struct {
		Language string `xml:"language,attr"`
		Voice    string `xml:"voice,attr"`
		Text     string `xml:",chardata"`
	} `xml:"Say"`
}

func TestTwilioVoice(t *testing.T) {
	text := `Votre code Acme & Cie <important> : 4, 8, 2, 9, 1, 3. Je répète : 4, 8, 2, 9, 1, 3.`
	tests := []struct {
		locale, want, voice string
		lang                func(string) string
	}{
		{locale: "fr", want: "fr-FR"},
		{locale: "es-MX", want: "es-ES"},
		{locale: "en", want: "en-US"},
		{locale: "sw", want: "en-US"},
		{locale: "de", want: "de-DE", voice: "Google.de-DE-Standard-A"},
		{locale: "ar", want: "ar-XA", voice: "Google.ar-XA-Standard-A"},
		{locale: "zh-hant", want: "cmn-TW", voice: "Google.cmn-TW-Standard-A"},
		{locale: "pt-br", want: "pt-BR", voice: "Google.pt-BR-Standard-A"},
		{locale: "pt", want: "pt-PT", voice: "Google.pt-PT-Standard-A"},
		{locale: "de", want: "de-AT", lang: func(l string) string { return l + "-AT" }},
	}
	for _, tt := range tests {
		t.Run(tt.locale+"->"+tt.want, func(t *testing.T) {
			srv := newRecordingServer(t, http.StatusCreated, nil, `{"sid":"CA1"}`)
			tw := newTestTwilio(t, srv.URL, func(c *TwilioConfig) { c.VoiceLanguage = tt.lang })
			o := testPhoneMessage("voice", text)
			o.Locale = tt.locale
			if err := tw.Send(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got := srv.only(t)
			checkTwilioRequest(t, got, "/2010-04-01/Accounts/"+testSID+"/Calls.json", nil)
			if got.Form.Get("To") != testTo || got.Form.Get("From") != testFrom {
				t.Errorf("To %q From %q", got.Form.Get("To"), got.Form.Get("From"))
			}
			raw := got.Form.Get("Twiml")
			if !strings.HasPrefix(raw, `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="`) ||
				!strings.Contains(raw, "&amp; Cie &lt;important&gt;") {
				t.Errorf("TwiML not as expected: %s", raw)
			}
			var doc twiml
			if err := xml.Unmarshal([]byte(raw), &doc); err != nil {
				t.Fatalf("TwiML does not parse: %v\n%s", err, raw)
			}
			if len(doc.Say) != 1 || doc.Say[0].Language != tt.want || doc.Say[0].Voice != tt.voice || doc.Say[0].Text != text {
				t.Errorf("Say = %+v, want one in %s (voice %q) saying %q", doc.Say, tt.want, tt.voice, text)
			}
		})
	}
}

func TestTwilioErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		permanent  bool
		retryAfter time.Duration // > 0: want a *RetryAfterError
		contains   string
	}{
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"code":20429,"message":"Too Many Requests"}`, retryAfter: 7 * time.Second, contains: "HTTP 429 (code 20429)"},
		{name: "500", status: 500, body: `oops`, contains: "HTTP 500"},
		{name: "503 Retry-After date", status: 503,
			header: map[string]string{"Retry-After": "Tue, 04 Mar 2025 05:07:07 GMT"}, retryAfter: time.Minute, contains: "HTTP 503"},
		{name: "400 invalid number", status: 400,
			body:      `{"code":21211,"message":"The 'To' number +33612345678 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`,
			permanent: true, contains: "twilio: POST Messages: HTTP 400 (code 21211)"},
		{name: "401 bad credentials", status: 401, body: `{"code":20003,"message":"Authenticate"}`, permanent: true, contains: "HTTP 401 (code 20003)"},
		{name: "404 code not a number", status: 404, body: `{"code":"+33612345678"}`, permanent: true, contains: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecordingServer(t, tt.status, tt.header, tt.body)
			tw := newTestTwilio(t, srv.URL, func(c *TwilioConfig) {
				c.Now = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }
			})
			err := tw.Send(context.Background(), testPhoneMessage("sms", "code 482913"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("error: %v", err)
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			var ra *RetryAfterError
			if got := errors.As(err, &ra); got != (tt.retryAfter > 0) {
				t.Errorf("RetryAfterError = %v, want %v", got, tt.retryAfter > 0)
			} else if got && ra.After != tt.retryAfter {
				t.Errorf("After = %v, want %v", ra.After, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			checkSafeError(t, err, testTo, "33612345678", "482913", testToken, testSID)
		})
	}
}

func TestTwilioNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	err := newTestTwilio(t, base, nil).Send(context.Background(), testPhoneMessage("sms", "code 482913"))
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	t.Logf("error: %v", err)
	checkSafeError(t, err, testSID, testTo)
}

func TestTwilioUnknownChannel(t *testing.T) {
	srv := newRecordingServer(t, http.StatusCreated, nil, `{}`)
	err := newTestTwilio(t, srv.URL, nil).Send(context.Background(), testPhoneMessage("email", "x"))
	if !delivery.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if len(srv.requests()) != 0 {
		t.Error("request sent for an unknown channel")
	}
}

func TestNewTwilioValidation(t *testing.T) {
	tests := []struct {
		name string
		c    TwilioConfig
		want string
	}{
		{"no sid", TwilioConfig{AuthToken: "t", From: testFrom}, "AccountSID"},
		{"no token", TwilioConfig{AccountSID: testSID, From: testFrom}, "AuthToken"},
		{"no sender", TwilioConfig{AccountSID: testSID, AuthToken: "t"}, "From"},
		{"bad base URL", TwilioConfig{AccountSID: testSID, AuthToken: "t", From: testFrom, BaseURL: "api.twilio.com"}, "BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTwilio(tt.c, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	tw, err := NewTwilio(TwilioConfig{AccountSID: testSID, AuthToken: "t", From: testFrom}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://api.twilio.com" + messagesPath; tw.messages != want {
		t.Errorf("messages URL %q, want %q", tw.messages, want)
	}
}
