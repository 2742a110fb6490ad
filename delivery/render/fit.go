package render

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/otpd/otpd/delivery"
)

// SMSEncoding is how an SMS body is sent: "GSM-7" when every character is
// in the GSM 03.38 alphabet (with its extension table), else "UCS-2".
func SMSEncoding(text string) string {
	if _, ok := GSM7Septets(text); ok {
		return "GSM-7"
	}
	return "UCS-2"
}

// SMSBytes is the size of text's payload in one message: GSM-7 septets
// packed 8 to 7 bytes, or 2 bytes per UTF-16 code unit in UCS-2. The SMS
// Retriever reads only messages of at most 140 bytes (one segment).
func SMSBytes(text string) int {
	if n, ok := GSM7Septets(text); ok {
		return (n*7 + 7) / 8
	}
	n := 0
	for _, r := range text {
		n += utf16.RuneLen(r)
	}
	return 2 * n
}

// MaxRetrieverBytes is the SMS Retriever's limit on a message.
const MaxRetrieverBytes = 140

// CheckSMSFit renders the code SMS of every template ID (custom ones from
// Options.Dir included) in each of locales with the longest code of
// codeLength digits and lifetime, and fails naming the template and
// locale of every body that exceeds MaxRetrieverBytes when an Android app
// hash is set (the SMS Retriever would ignore those messages). Without an
// app hash it checks nothing: a longer WebOTP message is still read, in
// more segments.
func (r *Renderer) CheckSMSFit(locales []string, codeLength int, lifetime time.Duration) error {
	if r.autofill.AndroidAppHash == "" {
		return nil
	}
	ids := make([]string, 0, len(r.locales))
	for id := range r.locales {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var over []string
	seen := map[string]bool{}
	for _, id := range ids {
		for _, l := range locales {
			m := delivery.Message{Channel: "sms", Purpose: "signup", Code: strings.Repeat("9", codeLength), Locale: l, TemplateID: id}
			out, err := r.Render(m, lifetime)
			if err != nil {
				return err
			}
			if seen[out.Text] {
				continue
			}
			seen[out.Text] = true
			if n := SMSBytes(out.Text); n > MaxRetrieverBytes {
				over = append(over, fmt.Sprintf("%s/%s (%d bytes, %s)", id, out.Locale, n, SMSEncoding(out.Text)))
			}
		}
	}
	if len(over) > 0 {
		return fmt.Errorf("androidAppHash: the SMS Retriever reads messages of at most %d bytes, and the code SMS in %s is longer with a %d-digit code: shorten productName, webOtpDomain or the sms.txt template",
			MaxRetrieverBytes, strings.Join(over, ", "), codeLength)
	}
	return nil
}
