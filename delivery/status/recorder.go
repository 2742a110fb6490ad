package status

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
)

var (
	//go:embed lua/pick.lua
	pickSrc string
	//go:embed lua/result.lua
	resultSrc string
	//go:embed lua/callback.lua
	callbackSrc string
)

// Retention is how long a job's record (and its callback token) outlives
// the code. Carriers report most final statuses within minutes; one that
// comes later can no longer hand the (expired) code to another provider
// and would only feed statistics, so the record is not kept for it: every
// key of a code is gone within the hour after it expires.
const Retention = 30 * time.Minute

// Errors of Pick.
var (
	// ErrNoneLeft: every provider of the channel already accepted the job.
	ErrNoneLeft = errors.New("status: every provider already accepted this job")
	// ErrAllOpen: the providers left all have an open circuit (transient:
	// the queue retries later).
	ErrAllOpen = errors.New("status: every provider left has an open circuit")
	// ErrOtherProject: the job id's record belongs to another project.
	ErrOtherProject = errors.New("status: the job belongs to another project")
)

// Errors of Callback.
var (
	// ErrUnknown: no such job for this project and provider.
	ErrUnknown = errors.New("status: no such message")
	// ErrMismatch: the message id is not the job's.
	ErrMismatch = errors.New("status: the message id is not this job's")
)

// Key is the Redis key of a job's record (one hash tag per job: every
// script touches one key, so they run on Redis Cluster).
func Key(job string) string { return "otpd:dlv:{" + job + "}" }

// Job is what the record keeps of a job: enough to send it again to the
// next provider after an undelivered status.
type Job struct {
	ID, Project, Channel, To string
	// Sealed is the job's sealed payload (base64), as the queue stores it.
	Sealed  string
	Expires time.Time
}

// Candidate is a provider of the job's channel, in order.
type Candidate struct {
	ID   string
	Open bool // its circuit is open
}

// Update is one recorded status change.
type Update struct {
	Time      time.Time
	Job       string
	Project   string
	Channel   string
	To        string
	Provider  string
	Status    string
	ErrorCode string
}

// Resend is a job an undelivered status hands to the next provider.
type Resend struct {
	Job      Job
	Provider string // the provider it goes to
}

// Recorder keeps jobs' provider state and statuses in Redis.
type Recorder struct {
	rdb      redis.UniversalClient
	clock    clock.Clock
	counter  *prometheus.CounterVec
	outcomes Outcomes
	pick     *redis.Script
	result   *redis.Script
	callback *redis.Script
	single   *redis.Script
	mu       sync.Mutex
	observe  []func(Update)
}

// NewRecorder registers otpd_delivery_status_total on reg. A nil outcomes
// is NoOutcomes.
func NewRecorder(rdb redis.UniversalClient, clk clock.Clock, reg prometheus.Registerer, outcomes Outcomes) (*Recorder, error) {
	if outcomes == nil {
		outcomes = NoOutcomes{}
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_delivery_status_total",
		Help: "Delivery status changes by channel and status (queued, sent, delivered, undelivered, failed): acceptance by a provider, a permanent failure, and provider status callbacks. A repeated callback is not counted again.",
	}, []string{"channel", "status"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return &Recorder{rdb: rdb, clock: clk, counter: c, outcomes: outcomes,
		pick: redis.NewScript(pickSrc), result: redis.NewScript(resultSrc), callback: redis.NewScript(callbackSrc), single: redis.NewScript(singleSrc)}, nil
}

// Observe makes the recorder hand every status change to f as well (the
// development console). f must be quick and safe for concurrent use.
func (r *Recorder) Observe(f func(Update)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observe = append(r.observe, f)
}

func (r *Recorder) changed(u Update) {
	u.Time = r.clock.Now()
	r.counter.WithLabelValues(u.Channel, u.Status).Inc()
	if u.Status == Undelivered || u.Status == Failed {
		r.outcomes.DeliveryOutcome(u.Project, u.Channel, u.To, u.Status)
	}
	r.mu.Lock()
	obs := r.observe
	r.mu.Unlock()
	for _, f := range obs {
		f(u)
	}
}

// Pick chooses the provider that gets j now among candidates (the
// channel's providers in order) and records it as given the job.
func (r *Recorder) Pick(ctx context.Context, j Job, candidates []Candidate) (string, error) {
	args := []any{j.Project, j.Channel, j.To, j.Sealed, j.Expires.UnixMilli(),
		j.Expires.Add(Retention).UnixMilli(), len(candidates)}
	for _, c := range candidates {
		open := "0"
		if c.Open {
			open = "1"
		}
		args = append(args, c.ID, open)
	}
	got, err := r.pick.Run(ctx, r.rdb, []string{Key(j.ID)}, args...).Text()
	switch {
	case err != nil:
		return "", fmt.Errorf("status: pick: %w", err)
	case got == "":
		return "", ErrNoneLeft
	case got == "!open":
		return "", ErrAllOpen
	case got == "!project":
		return "", ErrOtherProject
	}
	return got, nil
}

// Accepted records that provider accepted j, under the provider's message
// id (Twilio's SID; "" when it gives none), as queued.
func (r *Recorder) Accepted(ctx context.Context, j Job, provider, messageID string) error {
	n, err := r.result.Run(ctx, r.rdb, []string{Key(j.ID)}, provider, "ok", messageID, "").Int()
	if err != nil {
		return fmt.Errorf("status: accepted: %w", err)
	}
	if n == 1 {
		r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: Queued})
	}
	if n == -1 {
		return fmt.Errorf("status: %s accepted job %s under a message id other than the one a callback reported", provider, j.ID)
	}
	return nil
}

// TransientFailure records that provider failed j in a way a retry may
// fix: the next attempt prefers another provider.
func (r *Recorder) TransientFailure(ctx context.Context, j Job, provider string) error {
	if err := r.result.Run(ctx, r.rdb, []string{Key(j.ID)}, provider, "tf", "", "").Err(); err != nil {
		return fmt.Errorf("status: transient failure: %w", err)
	}
	return nil
}

// PermanentFailure records that provider refused j for good, as failed.
func (r *Recorder) PermanentFailure(ctx context.Context, j Job, provider, code string) error {
	n, err := r.result.Run(ctx, r.rdb, []string{Key(j.ID)}, provider, "pf", "", SafeCode(code)).Int()
	if err != nil {
		return fmt.Errorf("status: permanent failure: %w", err)
	}
	if n == 1 {
		r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: Failed, ErrorCode: SafeCode(code)})
	}
	return nil
}

// Callback records a status a provider reported for the job b binds,
// under the provider's message id. order is the channel's providers in
// order (for the undelivered hand-over). It returns the job to send again
// when an undelivered or failed status hands it to the next provider.
func (r *Recorder) Callback(ctx context.Context, b Binding, messageID, status, code string, order []string) (*Resend, error) {
	rank := Rank(status)
	if rank == 0 {
		return nil, fmt.Errorf("status: %q is not a status", status)
	}
	args := []any{b.Project, b.Provider, messageID, status, rank, SafeCode(code), r.clock.Now().UnixMilli(), len(order)}
	for _, o := range order {
		args = append(args, o)
	}
	res, err := r.callback.Run(ctx, r.rdb, []string{Key(b.Job)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("status: callback: %w", err)
	}
	switch res[0] {
	case "unknown":
		return nil, ErrUnknown
	case "mismatch":
		return nil, ErrMismatch
	case "same":
		return nil, nil
	}
	if len(res) < 6 {
		return nil, errors.New("status: callback: short reply")
	}
	exp, _ := strconv.ParseInt(res[5], 10, 64)
	j := Job{ID: b.Job, Project: b.Project, Channel: res[2], To: res[3], Sealed: res[4], Expires: time.UnixMilli(exp)}
	r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: b.Provider, Status: status, ErrorCode: SafeCode(code)})
	if res[1] == "" {
		return nil, nil
	}
	return &Resend{Job: j, Provider: res[1]}, nil
}

// ProviderStatus is one provider's part of a job's record.
type ProviderStatus struct {
	Provider  string `json:"provider"`
	MessageID string `json:"messageId,omitempty"`
	Status    string `json:"status,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
}

// Get reads a job's record (Read).
func (r *Recorder) Get(ctx context.Context, job string) ([]ProviderStatus, error) {
	return Read(ctx, r.rdb, job)
}

// Read returns the providers given a job and what each reported, sorted
// by provider id; a missing record (never tracked, or expired) is nil,
// nil. It needs only a Redis client: tools (otpd deadletters) use it.
func Read(ctx context.Context, rdb redis.Cmdable, job string) ([]ProviderStatus, error) {
	h, err := rdb.HGetAll(ctx, Key(job)).Result()
	if err != nil || len(h) == 0 {
		return nil, err
	}
	var out []ProviderStatus
	for f := range h {
		name, ok := strings.CutPrefix(f, "try:")
		if !ok {
			continue
		}
		out = append(out, ProviderStatus{Provider: name, MessageID: h["sid:"+name], Status: h["st:"+name], ErrorCode: h["ec:"+name]})
	}
	slices.SortFunc(out, func(a, b ProviderStatus) int { return strings.Compare(a.Provider, b.Provider) })
	return out, nil
}
