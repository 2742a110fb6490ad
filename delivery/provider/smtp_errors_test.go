package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/otpd/otpd/delivery"
)

// checkSafeError fails if err's text leaks the recipient, code or password.
func checkSafeError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestSMTPErrorClassification(t *testing.T) {
	o := testEmail()
	secrets := []string{o.To, "alice", o.Code, "s3cret-pass"}
	tests := []struct {
		name      string
		srv       *smtpServerOpts // nil: nothing listening
		password  string
		permanent bool
		contains  string
	}{
		{
			name: "recipient rejected 550",
			srv: &smtpServerOpts{user: "mailer", pass: "s3cret-pass", rcptErr: &gosmtp.SMTPError{
				Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "<alice@example.com>: no such user",
			}},
			permanent: true, contains: "550",
		},
		{
			name: "recipient deferred 451",
			srv: &smtpServerOpts{user: "mailer", pass: "s3cret-pass", rcptErr: &gosmtp.SMTPError{
				Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "alice@example.com: try later",
			}},
			permanent: false, contains: "451",
		},
		{
			name:      "bad credentials 535",
			srv:       &smtpServerOpts{user: "mailer", pass: "another-pass"},
			permanent: true, contains: "535",
		},
		{name: "connection refused", permanent: false, contains: "connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			if tt.srv != nil {
				port = startSMTPServer(t, *tt.srv).port
			}
			err := newTestSMTP(t, smtpTestConfig(port)).Send(context.Background(), o)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("error: %v", err)
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (err %v)", got, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not mention %q", err, tt.contains)
			}
			checkSafeError(t, err, secrets...)
		})
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{user: "mailer", pass: "s3cret-pass", tlsConfig: selfSignedTLS(t), implicit: true})
	c := smtpTestConfig(srv.port)
	c.TLS, c.InsecureSkipVerify = SMTPTLSImplicit, true
	if err := newTestSMTP(t, c).Send(context.Background(), testEmail()); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", got)
	}

	// Certificate verification is on by default: the self-signed
	// certificate is refused, and no credentials are sent.
	c.InsecureSkipVerify = false
	err := newTestSMTP(t, c).Send(context.Background(), testEmail())
	if err == nil {
		t.Fatal("Send accepted a self-signed certificate")
	}
	t.Logf("error: %v", err)
	if delivery.IsPermanent(err) {
		t.Errorf("certificate failure %v is permanent, want transient", err)
	}
	if len(srv.authAttempts()) != 1 {
		t.Errorf("credentials sent to an unverified server")
	}
}

func TestSMTPStartTLS(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{user: "mailer", pass: "s3cret-pass", tlsConfig: selfSignedTLS(t)})
	c := smtpTestConfig(srv.port)
	c.TLS, c.InsecureSkipVerify = SMTPTLSStartTLS, true
	if err := newTestSMTP(t, c).Send(context.Background(), testEmail()); err != nil {
		t.Fatal(err)
	}
	c.TLS = SMTPTLSStartTLSOpportunistic
	if err := newTestSMTP(t, c).Send(context.Background(), testEmail()); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 2 || !got[0].tls || !got[1].tls {
		t.Fatalf("received %+v, want two messages over STARTTLS", got)
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{user: "mailer", pass: "s3cret-pass"}) // no STARTTLS
	c := smtpTestConfig(srv.port)
	c.TLS = SMTPTLSStartTLS
	err := newTestSMTP(t, c).Send(context.Background(), testEmail())
	t.Logf("error: %v", err)
	if !delivery.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want permanent STARTTLS error", err)
	}
	if len(srv.authAttempts()) != 0 || len(srv.received()) != 0 {
		t.Error("credentials or message sent in clear text")
	}

	// Opportunistic falls back to clear text.
	c.TLS = SMTPTLSStartTLSOpportunistic
	if err := newTestSMTP(t, c).Send(context.Background(), testEmail()); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || got[0].tls {
		t.Fatalf("received %+v, want one clear-text message", got)
	}
}

// Without TLS, PLAIN credentials only go to a localhost server.
func TestSMTPNoCleartextCredentials(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{user: "mailer", pass: "s3cret-pass", host: "127.0.0.2"})
	c := smtpTestConfig(srv.port)
	c.Host = "127.0.0.2" // loopback, but not a name go-mail treats as localhost
	err := newTestSMTP(t, c).Send(context.Background(), testEmail())
	if !delivery.IsPermanent(err) || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("err = %v, want permanent refusal of clear-text AUTH", err)
	}
	if len(srv.authAttempts()) != 0 {
		t.Error("credentials sent in clear text")
	}
}

func TestSMTPCancelledContext(t *testing.T) {
	srv := startSMTPServer(t, smtpServerOpts{})
	c := smtpTestConfig(srv.port)
	c.Username, c.Password = "", ""
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newTestSMTP(t, c).Send(ctx, testEmail())
	if err == nil || delivery.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want transient context.Canceled", err)
	}
	if len(srv.received()) != 0 {
		t.Error("message sent despite cancelled context")
	}
}

// Cancelling the context interrupts a session in progress.
func TestSMTPCancelMidSession(t *testing.T) {
	block := make(chan struct{})
	srv := startSMTPServer(t, smtpServerOpts{block: block})
	t.Cleanup(func() { close(block) })
	c := smtpTestConfig(srv.port)
	c.Username, c.Password = "", ""
	c.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := newTestSMTP(t, c).Send(ctx, testEmail())
	if err == nil || delivery.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want transient context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %v after cancel", d)
	}
}

func TestSMTPInvalidRecipient(t *testing.T) {
	s := newTestSMTP(t, smtpTestConfig(freePort(t)))
	o := testEmail()
	o.To = "not an address"
	err := s.Send(context.Background(), o)
	if !delivery.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	checkSafeError(t, err, o.To)
}
