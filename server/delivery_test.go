package server_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/internal/testsmtp"
)

// TestEmailOverSMTPInTwoLocales: a real SMTP conversation with an
// in-process server delivers the code in the requested language, and the
// delivered code signs the user in.
func TestEmailOverSMTPInTwoLocales(t *testing.T) {
	t.Parallel()
	smtp := testsmtp.Start(t)
	p := config.Project{ID: pid, Delivery: config.Delivery{ProductName: "Acme", DefaultLocale: "en",
		Providers: []config.Provider{{ID: "mail", Type: "smtp", Channels: []string{"email"},
			SMTP: &config.SMTPProvider{Host: smtp.Host, Port: smtp.Port, TLS: "none", From: "Acme <no-reply@acme.test>"}}}}}
	e := newEnv(t, false, withProject(p))

	cases := []struct {
		to, locale, subjectWord, textWord string
	}{
		{"ana@example.com", "fr-FR", "Acme", "expire"},
		{"bob@example.com", "", "Acme", "expires"},
	}
	for _, c := range cases {
		body := fmt.Sprintf(`{"loginId":%q,"loginOptions":{"locale":%q}}`, c.to, c.locale)
		if st, b := e.post("/v1/auth/otp/signup-in/email", body); st != 200 {
			t.Fatalf("start: %d %v", st, b)
		}
	}
	var got []testsmtp.Mail
	deadline := time.Now().Add(10 * time.Second)
	for got = smtp.Received(); len(got) < 2; got = smtp.Received() {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of 2 emails", len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
	six := regexp.MustCompile(`\b[0-9]{6}\b`)
	for _, m := range got {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		text, html := parts(t, msg)
		code := six.FindString(text)
		if code == "" || !strings.Contains(html, code) || strings.Contains(subject, code) {
			t.Fatalf("email to %v: code %q must be in both parts and not in the subject %q", m.To, code, subject)
		}
		if m.From != "no-reply@acme.test" || len(m.To) != 1 || msg.Header.Get("X-Otpd-Idempotency-Key") == "" {
			t.Fatalf("envelope: from %q to %v, headers %v", m.From, m.To, msg.Header)
		}
		lang := "en"
		if m.To[0] == "ana@example.com" {
			lang = "fr"
		}
		if !strings.Contains(html, `lang="`+lang+`"`) {
			t.Fatalf("email to %s is not in %s:\nsubject: %s\n%s", m.To[0], lang, subject, text)
		}
		if lang == "fr" && !strings.Contains(text, "Ne le communiquez") || lang == "en" && !strings.Contains(text, "share") {
			t.Fatalf("email to %s lacks the do-not-share line in %s:\n%s", m.To[0], lang, text)
		}
		// The emailed code verifies.
		if st, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, m.To[0], code)); st != 200 {
			t.Fatalf("verify with the emailed code: %d %v", st, b)
		}
	}
}

// parts returns the text and HTML parts of a multipart/alternative email.
func parts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(decode(p))
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		} else {
			text = string(b)
		}
	}
}

func decode(p *multipart.Part) io.Reader {
	// multipart.Reader already undoes quoted-printable; base64 needs help.
	if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
		b, _ := io.ReadAll(p)
		return base64Decoder(b)
	}
	return p
}

func base64Decoder(b []byte) io.Reader {
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return bytes.NewReader(b)
	}
	return bytes.NewReader(out)
}
