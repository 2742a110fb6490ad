package queue

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/delivery/seal"
)

//go:embed lua/replay.lua
var replaySrc string

// deadPage is how many dead letters one XRANGE reads.
const deadPage = 500

// DeadLetter is one dead-lettered job as an operator sees it. It never
// carries the code.
type DeadLetter struct {
	// EntryID is the dead-letter stream's entry id (for Replay and Purge).
	EntryID  string
	JobID    string
	At       time.Time // when it was dead-lettered
	Reason   string    // permanent, exhausted, unsealable
	Error    string
	Attempts int
	To       string    // the destination address (mask it before showing)
	Expiry   time.Time // the code's expiry
	// Project and Channel come from the sealed payload; OpenError is set
	// when it cannot be opened (unknown seal key), and they are empty.
	Project, Channel string
	OpenError        string
}

// DeadLetters reads and acts on the dead-letter stream.
type DeadLetters struct {
	rdb    redis.Cmdable
	sealer *seal.Sealer
	maxLen int64
	replay *redis.Script
}

// NewDeadLetters works on rdb's dead letters; s opens their payloads and
// maxLen bounds the job stream on replay.
func NewDeadLetters(rdb redis.Cmdable, s *seal.Sealer, maxLen int64) *DeadLetters {
	if maxLen <= 0 {
		maxLen = 100000
	}
	return &DeadLetters{rdb: rdb, sealer: s, maxLen: maxLen, replay: redis.NewScript(replaySrc)}
}

// Each calls f with every dead letter, oldest first, reading the stream in
// pages; f returning false stops.
func (d *DeadLetters) Each(ctx context.Context, f func(DeadLetter) bool) error {
	start := "-"
	for {
		ms, err := d.rdb.XRangeN(ctx, DeadKey, start, "+", deadPage).Result()
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !f(d.letter(m)) {
				return nil
			}
		}
		if len(ms) < deadPage {
			return nil
		}
		start = "(" + ms[len(ms)-1].ID
	}
}

func (d *DeadLetters) letter(m redis.XMessage) DeadLetter {
	e := entryFrom(m.Values)
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, _ := strconv.ParseInt(s("at"), 10, 64)
	dl := DeadLetter{EntryID: m.ID, JobID: e.ID, At: time.UnixMilli(at), Reason: s("reason"), Error: s("error"),
		Attempts: e.attempt(), To: e.To, Expiry: e.expiry()}
	if j, err := e.open(d.sealer); err != nil {
		dl.OpenError = err.Error()
	} else {
		dl.Project, dl.Channel = j.Project, j.Channel
	}
	return dl
}

// Replay moves a dead letter back to the job stream as a first attempt,
// with its job id and sealed payload (receivers still deduplicate by the
// id), atomically: replaying twice enqueues once. It reports whether the
// entry was still there.
func (d *DeadLetters) Replay(ctx context.Context, entryID string) (bool, error) {
	n, err := d.replay.Run(ctx, d.rdb, []string{DeadKey, StreamKey}, entryID, d.maxLen).Int()
	return n == 1, err
}

// Purge deletes dead letters by entry id and returns how many existed.
func (d *DeadLetters) Purge(ctx context.Context, entryIDs ...string) (int64, error) {
	if len(entryIDs) == 0 {
		return 0, nil
	}
	return d.rdb.XDel(ctx, DeadKey, entryIDs...).Result()
}
