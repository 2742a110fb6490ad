package delivery

import (
	"context"
	"errors"
	"time"
)

// Rendered is a message's text, produced by package render from the
// project's templates for the message's channel and locale.
type Rendered struct {
	// Subject, Text and HTML are an email's parts. Text alone is the body of
	// an SMS or WhatsApp message, and for voice the words to say (the code
	// already spelled digit by digit).
	Subject string
	Text    string
	HTML    string
	// Locale is the locale actually used (after fallback), e.g. "fr".
	Locale string
}

// Outgoing is one delivery attempt handed to a provider.
type Outgoing struct {
	// ID is stable across retries of the same job: providers pass it on as
	// an idempotency key so that receivers can drop duplicates.
	ID        string
	Attempt   int // 1 for the first try
	Project   string
	Channel   string // email, sms, voice, whatsapp
	To        string // E.164 phone or email address
	Code      string
	ExpiresAt time.Time
	// StatusCallback, when set, is the URL the provider's service reports
	// the message's status to (Twilio's StatusCallback; the webhook's
	// "statusCallback"). It is bound to this job and provider by a token
	// otpd signs (package status).
	StatusCallback string
	Rendered
}

// Provider sends an Outgoing over one channel. Send returns nil on
// acceptance, a Permanent error when retrying cannot help (bad number,
// rejected credentials, 4xx), and any other error for transient failures
// (timeouts, 429, 5xx), which the queue retries with backoff.
type Provider interface {
	Send(ctx context.Context, o Outgoing) error
}

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
