package provider

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's request signature is HMAC-SHA1.
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/otpd/otpd/delivery"
)

// HeaderTwilioSignature is the header Twilio signs its requests with.
const HeaderTwilioSignature = "X-Twilio-Signature"

// Status callback failures.
var (
	// ErrCallbackSignature: unsigned or mis-signed.
	ErrCallbackSignature = errors.New("status callback: missing or invalid signature")
	// ErrCallbackBody: signed, but not a status otpd reads.
	ErrCallbackBody = errors.New("status callback: not a message or call status")
)

var _ delivery.CallbackVerifier = (*Twilio)(nil)

// TwilioSignature is Twilio's X-Twilio-Signature of a form POST: the
// base64 of HMAC-SHA1, keyed by the account's auth token, over the full
// URL Twilio called followed by every POST parameter's name and value,
// sorted by name (a repeated name: its values sorted too).
func TwilioSignature(authToken, fullURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyCallback checks X-Twilio-Signature over fullURL and the form body
// (constant-time compare; a missing header is refused), that the callback
// is for this provider's account, and reads the message's (MessageSid,
// MessageStatus) or call's (CallSid, CallStatus) status and ErrorCode.
func (t *Twilio) VerifyCallback(fullURL string, header http.Header, body []byte, _ time.Time) (delivery.StatusReport, error) {
	got := header.Get(HeaderTwilioSignature)
	form, err := url.ParseQuery(string(body))
	if got == "" || err != nil {
		return delivery.StatusReport{}, ErrCallbackSignature
	}
	if !hmac.Equal([]byte(got), []byte(TwilioSignature(t.cfg.AuthToken, fullURL, form))) {
		return delivery.StatusReport{}, ErrCallbackSignature
	}
	if form.Get("AccountSid") != t.cfg.AccountSID {
		return delivery.StatusReport{}, ErrCallbackSignature
	}
	sid, st, call := form.Get("MessageSid"), form.Get("MessageStatus"), false
	if sid == "" {
		sid, st, call = form.Get("CallSid"), form.Get("CallStatus"), true
	}
	status, ok := TwilioStatus(st, call)
	if !ok || !validSID(sid) {
		return delivery.StatusReport{}, ErrCallbackBody
	}
	return delivery.StatusReport{MessageID: sid, Status: status, ErrorCode: safeCode(form.Get("ErrorCode"))}, nil
}

// validSID accepts a Twilio SID: two letters and 32 hex digits.
func validSID(s string) bool {
	if len(s) != 34 {
		return false
	}
	for i, r := range s {
		switch {
		case i < 2 && r >= 'A' && r <= 'Z':
		case i >= 2 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'f'):
		default:
			return false
		}
	}
	return true
}

// TwilioStatus maps a Twilio MessageStatus or CallStatus to a delivery
// status; ok is false for a value Twilio does not document.
func TwilioStatus(s string, call bool) (string, bool) {
	s = strings.ToLower(s)
	if call {
		switch s {
		case "queued", "initiated":
			return delivery.StatusQueued, true
		case "ringing", "in-progress":
			return delivery.StatusSent, true
		case "completed":
			return delivery.StatusDelivered, true
		case "busy", "no-answer":
			return delivery.StatusUndelivered, true
		case "failed", "canceled":
			return delivery.StatusFailed, true
		}
		return "", false
	}
	switch s {
	case "accepted", "scheduled", "queued":
		return delivery.StatusQueued, true
	case "sending", "sent":
		return delivery.StatusSent, true
	case "delivered", "read":
		return delivery.StatusDelivered, true
	case "undelivered":
		return delivery.StatusUndelivered, true
	case "failed", "canceled":
		return delivery.StatusFailed, true
	}
	return "", false
}
