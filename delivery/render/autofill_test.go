package render

import (
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/autofill"
)

const testAppHash = "FA+9qCX9VSu"

// TestSMSAutofillLines: with webOtpDomain and androidAppHash, every code
// SMS (shipped or custom template, every locale) ends with the app hash on
// a line of its own and then the origin-bound line, which a WebOTP parser
// reads back with the code; the other channels and the security notice
// are unchanged.
func TestSMSAutofillLines(t *testing.T) {
	af := autofill.Settings{WebOTPHost: "login.example.com", AndroidAppHash: testAppHash}
	dir := writeTree(t, map[string]string{"custom/en/sms.txt": "Code: {{.Code}}\n"})
	plain := mustNew(t, Options{Dir: dir})
	r := mustNew(t, Options{Dir: dir, Autofill: af})
	for _, id := range []string{"", "custom"} {
		for _, l := range append(r.Locales(""), "") {
			m := msg("sms", l, id)
			got := mustRender(t, r, m).Text
			b, ok := autofill.Parse(got)
			if !ok || b.Host != af.WebOTPHost || b.Code != m.Code || b.IframeHost != "" {
				t.Errorf("%s/%s: no origin-bound line for the code in %q", id, l, got)
			}
			if !strings.Contains(got, "\n"+testAppHash+"\n\n@login.example.com #123456") {
				t.Errorf("%s/%s: app hash not on its own line before the origin-bound line: %q", id, l, got)
			}
			if want := mustRender(t, plain, m).Text; !strings.HasPrefix(got, want+"\n") {
				t.Errorf("%s/%s: the template's text changed: %q, want it to start with %q", id, l, got, want)
			}
		}
	}
	for _, ch := range []string{"email", "whatsapp", "voice"} {
		if got, want := mustRender(t, r, msg(ch, "en", "")), mustRender(t, plain, msg(ch, "en", "")); got != want {
			t.Errorf("%s changed with autofill settings: %+v", ch, got)
		}
	}
	notice := delivery.Message{Channel: "sms", Purpose: delivery.PurposeContactChanged, Locale: "en",
		Notice: &delivery.Notice{Contact: "phone", NewMasked: "+1******89", ChangedAt: time.Unix(0, 0)}}
	if got := mustRender(t, r, notice).Text; strings.Contains(got, "@login.example.com") || strings.Contains(got, testAppHash) {
		t.Errorf("security notice carries autofill lines: %q", got)
	}
	// The cache substitutes the code: a second message gets its own code
	// in the origin-bound line.
	m := msg("sms", "en", "")
	m.Code = "654321"
	if b, _ := autofill.Parse(mustRender(t, r, m).Text); b.Code != "654321" {
		t.Errorf("second message's origin-bound code = %q", b.Code)
	}
}

// TestDefaultEnglishSMSWithAutofillFitsOneSegment: the default English
// SMS with both lines stays in one GSM-7 segment and within the SMS
// Retriever's 140 bytes, with the longest code (10 digits), a 60-minute
// lifetime, a 20-character product name and a 30-character domain.
func TestDefaultEnglishSMSWithAutofillFitsOneSegment(t *testing.T) {
	af := autofill.Settings{WebOTPHost: "accounts.example-company.co.uk", AndroidAppHash: testAppHash}
	r := mustNew(t, Options{ProductName: "Twenty Characters Co", Autofill: af})
	m := msg("sms", "en", "")
	m.Code = "1234567890"
	out, err := r.Render(m, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if enc, segs, n := SMSEncoding(out.Text), SMSSegments(out.Text), SMSBytes(out.Text); enc != "GSM-7" || segs != 1 || n > MaxRetrieverBytes {
		t.Fatalf("%q: %s, %d segments, %d bytes; want GSM-7, 1 segment, ≤ %d bytes", out.Text, enc, segs, n, MaxRetrieverBytes)
	}
	if err := r.CheckSMSFit([]string{"en"}, 10, time.Hour); err != nil {
		t.Errorf("CheckSMSFit: %v", err)
	}
}

// TestCheckSMSFitNamesTheLocale: with an app hash, a code SMS past 140
// bytes is a startup problem naming androidAppHash and the locale; the
// same without an app hash (WebOTP alone reads longer messages) passes.
func TestCheckSMSFitNamesTheLocale(t *testing.T) {
	long := strings.Repeat("P", 90)
	r := mustNew(t, Options{ProductName: long, Autofill: autofill.Settings{AndroidAppHash: testAppHash}})
	err := r.CheckSMSFit([]string{"fr", "en"}, 10, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "androidAppHash") || !strings.Contains(err.Error(), "default/fr (") || !strings.Contains(err.Error(), "default/en (") {
		t.Errorf("CheckSMSFit = %v, want a problem naming androidAppHash, fr and en", err)
	}
	// A custom template set is checked too.
	dir := writeTree(t, map[string]string{"promo/en/sms.txt": strings.Repeat("Long text. ", 14) + "{{.Code}}"})
	r = mustNew(t, Options{Dir: dir, Autofill: autofill.Settings{AndroidAppHash: testAppHash}})
	err = r.CheckSMSFit([]string{"en"}, 6, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "promo/en (") || strings.Contains(err.Error(), "default/") {
		t.Errorf("custom template: CheckSMSFit = %v, want a problem naming promo/en only", err)
	}
	r = mustNew(t, Options{ProductName: long, Autofill: autofill.Settings{WebOTPHost: "example.com"}})
	if err := r.CheckSMSFit([]string{"fr", "en"}, 10, time.Hour); err != nil {
		t.Errorf("without an app hash: %v", err)
	}
}

func TestNewRefusesBadAutofillSettings(t *testing.T) {
	for _, af := range []autofill.Settings{
		{WebOTPHost: "https://example.com"},
		{WebOTPHost: "example.com", WebOTPIframeHost: "Shop.example"},
		{WebOTPIframeHost: "shop.example"},
		{AndroidAppHash: "tooShort"},
	} {
		if _, err := New(Options{Autofill: af}); err == nil {
			t.Errorf("New accepted %+v", af)
		}
	}
}
