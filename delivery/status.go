package delivery

import (
	"context"
	"net/http"
	"time"
)

// Delivery statuses, in the order a message goes through them. Delivered,
// undelivered and failed are final.
const (
	StatusQueued      = "queued"
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
)

// Receipter is a Provider that reports the id the service gave an
// accepted message (Twilio's SID), which its status callbacks name.
type Receipter interface {
	SendReceipt(ctx context.Context, o Outgoing) (messageID string, err error)
}

// StatusReport is what one status callback says about a message.
type StatusReport struct {
	MessageID string
	Status    string // one of the Status* values
	ErrorCode string // the provider's error code, "" when none
}

// CallbackVerifier is a Provider whose service reports statuses by
// calling otpd back. VerifyCallback authenticates one callback request
// (fullURL: the URL the service called, as otpd handed it out; body: the
// raw body) and reads it. An error means the request is not the
// provider's (unsigned, mis-signed, stale) or says nothing otpd knows;
// nothing is recorded then.
type CallbackVerifier interface {
	VerifyCallback(fullURL string, header http.Header, body []byte, now time.Time) (StatusReport, error)
}
