// Package autofill writes the parts of an SMS that let a phone fill the
// code in by itself:
//
//   - the WebOTP origin-bound line of the WICG "Origin-bound one-time codes
//     delivered via SMS" format: the message's last line is
//     "@<host> #<code>", optionally followed by " @<iframe host>" when the
//     code is entered in an iframe of another origin. Browsers (Chrome's
//     WebOTP API, Safari's autocomplete=one-time-code) offer the code only
//     to https://<host> (embedded in https://<iframe host>).
//   - the Android SMS Retriever app hash: 11 characters of the base64
//     alphabet that name the Android app allowed to read the message. The
//     whole message must fit in 140 bytes, that is one SMS segment.
//
// Hosts and hashes are validated once, at startup (config check), with
// Host and AppHash; Lines writes them.
package autofill

import (
	"errors"
	"fmt"
	"strings"
)

// AppHashLen is the length of an SMS Retriever app hash.
const AppHashLen = 11

// MaxHostLen is the longest host name accepted (RFC 1035: 253 characters
// written without the trailing dot).
const MaxHostLen = 253

// Settings are a project's autofill settings; the zero value adds nothing.
type Settings struct {
	// WebOTPHost is the origin's host the code is bound to ("" for none).
	WebOTPHost string
	// WebOTPIframeHost is the host of the embedding page when the code is
	// entered in a cross-origin iframe; only with WebOTPHost.
	WebOTPIframeHost string
	// AndroidAppHash is the SMS Retriever app hash ("" for none).
	AndroidAppHash string
}

// Enabled reports whether s adds anything to a message.
func (s Settings) Enabled() bool { return s.WebOTPHost != "" || s.AndroidAppHash != "" }

// Validate checks every setting, naming the field (JSON names of the
// delivery section) in its errors.
func (s Settings) Validate() []error {
	var errs []error
	if s.WebOTPHost != "" {
		if err := Host(s.WebOTPHost); err != nil {
			errs = append(errs, fmt.Errorf("webOtpDomain %q: %w", s.WebOTPHost, err))
		}
	}
	if s.WebOTPIframeHost != "" {
		if s.WebOTPHost == "" {
			errs = append(errs, errors.New("webOtpIframeDomain needs webOtpDomain (the iframe's parent is the top-level origin)"))
		} else if err := Host(s.WebOTPIframeHost); err != nil {
			errs = append(errs, fmt.Errorf("webOtpIframeDomain %q: %w", s.WebOTPIframeHost, err))
		}
	}
	if s.AndroidAppHash != "" {
		if err := AppHash(s.AndroidAppHash); err != nil {
			errs = append(errs, fmt.Errorf("androidAppHash %q: %w", s.AndroidAppHash, err))
		}
	}
	return errs
}

// Host checks that h is a host name a browser reads from the origin-bound
// line and that stays in the GSM-7 alphabet: lower-case ASCII letters,
// digits and '-' in dot-separated labels of 1 to 63 characters, no label
// starting or ending with '-', at most MaxHostLen in all. A scheme, port,
// path, upper case, trailing dot, IP address or non-ASCII (write an IDN in
// its xn-- form) is refused: browsers match the line against the page's
// origin as written.
func Host(h string) error {
	switch {
	case h == "":
		return errors.New("empty")
	case len(h) > MaxHostLen:
		return fmt.Errorf("longer than %d characters", MaxHostLen)
	case strings.Contains(h, "://"):
		return errors.New("write the host only, without a scheme (example.com)")
	}
	labels := strings.Split(h, ".")
	allDigits := true
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label (leading, trailing or double dot)")
		}
		if len(l) > 63 {
			return errors.New("a label is longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("a label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= 'a' && c <= 'z':
				allDigits = false
			case c >= '0' && c <= '9':
			case c == '-':
				allDigits = false
			case c >= 'A' && c <= 'Z':
				return errors.New("write it in lower case")
			default:
				return fmt.Errorf("character %q is not allowed (letters, digits, '-' and '.'; an IDN in its xn-- form)", c)
			}
		}
	}
	if allDigits {
		return errors.New("an IP address is not a host name")
	}
	return nil
}

// AppHash checks an SMS Retriever app hash: exactly AppHashLen characters
// of the standard base64 alphabet (A-Z, a-z, 0-9, '+', '/'), as printed by
// Google's AppSignatureHelper or `keytool ... | sha256sum | base64 | cut -c1-11`.
func AppHash(h string) error {
	if len(h) != AppHashLen {
		return fmt.Errorf("must be %d characters, has %d", AppHashLen, len(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return fmt.Errorf("character %q is not in the base64 alphabet", c)
		}
	}
	return nil
}

// Append adds s's lines to the SMS body for code: the app hash on a line of
// its own, then, as the last line after a blank one, "@host #code" and
// " @iframe-host" when set. Without settings body is returned unchanged.
// s must have passed Validate, and code must hold no white space or '#'
// (otpd's codes are digits).
func (s Settings) Append(body, code string) string {
	if !s.Enabled() {
		return body
	}
	var b strings.Builder
	b.Grow(len(body) + len(s.AndroidAppHash) + len(s.WebOTPHost) + len(s.WebOTPIframeHost) + len(code) + 10)
	b.WriteString(body)
	if s.AndroidAppHash != "" {
		b.WriteByte('\n')
		b.WriteString(s.AndroidAppHash)
	}
	if s.WebOTPHost != "" {
		b.WriteString("\n\n@")
		b.WriteString(s.WebOTPHost)
		b.WriteString(" #")
		b.WriteString(code)
		if s.WebOTPIframeHost != "" {
			b.WriteString(" @")
			b.WriteString(s.WebOTPIframeHost)
		}
	}
	return b.String()
}
