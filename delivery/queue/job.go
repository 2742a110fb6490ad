// Package queue is otpd's durable delivery queue: Redis Streams of sealed
// jobs, sharded over several hash slots (Layout), consumed by a worker
// pool through a consumer group.
//
// Guarantees (at-least-once):
//   - A start enqueues its job in the same Redis round trip that stores the
//     code (the store's start script runs XADD) on a single node or
//     Sentinel; on Redis Cluster the XADD is the start's next round trip,
//     and a failed XADD undoes the start (see store.RedisStore.StartCode).
//     No RPC waits on a provider, and a provider outage never fails a start.
//   - Job payloads are sealed (package seal) with the job id as bound data;
//     the code is never in Redis in clear. The destination address is
//     stored in clear next to the sealed payload (it is in the user record
//     anyway).
//   - A transient failure parks the job in a delayed set with exponential
//     backoff and jitter (honouring a provider's Retry-After); a permanent
//     failure, or the last allowed attempt, moves it to the dead-letter
//     stream with the reason. Nothing is dropped silently.
//   - A worker that dies holding a job leaves it pending in the group;
//     another worker reclaims it (XAUTOCLAIM) after ClaimIdle. A live
//     worker keeps the idle time of jobs waiting in its batch low, so they
//     are never reclaimed from it.
//   - Redis errors, at startup or later, never stop a worker: it retries
//     every second and reports its state (Worker.State). A job can
//     therefore be delivered twice; every attempt carries the same job id,
//     which providers send as an idempotency key.
//   - A job whose code has expired is dropped (and counted), never sent.
//   - Streams are trimmed (MAXLEN ~ at a start, exact MAXLEN elsewhere) so
//     a dead provider cannot grow Redis without bound; trimming drops the
//     oldest entries. A start's approximate trim drops whole stream nodes:
//     a shard may pass its cap by less than one node's entries
//     (stream-node-max-entries, 100 by default).
//
// Keys, per shard (one hash tag per shard, so the scripts run on Redis
// Cluster; <tag> is "q<position>-<k>", see Layout, or "q" for the legacy
// pre-sharding keys):
//
//	otpd:{<tag>}:jobs     stream   id, j (sealed job, base64), to, exp (ms), a (attempt;
//	                               absent on a first attempt: starts of the previous
//	                               release wrote "1", this one writes none)
//	otpd:{<tag>}:delayed  zset     parked entries (JSON) by due time
//	otpd:{<tag>}:dead     stream   dead letters: the entry plus reason and error
package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/store"
)

// Group is the consumer group every worker joins, on every shard.
const Group = "otpd-workers"

// Job is one message to deliver.
type Job struct {
	ID      string
	Attempt int
	To      string
	// Trace is the W3C traceparent of the request that queued the job
	// ("" when that request was not traced), for the delivery's span to
	// link to.
	Trace string
	// Sealed is the job's sealed payload as queued (base64), kept by the
	// status record so that an undelivered message can go to the next
	// provider.
	Sealed string
	delivery.Message
}

// payload is the sealed part of a job: everything but the address.
type payload struct {
	Project         string            `json:"p"`
	Channel         string            `json:"c"`
	Code            string            `json:"k"`
	Purpose         string            `json:"u,omitempty"`
	ExpiresAt       int64             `json:"e"`
	Locale          string            `json:"l,omitempty"`
	TemplateID      string            `json:"t,omitempty"`
	TemplateOptions map[string]string `json:"o,omitempty"`
	ProviderID      string            `json:"v,omitempty"`
	Notice          *noticePayload    `json:"n,omitempty"`
	Trace           string            `json:"tr,omitempty"`
}

// noticePayload is a security notice's delivery.Notice.
type noticePayload struct {
	Contact   string `json:"c"`
	NewMasked string `json:"m"`
	ChangedAt int64  `json:"t"` // unix ms
}

// Sealed is a job ready to enqueue: what the store's start script adds to
// the stream (with the address it decides).
type Sealed struct {
	ID      string
	Payload string // base64 of the sealed payload
	Expiry  time.Time
}

// Seal prepares m for the queue under a fresh job id.
func Seal(s *seal.Sealer, id string, m delivery.Message) (Sealed, error) {
	return sealJob(s, id, m, "")
}

// sealJob seals m, and the trace context of the request that queued it.
func sealJob(s *seal.Sealer, id string, m delivery.Message, trace string) (Sealed, error) {
	pl := payload{
		Project: m.Project, Channel: m.Channel, Code: m.Code, Purpose: m.Purpose,
		ExpiresAt: m.ExpiresAt.UnixMilli(), Locale: m.Locale, TemplateID: m.TemplateID,
		TemplateOptions: m.TemplateOptions, ProviderID: m.ProviderID, Trace: trace,
	}
	if n := m.Notice; n != nil {
		pl.Notice = &noticePayload{Contact: n.Contact, NewMasked: n.NewMasked, ChangedAt: n.ChangedAt.UnixMilli()}
	}
	b, err := json.Marshal(pl)
	if err != nil {
		return Sealed{}, err
	}
	sealed, err := s.Seal(b, []byte(id))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{ID: id, Payload: base64.StdEncoding.EncodeToString(sealed), Expiry: m.ExpiresAt}, nil
}

// entry is a stream entry's fields.
type entry struct {
	ID      string `json:"id"`
	Sealed  string `json:"j"`
	To      string `json:"to"`
	Expiry  string `json:"exp"`
	Attempt string `json:"a"`
}

func entryFrom(values map[string]any) entry {
	s := func(k string) string { v, _ := values[k].(string); return v }
	return entry{ID: s("id"), Sealed: s("j"), To: s("to"), Expiry: s("exp"), Attempt: s("a")}
}

func (e entry) expiry() time.Time {
	ms, _ := strconv.ParseInt(e.Expiry, 10, 64)
	return time.UnixMilli(ms)
}

// attempt is the entry's attempt number: 1 when 'a' is absent (a start's
// entry) or unreadable.
func (e entry) attempt() int {
	n, err := strconv.Atoi(e.Attempt)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// open unseals an entry into a Job.
func (e entry) open(s *seal.Sealer) (Job, error) {
	raw, err := base64.StdEncoding.DecodeString(e.Sealed)
	if err != nil {
		return Job{}, fmt.Errorf("queue: job %s: %w", e.ID, seal.ErrOpen)
	}
	pt, err := s.Open(raw, []byte(e.ID))
	if err != nil {
		return Job{}, fmt.Errorf("queue: job %s: %w", e.ID, err)
	}
	var p payload
	if err := json.Unmarshal(pt, &p); err != nil {
		return Job{}, fmt.Errorf("queue: job %s: payload: %w", e.ID, err)
	}
	j := Job{ID: e.ID, Attempt: e.attempt(), To: e.To, Trace: p.Trace, Sealed: e.Sealed, Message: delivery.Message{
		Project: p.Project, Channel: p.Channel, To: e.To, Code: p.Code, Purpose: p.Purpose,
		ExpiresAt: time.UnixMilli(p.ExpiresAt), Locale: p.Locale, TemplateID: p.TemplateID,
		TemplateOptions: p.TemplateOptions, ProviderID: p.ProviderID,
	}}
	if n := p.Notice; n != nil {
		j.Notice = &delivery.Notice{Contact: n.Contact, NewMasked: n.NewMasked, ChangedAt: time.UnixMilli(n.ChangedAt)}
	}
	return j, nil
}

// Enqueue adds a sealed job for to on shard sh, as the store's start
// script does inside its own round trip (same fields, MAXLEN ~); this is
// for tests and tools.
func Enqueue(ctx context.Context, rdb redis.Cmdable, sh Shard, s Sealed, to string, maxLen int64) error {
	return rdb.XAdd(ctx, &redis.XAddArgs{Stream: sh.Stream, MaxLen: maxLen, Approx: true, Values: []any{
		"id", s.ID, "j", s.Payload, "to", to, "exp", strconv.FormatInt(s.Expiry.UnixMilli(), 10),
	}}).Err()
}

// Producer seals messages into jobs for the store's start script.
type Producer struct {
	sealer *seal.Sealer
	maxLen int64
	random io.Reader
	layout *Layout
	trace  func(context.Context) string
}

// NewProducer returns a Producer that spreads jobs over l's shards, the
// whole queue bounded by maxLen; random makes job ids (crypto/rand).
func NewProducer(s *seal.Sealer, maxLen int64, random io.Reader, l *Layout) *Producer {
	if maxLen <= 0 {
		maxLen = 100000
	}
	return &Producer{sealer: s, maxLen: l.PerShard(maxLen), random: random, layout: l}
}

// WithTrace makes the producer seal, into each job, what trace returns for
// the request's context (its W3C traceparent; package tracing), so that
// the delivery can be linked to the request. It returns p.
func (p *Producer) WithTrace(trace func(context.Context) string) *Producer {
	p.trace = trace
	return p
}

// Prepare seals m (its To is decided by the start script) under a new id,
// for the shard the id picks.
func (p *Producer) Prepare(ctx context.Context, m delivery.Message) (*store.Job, error) {
	var b [12]byte
	if _, err := io.ReadFull(p.random, b[:]); err != nil {
		return nil, err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	var trace string
	if p.trace != nil {
		trace = p.trace(ctx)
	}
	sj, err := sealJob(p.sealer, id, m, trace)
	if err != nil {
		return nil, err
	}
	return &store.Job{ID: id, Payload: sj.Payload, Stream: p.layout.forID(b[:]).Stream, MaxLen: p.maxLen}, nil
}
