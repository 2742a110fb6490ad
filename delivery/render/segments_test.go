package render

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/otpd/otpd/delivery"
)

// The SMS table in docs/delivery.md is written by this test (go test
// -run TestShippedSMSSegments -update) and checked against the templates
// on every run.
const (
	segmentsDoc   = "../../docs/delivery.md"
	segmentsBegin = "<!-- sms-segments:begin (go test ./delivery/render -run TestShippedSMSSegments -update) -->"
	segmentsEnd   = "<!-- sms-segments:end -->"
)

// smsUnits is the length of text in its encoding's units: GSM-7 septets,
// or UTF-16 code units in UCS-2.
func smsUnits(text string) int {
	if n, ok := GSM7Septets(text); ok {
		return n
	}
	return len(utf16.Encode([]rune(text)))
}

// TestShippedSMSSegments renders the code SMS, the WhatsApp text and the
// security notice SMS of every shipped locale and reports each one's
// encoding and segments, in the table of docs/delivery.md. The rules:
//
//   - typical (6-digit code, 5 minutes, a 4-character product name): the
//     code SMS is one segment in every locale (160 GSM-7 septets or 70
//     UCS-2 characters);
//   - worst (10-digit code, 60 minutes, a 20-character product name): one
//     segment in every GSM-7 locale, at most two in UCS-2;
//   - the notice SMS: one segment in GSM-7, at most two in UCS-2 (three
//     Turkish, Polish... would be a template to shorten);
//   - WhatsApp is the SMS text with the code in bold, and in the same
//     encoding.
func TestShippedSMSSegments(t *testing.T) {
	t.Parallel()
	typical := mustNew(t, Options{ProductName: "Acme"})
	worst := mustNew(t, Options{ProductName: strings.Repeat("P", 20)})
	notice := delivery.Message{Channel: "sms", To: "+14155550123", Purpose: delivery.PurposeContactChanged,
		Notice: &delivery.Notice{Contact: "phone", NewMasked: "+**********9876", ChangedAt: time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)}}
	var rows []string
	locales := typical.Locales("")
	if len(locales) < 30 {
		t.Errorf("%d shipped locales, want at least 30", len(locales))
	}
	for _, l := range locales {
		render := func(r *Renderer, m delivery.Message, lifetime time.Duration) string {
			m.Locale = l
			got, err := r.Render(m, lifetime)
			if err != nil {
				t.Fatal(err)
			}
			if got.Locale != l {
				t.Fatalf("%s: rendered in %s", l, got.Locale)
			}
			return got.Text
		}
		for _, purpose := range []string{"signup", "signin", "signup-in", "update"} {
			sms := render(typical, delivery.Message{Channel: "sms", Code: "123456", Purpose: purpose}, 5*time.Minute)
			wa := render(typical, delivery.Message{Channel: "whatsapp", Code: "123456", Purpose: purpose}, 5*time.Minute)
			big := render(worst, delivery.Message{Channel: "sms", Code: "1234567890", Purpose: purpose}, time.Hour)
			enc := SMSEncoding(sms)
			maxWorst := 1
			if enc == "UCS-2" {
				maxWorst = 2
			}
			if SMSSegments(sms) != 1 || SMSSegments(big) > maxWorst || SMSEncoding(big) != enc || SMSSegments(wa) != 1 || SMSEncoding(wa) != enc {
				t.Errorf("%s/%s: typical %q (%s, %d segments), worst %d segments, whatsapp %d segments",
					l, purpose, sms, enc, SMSSegments(sms), SMSSegments(big), SMSSegments(wa))
			}
			if purpose != "signin" {
				continue
			}
			n := render(typical, notice, time.Minute)
			maxNotice := 1
			if SMSEncoding(n) == "UCS-2" {
				maxNotice = 2
			}
			if SMSSegments(n) > maxNotice {
				t.Errorf("%s: notice SMS %q takes %d segments", l, n, SMSSegments(n))
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %d | %d | %d | %s %d | %d |", l, enc, smsUnits(sms), SMSSegments(sms),
				SMSSegments(big), SMSEncoding(n), smsUnits(n), SMSSegments(n)))
		}
	}
	table := "| Locale | Encoding | Code SMS, typical: length | segments | Code SMS, worst: segments | Notice SMS: encoding, length | segments |\n" +
		"|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	doc, err := os.ReadFile(segmentsDoc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), segmentsBegin+"\n")
	_, after, ok2 := strings.Cut(rest, segmentsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers %q and %q", segmentsDoc, segmentsBegin, segmentsEnd)
	}
	want := before + segmentsBegin + "\n" + table + segmentsEnd + after
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(segmentsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the SMS table in %s is out of date: run go test ./delivery/render -run TestShippedSMSSegments -update\nwant:\n%s", segmentsDoc, table)
}
