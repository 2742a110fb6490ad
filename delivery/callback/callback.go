// Package callback serves POST /v1/delivery/status: the status callbacks
// of Twilio (form posts signed with X-Twilio-Signature) and of webhook
// receivers (JSON signed like otpd's webhook requests). Each callback URL
// carries a token otpd signed (package status) that binds it to one job,
// its project and the provider it was handed to; the provider checks the
// request's own signature, and the status record checks that the message
// id is the job's. A callback therefore cannot touch another project's
// messages, nor another job's. Request bodies are never logged: they hold
// phone numbers.
package callback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/provider"
	"github.com/otpd/otpd/delivery/status"
)

// Path is where callbacks are served; the token is the query parameter t.
const Path = "/v1/delivery/status"

// MaxBody bounds a callback body: Twilio's status posts are well under
// 2 KiB.
const MaxBody = 8 << 10

// Providers finds the provider a token names, and its channel's providers
// in order (the undelivered hand-over's candidates).
type Providers interface {
	Callbacks(project, provider string) (delivery.CallbackVerifier, bool)
	Order(project, channel string) []string
}

// Options are the handler's dependencies.
type Options struct {
	Signer    *status.Signer
	Recorder  *status.Recorder
	Providers Providers
	// Resend queues a job again for the next provider.
	Resend func(ctx context.Context, r status.Resend) error
	// BaseURL is OTPD_STATUS_CALLBACK_URL: the URL providers call is
	// BaseURL + Path + "?t=" + token, and Twilio signs exactly that.
	BaseURL string
	Clock   clock.Clock
	// Rate is how many signed callbacks per second are taken in all (a
	// burst of twice that); beyond it 429. Unsigned requests never count.
	Rate int
	Log  *slog.Logger
	// WriteError writes Descope's error body (gateway.WriteError).
	WriteError func(http.ResponseWriter, *apierr.Error)
}

// URL is the callback URL for a binding.
func URL(base string, s *status.Signer, b status.Binding) string {
	return base + Path + "?t=" + s.Token(b)
}

// Handler serves the callbacks.
type Handler struct {
	o       Options
	mu      sync.Mutex
	tokens  float64
	refill  time.Time
	refused func(reason string)
}

// New returns the handler; refused, when set, hears each refusal's reason
// (a metric).
func New(o Options, refused func(reason string)) *Handler {
	if refused == nil {
		refused = func(string) {}
	}
	return &Handler{o: o, tokens: float64(2 * o.Rate), refill: o.Clock.Now(), refused: refused}
}

// allow takes one token from the endpoint's bucket.
func (h *Handler) allow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.o.Clock.Now()
	h.tokens = min(float64(2*h.o.Rate), h.tokens+now.Sub(h.refill).Seconds()*float64(h.o.Rate))
	h.refill = now
	if h.tokens < 1 {
		return false
	}
	h.tokens--
	return true
}

var (
	errForbidden = apierr.ErrUnauthorized.With("The status callback is not signed for this message")
	errNotFound  = apierr.ErrNotFound.With("No such message")
)

func (h *Handler) refuse(w http.ResponseWriter, reason string, e *apierr.Error) {
	h.refused(reason)
	h.o.WriteError(w, e)
}

// ServeHTTP records one status callback: 204 when recorded (or already
// known), 401 unsigned, mis-signed or a bad token, 404 an unknown
// message, 400 a body that is not a status, 413 too large, 429 a signed
// callback over the rate, 503 Redis unavailable (safe to retry).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, "method", apierr.ErrMethodNotAllowed.With("Use POST"))
		return
	}
	if r.ContentLength > MaxBody {
		h.refuse(w, "size", apierr.ErrBadRequest.With("The callback body is larger than %d bytes", MaxBody))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(body) > MaxBody {
		h.refuse(w, "size", apierr.ErrBadRequest.With("The callback body is larger than %d bytes", MaxBody))
		return
	}
	q := r.URL.Query()
	if len(q) != 1 || len(q["t"]) != 1 {
		h.refuse(w, "token", errForbidden)
		return
	}
	now := h.o.Clock.Now()
	b, err := h.o.Signer.Verify(q.Get("t"), now)
	if err != nil {
		h.refuse(w, "token", errForbidden)
		return
	}
	v, ok := h.o.Providers.Callbacks(b.Project, b.Provider)
	if !ok {
		h.refuse(w, "token", errForbidden)
		return
	}
	rep, err := v.VerifyCallback(h.o.BaseURL+Path+"?"+r.URL.RawQuery, r.Header, body, now)
	if err != nil {
		if errors.Is(err, provider.ErrCallbackSignature) {
			h.refuse(w, "signature", errForbidden)
		} else {
			h.refuse(w, "body", apierr.ErrBadRequest.With("The callback does not carry a message status otpd reads"))
		}
		return
	}
	// The rate is taken only now, by signed callbacks: an unsigned or
	// forged flood (refused above for the price of a read of at most
	// MaxBody and an HMAC, no Redis call) cannot crowd out the real ones,
	// which Twilio never retries. What it bounds is the Redis work.
	if !h.allow() {
		w.Header().Set("Retry-After", "1")
		h.refuse(w, "rate", apierr.ErrRateLimited.With("Too many status callbacks").WithRetryAfter(1))
		return
	}
	order := []string{b.Provider} // a job that named its provider stays with it
	if !b.Pinned {
		order = h.o.Providers.Order(b.Project, b.Channel)
	}
	rs, err := h.o.Recorder.Callback(r.Context(), b, rep.MessageID, rep.Status, rep.ErrorCode, order)
	switch {
	case errors.Is(err, status.ErrUnknown), errors.Is(err, status.ErrMismatch):
		h.refuse(w, "unknown", errNotFound)
		return
	case err != nil:
		h.o.Log.Warn("could not record a delivery status", "job", b.Job, "error", err)
		h.refuse(w, "unavailable", apierr.ErrUnavailable.With("Try again later"))
		return
	}
	if rs != nil {
		if err := h.o.Resend(context.WithoutCancel(r.Context()), *rs); err != nil {
			h.o.Log.Error("could not queue an undelivered message for the next provider", "job", b.Job, "provider", rs.Provider, "error", err)
		} else {
			h.o.Log.Info("undelivered message handed to the channel's next provider", "job", b.Job, "from", b.Provider, "to", rs.Provider)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
