package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/delivery"
)

// Channel names, as in delivery.Outgoing.Channel.
const (
	channelEmail    = "email"
	channelSMS      = "sms"
	channelVoice    = "voice"
	channelWhatsApp = "whatsapp"
)

const (
	// maxResponseBody bounds how much of a response body is read (to parse
	// an error code, or drained so that the connection can be reused).
	maxResponseBody = 64 << 10
	// defaultHTTPTimeout bounds one request when NewTwilio or NewWebhook is
	// given a nil *http.Client.
	defaultHTTPTimeout = 15 * time.Second
	userAgent          = "otpd"
)

// RetryAfterError is a transient failure for which the service said how long
// to wait (an HTTP Retry-After header). The queue should not retry sooner
// than After. It is never permanent.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter tells the queue when to retry (queue.RetryAfterer).
func (e *RetryAfterError) RetryAfter() time.Duration { return e.After }

// cleanError prints msg, which is safe to log, while errors.Is and errors.As
// still reach cause, whose own text may hold a recipient or a URL.
type cleanError struct {
	msg   string
	cause error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.cause }

// retryableStatus reports whether an HTTP status is worth retrying.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// postHTTP sends req and classifies the outcome following the package rules.
// name prefixes messages ("twilio"); op names the request without its URL,
// which may hold credentials. errorCode, when set, extracts the service's
// error code from an error body; its result must be safe to log.
func postHTTP(hc *http.Client, req *http.Request, name, op string, now func() time.Time, errorCode func([]byte) string) error {
	_, err := postHTTPBody(hc, req, name, op, now, errorCode)
	return err
}

// postHTTPBody is postHTTP that returns a 2xx answer's body (at most
// maxResponseBody bytes).
func postHTTPBody(hc *http.Client, req *http.Request, name, op string, now func() time.Time, errorCode func([]byte) string) ([]byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(req.Context(), name, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		ok, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		return ok, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	msg := fmt.Sprintf("%s: %s: HTTP %d", name, op, resp.StatusCode)
	if errorCode != nil {
		if c := errorCode(body); c != "" {
			msg += " (code " + c + ")"
		}
	}
	base := errors.New(msg)
	if !retryableStatus(resp.StatusCode) {
		return nil, delivery.Permanent(base)
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now()); ok {
		return nil, &RetryAfterError{Err: base, After: d}
	}
	return nil, base
}

// transportError is the transient error for a request that got no response.
// The *url.Error's text (which holds the URL) is not printed.
func transportError(ctx context.Context, name, op string, err error) error {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(inner, cerr) {
		inner = cerr
	}
	return &cleanError{msg: fmt.Sprintf("%s: %s: %v", name, op, inner), cause: err}
}

// safeCode keeps a service error code only if it is a short token (at most 8
// digits, letters, '-' or '_'), too short to hold a phone number or a code
// echoed back by the service.
func safeCode(s string) string {
	if s == "" || len(s) > 8 {
		return ""
	}
	for _, r := range s {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_'
		if !ok {
			return ""
		}
	}
	return s
}

func defaultClient(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: defaultHTTPTimeout}
}
