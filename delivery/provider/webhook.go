package provider

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/delivery"
)

// Webhook headers and signing parameters. See the package documentation for
// the receiver's side.
const (
	HeaderWebhookTimestamp = "X-Otpd-Timestamp"
	HeaderWebhookSignature = "X-Otpd-Signature"
	HeaderIdempotencyKey   = "Idempotency-Key"
	// WebhookSignatureVersion prefixes the hex HMAC in HeaderWebhookSignature.
	WebhookSignatureVersion = "v1"
	// MinWebhookSecret is the shortest accepted signing secret, in bytes.
	MinWebhookSecret = 32
	// DefaultWebhookTolerance is a sensible clock tolerance for receivers,
	// and the one VerifyWebhook uses when given tolerance <= 0.
	DefaultWebhookTolerance = 5 * time.Minute
)

// WebhookError is a webhook verification failure.
type WebhookError string

func (e WebhookError) Error() string { return string(e) }

// VerifyWebhook failures; test them with errors.Is.
const (
	ErrWebhookMalformed = WebhookError("webhook: missing or malformed timestamp or signature")
	ErrWebhookExpired   = WebhookError("webhook: timestamp outside tolerance")
	ErrWebhookSignature = WebhookError("webhook: signature mismatch")
)

// WebhookConfig configures the webhook provider.
type WebhookConfig struct {
	// URL is required and must be https unless AllowHTTP.
	URL string
	// AllowHTTP permits a plain http URL, for tests and local gateways only:
	// the code then crosses the network in clear.
	AllowHTTP bool
	// Secret is the HMAC-SHA256 signing key, at least 32 bytes.
	Secret []byte
	// Headers are extra request headers (for example the receiver's API
	// key). They cannot override the headers the provider sets itself.
	Headers map[string]string
}

// Webhook posts each Outgoing, signed, to an HTTPS gateway; any channel.
type Webhook struct {
	url     string
	secret  []byte
	headers map[string]string
	hc      *http.Client
	now     func() time.Time
}

var _ delivery.Provider = (*Webhook)(nil)

// NewWebhook checks c and returns the provider. A nil hc means an
// *http.Client with a 15s timeout; a nil now means time.Now.
func NewWebhook(c WebhookConfig, hc *http.Client, now func() time.Time) (*Webhook, error) {
	if c.URL == "" {
		return nil, errors.New("webhook: URL is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("webhook: URL is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.AllowHTTP:
	case u.Scheme == "http":
		return nil, errors.New("webhook: URL must be https (AllowHTTP permits http for tests and local gateways)")
	default:
		return nil, fmt.Errorf("webhook: unsupported URL scheme %q", u.Scheme)
	}
	if len(c.Secret) < MinWebhookSecret {
		return nil, fmt.Errorf("webhook: Secret must be at least %d bytes, got %d", MinWebhookSecret, len(c.Secret))
	}
	for k, v := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("webhook: invalid header %q", k)
		}
	}
	if now == nil {
		now = time.Now
	}
	return &Webhook{
		url:     c.URL,
		secret:  bytes.Clone(c.Secret),
		headers: maps.Clone(c.Headers),
		hc:      defaultClient(hc),
		now:     now,
	}, nil
}

// webhookBody is the JSON posted for one Outgoing.
type webhookBody struct {
	ID        string `json:"id"`
	Attempt   int    `json:"attempt"`
	Project   string `json:"project"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Code      string `json:"code"`
	ExpiresAt string `json:"expiresAt"`
	Locale    string `json:"locale"`
	Subject   string `json:"subject,omitempty"`
	Text      string `json:"text"`
	HTML      string `json:"html,omitempty"`
	// StatusCallback is where the receiver may report the message's
	// status (see the package documentation); absent when otpd asks for
	// none (no OTPD_STATUS_CALLBACK_URL).
	StatusCallback string `json:"statusCallback,omitempty"`
}

// Send posts o, signed, to the configured URL.
func (w *Webhook) Send(ctx context.Context, o delivery.Outgoing) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(webhookBody{
		ID:        o.ID,
		Attempt:   o.Attempt,
		Project:   o.Project,
		Channel:   o.Channel,
		To:        o.To,
		Code:      o.Code,
		ExpiresAt: o.ExpiresAt.UTC().Format(time.RFC3339),
		Locale:    o.Locale,
		Subject:   o.Subject,
		Text:      o.Text,
		HTML:      o.HTML,

		StatusCallback: o.StatusCallback,
	})
	if err != nil {
		return delivery.Permanent(fmt.Errorf("webhook: encoding body: %w", err))
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ts := strconv.FormatInt(w.now().Unix(), 10)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return delivery.Permanent(fmt.Errorf("webhook: building request: %w", err))
	}
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderWebhookTimestamp, ts)
	req.Header.Set(HeaderWebhookSignature, WebhookSignatureVersion+"="+webhookMAC(w.secret, ts, body))
	if o.ID != "" {
		req.Header.Set(HeaderIdempotencyKey, o.ID)
	}
	return postHTTP(w.hc, req, "webhook", "POST", w.now, nil)
}

// webhookMAC is hex(HMAC-SHA256(secret, timestamp + "." + body)).
func webhookMAC(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook is the receiver's check of a webhook request: timestamp and
// signature are the X-Otpd-Timestamp and X-Otpd-Signature header values, body
// the raw request body. It fails with ErrWebhookMalformed, ErrWebhookExpired
// (timestamp more than tolerance before or after now; tolerance <= 0 means
// DefaultWebhookTolerance) or ErrWebhookSignature. The signature header may
// list several comma-separated "v1=" entries (for example during a secret
// rotation); one match is enough. Comparisons are constant-time.
func VerifyWebhook(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return errors.New("webhook: empty secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	timestamp = strings.TrimSpace(timestamp)
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || secs < 0 {
		return ErrWebhookMalformed
	}
	// Compare in seconds so that absurd timestamps cannot overflow a Duration.
	skew := now.Unix() - secs
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(tolerance/time.Second) {
		return ErrWebhookExpired
	}
	want, _ := hex.DecodeString(webhookMAC(secret, timestamp, body))
	seen := false
	for entry := range strings.SplitSeq(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(entry), WebhookSignatureVersion+"=")
		if !ok {
			continue
		}
		got, err := hex.DecodeString(v)
		if err != nil {
			continue
		}
		seen = true
		if hmac.Equal(got, want) {
			return nil
		}
	}
	if !seen {
		return ErrWebhookMalformed
	}
	return ErrWebhookSignature
}
