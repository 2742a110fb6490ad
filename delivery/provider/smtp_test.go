package provider

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

func smtpTestNow() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

func smtpTestConfig(port int) SMTPConfig {
	return SMTPConfig{
		Host:     "127.0.0.1",
		Port:     port,
		Username: "mailer",
		Password: "s3cret-pass",
		TLS:      SMTPTLSNone,
		From:     "Acme <no-reply@acme.com>",
		ReplyTo:  "Acme Support <support@acme.com>",
		Timeout:  5 * time.Second,
		HeloName: "otpd.test",
		Now:      smtpTestNow,
	}
}

func testEmail() delivery.Outgoing {
	return delivery.Outgoing{
		ID:        "job-0193a1b2-c3d4",
		Attempt:   1,
		Project:   "acme",
		Channel:   "email",
		To:        "alice@example.com",
		Code:      "482913",
		ExpiresAt: smtpTestNow().Add(10 * time.Minute),
		Rendered: delivery.Rendered{
			Subject: "Votre code de connexion pour Acmé",
			Text:    "Votre code : 482913\r\nIl expire dans 10 minutes.",
			HTML:    "<p>Votre code : <b>482913</b></p>\r\n<p>Il expire dans 10 minutes, à bientôt.</p>",
			Locale:  "fr",
		},
	}
}

func newTestSMTP(t *testing.T, c SMTPConfig) *SMTP {
	t.Helper()
	s, err := NewSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parsedMail is the part of a received message the tests check.
type parsedMail struct {
	From, To, ReplyTo, Subject string
	MessageID, IdempotencyKey  string
	Date                       time.Time
	Parts                      map[string]string // content type -> decoded body
}

func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, b := range head {
		if b >= 0x80 {
			t.Fatalf("non-ASCII byte in headers at %d: %q", i, head)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	addr := func(h string) string {
		a, err := mail.ParseAddress(m.Header.Get(h))
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		return a.String()
	}
	date, err := m.Header.Date()
	if err != nil {
		t.Fatal(err)
	}
	p := parsedMail{
		From: addr("From"), To: addr("To"), ReplyTo: addr("Reply-To"), Subject: subject,
		MessageID: m.Header.Get("Message-ID"), IdempotencyKey: m.Header.Get("X-Otpd-Idempotency-Key"),
		Date: date.UTC(), Parts: map[string]string{},
	}
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "multipart/alternative" {
		p.Parts[ct] = decodeBody(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		// multipart.Part decodes quoted-printable itself.
		p.Parts[pct] = decodeBody(t, part.Header.Get("Content-Transfer-Encoding"), part)
	}
	return p
}

func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSMTPSendMessage(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{user: "mailer", pass: "s3cret-pass"})
	s := newTestSMTP(t, smtpTestConfig(srv.port))
	o := testEmail()
	if err := s.Send(context.Background(), o); err != nil {
		t.Fatalf("Send: %v", err)
	}
	retry := o
	retry.Attempt = 2
	if err := s.Send(context.Background(), retry); err != nil {
		t.Fatalf("Send retry: %v", err)
	}

	if diff := cmp.Diff([]string{"mailer:s3cret-pass", "mailer:s3cret-pass"}, srv.authAttempts()); diff != "" {
		t.Errorf("AUTH PLAIN credentials (-want +got):\n%s", diff)
	}
	got := srv.received()
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	if got[0].helo != "otpd.test" || got[0].from != "no-reply@acme.com" {
		t.Errorf("EHLO %q, MAIL FROM %q", got[0].helo, got[0].from)
	}
	if diff := cmp.Diff([]string{"alice@example.com"}, got[0].to); diff != "" {
		t.Errorf("RCPT TO (-want +got):\n%s", diff)
	}
	if !bytes.Contains(got[0].data, []byte("=?UTF-8?")) {
		t.Errorf("subject not MIME-encoded:\n%s", got[0].data)
	}
	want := parsedMail{
		From:           `"Acme" <no-reply@acme.com>`,
		To:             "<alice@example.com>",
		ReplyTo:        `"Acme Support" <support@acme.com>`,
		Subject:        "Votre code de connexion pour Acmé",
		MessageID:      "<job-0193a1b2-c3d4@otpd>",
		IdempotencyKey: "job-0193a1b2-c3d4",
		Date:           smtpTestNow(),
		Parts: map[string]string{
			"text/plain": o.Text,
			"text/html":  o.HTML,
		},
	}
	first := parseMail(t, got[0].data)
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("message (-want +got):\n%s\nraw:\n%s", diff, got[0].data)
	}
	if second := parseMail(t, got[1].data); second.MessageID != first.MessageID {
		t.Errorf("retry Message-ID %q, first %q: must be stable", second.MessageID, first.MessageID)
	}
}

func TestSMTPTextOnly(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{})
	c := smtpTestConfig(srv.port)
	c.Username, c.Password, c.ReplyTo = "", "", ""
	s := newTestSMTP(t, c)
	o := testEmail()
	o.HTML = ""
	if err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	m, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	ct, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if ct != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	// The DATA reader keeps the CRLF that ends the last line.
	body := strings.TrimSuffix(decodeBody(t, m.Header.Get("Content-Transfer-Encoding"), m.Body), "\r\n")
	if body != o.Text {
		t.Errorf("body %q, want %q", body, o.Text)
	}
	if m.Header.Get("Reply-To") != "" {
		t.Errorf("unexpected Reply-To %q", m.Header.Get("Reply-To"))
	}
}

func TestNewSMTPValidation(t *testing.T) {
	ok := smtpTestConfig(2525)
	tests := []struct {
		name   string
		change func(*SMTPConfig)
		want   string
	}{
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "Host"},
		{"port zero", func(c *SMTPConfig) { c.Port = 0 }, "Port"},
		{"port too big", func(c *SMTPConfig) { c.Port = 70000 }, "Port"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "From"},
		{"bad from", func(c *SMTPConfig) { c.From = "Acme no-reply" }, "From"},
		{"bad reply-to", func(c *SMTPConfig) { c.ReplyTo = "@@" }, "ReplyTo"},
		{"bad tls", func(c *SMTPConfig) { c.TLS = "ssl" }, "TLS"},
		{"user without password", func(c *SMTPConfig) { c.Password = "" }, "Password"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			_, err := NewSMTP(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	c := ok
	c.TLS, c.Timeout = "", 0
	s, err := NewSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.TLS != SMTPTLSStartTLS || s.cfg.Timeout != 10*time.Second {
		t.Errorf("defaults: TLS %q, Timeout %v", s.cfg.TLS, s.cfg.Timeout)
	}
}
