package devconsole

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	dstatus "github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/service"
)

// ActivitySize is how many blocked sends and how many delivery attempts
// the console keeps (each; older ones are dropped first). Every kept
// string is bounded (maxActivityText), so the whole stays under 1 MiB.
const (
	ActivitySize    = 100
	maxActivityText = 512
)

// Blocked is a start (sign-up, sign-in, sign-up-or-in, update email or
// phone) that otpd refused, so nothing was sent: a rate limit, a phone
// number the project does not allow, a disabled or unknown user, a bad
// request.
type Blocked struct {
	Time      time.Time `json:"time"`
	Project   string    `json:"project,omitempty"`
	Method    string    `json:"method"`
	Channel   string    `json:"channel"`
	LoginID   string    `json:"loginId"`
	Code      string    `json:"grpcCode"`
	ErrorCode string    `json:"errorCode,omitempty"`
	Message   string    `json:"message"`
	// RetryAfter is the Retry-After of a rate limit, in seconds.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// Attempt is one delivery attempt by any provider and its outcome: sent,
// retrying (a transient failure: the queue tries again with backoff, and
// after the last attempt dead-letters it) or failed (permanent); or a
// status a provider recorded for the message (Status: queued on
// acceptance, then sent, delivered, undelivered or failed from its status
// callbacks, with the provider's error code).
type Attempt struct {
	Time      time.Time `json:"time"`
	JobID     string    `json:"jobId"`
	Project   string    `json:"project"`
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Attempt   int       `json:"attempt"`
	Outcome   string    `json:"outcome"`
	Error     string    `json:"error,omitempty"`
	Provider  string    `json:"provider,omitempty"`
	Status    string    `json:"status,omitempty"`
	ErrorCode string    `json:"errorCode,omitempty"`
}

// Status records a delivery status change (status.Recorder.Observe).
func (a *Activity) Status(u dstatus.Update) {
	if a == nil {
		return
	}
	at := Attempt{Time: u.Time, JobID: u.Job, Project: u.Project, Channel: u.Channel, To: bound(u.To),
		Outcome: "status", Provider: bound(u.Provider), Status: u.Status, ErrorCode: bound(u.ErrorCode)}
	a.mu.Lock()
	a.attempts = keep(a.attempts, at)
	a.mu.Unlock()
}

// Activity keeps the recent blocked sends and delivery attempts. It is
// safe for concurrent use; a nil *Activity records nothing.
type Activity struct {
	mu       sync.Mutex
	blocked  []Blocked
	attempts []Attempt
	now      func() time.Time
}

// NewActivity returns an empty Activity.
func NewActivity(now func() time.Time) *Activity { return &Activity{now: now} }

func keep[T any](s []T, v T) []T {
	if len(s) >= ActivitySize {
		s = append(s[:0:0], s[len(s)-ActivitySize+1:]...)
	}
	return append(s, v)
}

func bound(s string) string {
	if len(s) > maxActivityText {
		return s[:maxActivityText] + "…"
	}
	return s
}

// startMethods are the RPCs that send a code, by method name.
var startMethods = map[string]bool{"SignUp": true, "SignIn": true, "SignUpOrIn": true, "UpdateEmail": true, "UpdatePhone": true}

// channelOf is the channel of an otp.v1.Otp<Channel> service ("" for any
// other service).
func channelOf(fullMethod string) (channel, method string) {
	svc, m, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/otp.v1.Otp"), "/")
	if !ok || svc == fullMethod || !startMethods[m] {
		return "", ""
	}
	return strings.ToLower(svc), m
}

// Interceptor records every refused start. It must run inside the layer
// that adds the call record and converts errors to statuses (it reads
// the project from the record after the call).
func (a *Activity) Interceptor(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if a == nil {
		return next
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := next(ctx, req, info, h)
		if err == nil {
			return resp, err
		}
		channel, method := channelOf(info.FullMethod)
		if channel == "" {
			return resp, err
		}
		b := Blocked{Time: a.now(), Method: method, Channel: channel}
		if r, ok := req.(interface{ GetLoginId() string }); ok {
			b.LoginID = bound(r.GetLoginId())
		}
		if p, ok := service.ProjectFrom(ctx); ok {
			b.Project = p.ID
		}
		st := status.Convert(err)
		b.Code, b.Message = st.Code().String(), bound(st.Message())
		if e := apierr.FromStatus(st); e != nil {
			b.ErrorCode, b.RetryAfter = e.Code, e.RetryAfterSeconds
			b.Message = bound(cmp.Or(e.Message, e.Description))
		}
		a.mu.Lock()
		a.blocked = keep(a.blocked, b)
		a.mu.Unlock()
		return resp, err
	}
}

// Track wraps a delivery handler to record each attempt's outcome. The
// error text is kept (the console is for development: it shows addresses
// and codes anyway).
func (a *Activity) Track(h queue.Handler) queue.Handler {
	if a == nil {
		return h
	}
	return func(ctx context.Context, j queue.Job) error {
		err := h(ctx, j)
		at := Attempt{Time: a.now(), JobID: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Attempt: j.Attempt, Outcome: "sent"}
		switch {
		case err == nil:
		case delivery.IsPermanent(err) || errors.Is(err, context.Canceled):
			at.Outcome, at.Error = "failed", bound(err.Error())
		default:
			at.Outcome, at.Error = "retrying", bound(err.Error())
		}
		a.mu.Lock()
		a.attempts = keep(a.attempts, at)
		a.mu.Unlock()
		return err
	}
}

// Snapshot returns the kept blocked sends and attempts, newest first.
func (a *Activity) Snapshot() (blocked []Blocked, attempts []Attempt) {
	if a == nil {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	blocked, attempts = make([]Blocked, len(a.blocked)), make([]Attempt, len(a.attempts))
	for i, b := range a.blocked {
		blocked[len(a.blocked)-1-i] = b
	}
	for i, at := range a.attempts {
		attempts[len(a.attempts)-1-i] = at
	}
	return blocked, attempts
}

// activity serves the blocked sends and delivery attempts.
func (c *Console) activity(w http.ResponseWriter, _ *http.Request) {
	blocked, attempts := c.o.Activity.Snapshot()
	if blocked == nil {
		blocked = []Blocked{}
	}
	if attempts == nil {
		attempts = []Attempt{}
	}
	writeJSON(w, map[string]any{"blocked": blocked, "deliveries": attempts})
}
