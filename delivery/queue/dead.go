package queue

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// EntryID names the dead letter for Replay and Purge:
	// "<shard>/<stream entry id>", e.g. "7/1733100000000-0" or
	// "legacy/1733100000000-0".
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

// DeadLetters reads and acts on the dead-letter streams of every shard
// (legacy keys and every position, whatever the current shard count).
type DeadLetters struct {
	rdb    redis.Cmdable
	sealer *seal.Sealer
	maxLen int64
	layout *Layout
	replay *redis.Script
}

// NewDeadLetters works on rdb's dead letters; s opens their payloads and
// maxLen bounds the whole queue on replay (l.PerShard of it per stream).
func NewDeadLetters(rdb redis.Cmdable, s *seal.Sealer, maxLen int64, l *Layout) *DeadLetters {
	if maxLen <= 0 {
		maxLen = 100000
	}
	return &DeadLetters{rdb: rdb, sealer: s, maxLen: l.PerShard(maxLen), layout: l, replay: redis.NewScript(replaySrc)}
}

// cursor pages through one shard's dead letters.
type cursor struct {
	shard Shard
	page  []redis.XMessage
	next  string // XRANGE start of the next page; "" when done
}

func (c *cursor) fill(ctx context.Context, rdb redis.Cmdable) error {
	if len(c.page) > 0 || c.next == "" {
		return nil
	}
	ms, err := rdb.XRangeN(ctx, c.shard.Dead, c.next, "+", deadPage).Result()
	if err != nil {
		return err
	}
	c.page, c.next = ms, ""
	if len(ms) == deadPage {
		c.next = "(" + ms[len(ms)-1].ID
	}
	return nil
}

// Each calls f with every dead letter of every shard, oldest first (merged
// by entry id, whose first part is the time it was dead-lettered), reading
// each stream in pages; f returning false stops.
func (d *DeadLetters) Each(ctx context.Context, f func(DeadLetter) bool) error {
	all := d.layout.All()
	cs := make([]*cursor, len(all))
	for i, sh := range all {
		cs[i] = &cursor{shard: sh, next: "-"}
	}
	for {
		var best *cursor
		for _, c := range cs {
			if err := c.fill(ctx, d.rdb); err != nil {
				return err
			}
			if len(c.page) > 0 && (best == nil || entryLess(c.page[0].ID, best.page[0].ID)) {
				best = c
			}
		}
		if best == nil {
			return nil
		}
		m := best.page[0]
		best.page = best.page[1:]
		if !f(d.letter(best.shard, m)) {
			return nil
		}
	}
}

// entryLess orders stream entry ids ("<ms>-<seq>").
func entryLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) < len(bm)
	}
	if am != bm {
		return am < bm
	}
	x, _ := strconv.ParseUint(as, 10, 64)
	y, _ := strconv.ParseUint(bs, 10, 64)
	return x < y
}

func (d *DeadLetters) letter(sh Shard, m redis.XMessage) DeadLetter {
	e := entryFrom(m.Values)
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, _ := strconv.ParseInt(s("at"), 10, 64)
	dl := DeadLetter{EntryID: sh.Name + "/" + m.ID, JobID: e.ID, At: time.UnixMilli(at), Reason: s("reason"), Error: s("error"),
		Attempts: e.attempt(), To: e.To, Expiry: e.expiry()}
	if j, err := e.open(d.sealer); err != nil {
		dl.OpenError = err.Error()
	} else {
		dl.Project, dl.Channel = j.Project, j.Channel
	}
	return dl
}

// ErrBadEntryID is returned for a dead-letter id that names no shard.
var ErrBadEntryID = errors.New("queue: dead-letter id must be <shard>/<entry id>, as listed")

func (d *DeadLetters) parse(entryID string) (Shard, string, error) {
	name, id, ok := strings.Cut(entryID, "/")
	sh, known := d.layout.Shard(name)
	if !ok || !known || !isStreamID(id) {
		return Shard{}, "", fmt.Errorf("%w: %q", ErrBadEntryID, entryID)
	}
	return sh, id, nil
}

// isStreamID reports whether id is a whole stream entry id, <ms>-<seq>:
// XRANGE and XDEL read a bare <ms> differently (a whole millisecond, or
// <ms>-0), so replaying one could enqueue an entry it then fails to delete.
func isStreamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	return ok && allDigits(ms) && allDigits(seq)
}

func allDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Replay moves a dead letter back to its shard's job stream as a first
// attempt, with its job id and sealed payload (receivers still deduplicate
// by the id), atomically: replaying twice enqueues once. It reports whether
// the entry was still there. A shard outside the current layout is
// drained by the workers' sweep.
func (d *DeadLetters) Replay(ctx context.Context, entryID string) (bool, error) {
	sh, id, err := d.parse(entryID)
	if err != nil {
		return false, err
	}
	n, err := d.replay.Run(ctx, d.rdb, []string{sh.Dead, sh.Stream}, id, d.maxLen).Int()
	return n == 1, err
}

// Purge deletes dead letters by entry id and returns how many existed.
func (d *DeadLetters) Purge(ctx context.Context, entryIDs ...string) (int64, error) {
	byShard := map[string][]string{}
	var order []Shard
	for _, e := range entryIDs {
		sh, id, err := d.parse(e)
		if err != nil {
			return 0, err
		}
		if _, seen := byShard[sh.Name]; !seen {
			order = append(order, sh)
		}
		byShard[sh.Name] = append(byShard[sh.Name], id)
	}
	var total int64
	for _, sh := range order {
		n, err := d.rdb.XDel(ctx, sh.Dead, byShard[sh.Name]...).Result()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
