package autofill_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/otpd/otpd/delivery/autofill"
)

// chromiumOTP is the pattern Chromium's WebOTP SMS parser matches
// (content/browser/sms/sms_parser.cc): a leading white space or the start,
// "@" domain, one space, "#" code, and an optional " @" domain.
var chromiumOTP = regexp.MustCompile(`(?:^|\s)@([a-zA-Z0-9.-]+) #([^#\s]+)(?: @([a-zA-Z0-9.-]+))?`)

func TestParseFollowsTheWebOTPGrammar(t *testing.T) {
	good := map[string]autofill.Bound{
		"747723 is your ExampleCo authentication code.\n\n@example.com #747723": {Host: "example.com", Code: "747723"},
		"@example.com #747723": {Host: "example.com", Code: "747723"},
		"747723 is your code.\n@example.com #747723 @ecommerce.example": {Host: "example.com", Code: "747723", IframeHost: "ecommerce.example"},
		"@sub.example.co.uk #A1b2":                                      {Host: "sub.example.co.uk", Code: "A1b2"},
		"first @example.com #1 is not the last line\n@other.example #2": {Host: "other.example", Code: "2"},
	}
	for msg, want := range good {
		got, ok := autofill.Parse(msg)
		if !ok || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", msg, got, ok, want)
		}
	}
	bad := []string{
		"",
		"no line at all",
		"@example.com#123",                   // no space
		"@example.com  #123",                 // two spaces
		"@example.com\t#123",                 // a tab is not the space
		"@example.com #",                     // empty code
		"@example.com #123 ",                 // trailing space
		"@example.com #123 @",                // empty iframe host
		"@example.com #123 x",                // junk after the code
		"@example.com #123 @a.example extra", // junk after the iframe host
		"@example.com #123\n",                // the last line is empty
		"@example.com #123\ntrailing text",   // not the last line
		" @example.com #123",                 // the line must start with '@'
		"@ #123",                             // empty host
		"@exa/mple.com #123",                 // not a host
	}
	for _, msg := range bad {
		if got, ok := autofill.Parse(msg); ok {
			t.Errorf("Parse(%q) = %+v, want no code", msg, got)
		}
	}
}

func TestAppendWritesTheFormatsBrowsersAndAndroidRead(t *testing.T) {
	const body, code = "123456 is your otpd code. It expires in 5 min. Never share it with anyone.", "123456"
	cases := []struct {
		s    autofill.Settings
		want string
	}{
		{autofill.Settings{}, body},
		{autofill.Settings{WebOTPHost: "example.com"}, body + "\n\n@example.com #123456"},
		{autofill.Settings{WebOTPHost: "login.example.com", WebOTPIframeHost: "shop.example"}, body + "\n\n@login.example.com #123456 @shop.example"},
		{autofill.Settings{AndroidAppHash: "FA+9qCX9VSu"}, body + "\nFA+9qCX9VSu"},
		{autofill.Settings{WebOTPHost: "example.com", AndroidAppHash: "FA+9qCX9VSu"}, body + "\nFA+9qCX9VSu\n\n@example.com #123456"},
	}
	for _, c := range cases {
		got := c.s.Append(body, code)
		if got != c.want {
			t.Errorf("%+v: Append = %q, want %q", c.s, got, c.want)
		}
		b, ok := autofill.Parse(got)
		if ok != (c.s.WebOTPHost != "") {
			t.Errorf("%+v: Parse ok = %v", c.s, ok)
		}
		if ok && (b.Host != c.s.WebOTPHost || b.IframeHost != c.s.WebOTPIframeHost || b.Code != code) {
			t.Errorf("%+v: Parse = %+v", c.s, b)
		}
		if m := chromiumOTP.FindStringSubmatch(got); (m != nil) != ok || (m != nil && (m[1] != c.s.WebOTPHost || m[2] != code || m[3] != c.s.WebOTPIframeHost)) {
			t.Errorf("%+v: Chromium's pattern reads %q", c.s, m)
		}
		if c.s.AndroidAppHash != "" && !strings.Contains(got, "\n"+c.s.AndroidAppHash+"\n") && !strings.HasSuffix(got, "\n"+c.s.AndroidAppHash) {
			t.Errorf("%+v: the app hash is not on a line of its own: %q", c.s, got)
		}
	}
}

func TestHostAndAppHashValidation(t *testing.T) {
	for _, h := range []string{"example.com", "localhost", "a-b.example", "xn--bcher-kva.example", "sub.example.co.uk"} {
		if err := autofill.Host(h); err != nil {
			t.Errorf("Host(%q) = %v", h, err)
		}
	}
	for _, h := range []string{"", "https://example.com", "Example.com", "example.com.", ".example.com", "exa mple.com",
		"example.com:443", "example.com/path", "-a.example", "a-.example", "127.0.0.1", "bücher.example", "a..b",
		strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "ab", "ex#ample.com", "ex@mple.com"} {
		if err := autofill.Host(h); err == nil {
			t.Errorf("Host(%q) accepted", h)
		}
	}
	for _, h := range []string{"FA+9qCX9VSu", "abcdefghijk", "0123456789/"} {
		if err := autofill.AppHash(h); err != nil {
			t.Errorf("AppHash(%q) = %v", h, err)
		}
	}
	for _, h := range []string{"", "FA+9qCX9VS", "FA+9qCX9VSuX", "FA+9qCX9VS=", "FA-9qCX9VSu", "FA 9qCX9VSu", "FA+9qCX9VSü"} {
		if err := autofill.AppHash(h); err == nil {
			t.Errorf("AppHash(%q) accepted", h)
		}
	}
	if errs := (autofill.Settings{WebOTPIframeHost: "a.example"}).Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "webOtpIframeDomain") {
		t.Errorf("iframe host without a host: %v", errs)
	}
	errs := (autofill.Settings{WebOTPHost: "Example.com", WebOTPIframeHost: "x y", AndroidAppHash: "short"}).Validate()
	if len(errs) != 3 {
		t.Fatalf("Validate = %v, want 3 errors", errs)
	}
	for i, field := range []string{"webOtpDomain", "webOtpIframeDomain", "androidAppHash"} {
		if !strings.HasPrefix(errs[i].Error(), field) {
			t.Errorf("error %d = %v, want it to name %s", i, errs[i], field)
		}
	}
}

// Every host Host accepts is read back by Parse and Chromium's pattern.
func FuzzHostRoundTrip(f *testing.F) {
	f.Add("example.com", "123456")
	f.Fuzz(func(t *testing.T, host, code string) {
		if autofill.Host(host) != nil || code == "" || strings.ContainsAny(code, "#\t\n\f\r \v") {
			return
		}
		msg := autofill.Settings{WebOTPHost: host}.Append("body", code)
		if b, ok := autofill.Parse(msg); !ok || b.Host != host || b.Code != code {
			t.Fatalf("Parse(%q) = %+v, %v", msg, b, ok)
		}
	})
}
