package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/internal/testredis"
)

// fuzzNow is the fuzzers' clock; fuzzLive is an expiry after it.
var (
	fuzzNow  = time.UnixMilli(1_800_000_000_000)
	fuzzLive = fuzzNow.Add(5 * time.Minute)
)

type fuzzQueue struct {
	rdb    *redis.Client
	sealer *seal.Sealer
	w      *Worker
	calls  []Job
	answer error
	sh     Shard // the shard the entries go through
}

func newFuzzQueue(f *testing.F) *fuzzQueue {
	_, rdb := testredis.Mini(f)
	return newQueueOn(f, rdb)
}

func newQueueOn(f testing.TB, rdb *redis.Client) *fuzzQueue {
	s, err := seal.New([][]byte{bytes.Repeat([]byte{9}, seal.KeySize)})
	if err != nil {
		f.Fatal(err)
	}
	q := &fuzzQueue{rdb: rdb, sealer: s}
	q.w = NewWorker(rdb, s, func(_ context.Context, j Job) error {
		q.calls = append(q.calls, j)
		return q.answer
	}, clock.NewFake(fuzzNow), slog.New(slog.NewTextHandler(io.Discard, nil)), nil,
		Options{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }, Consumer: "fuzz"})
	q.sh = q.w.o.Layout.Shards()[3]
	return q
}

func (q *fuzzQueue) reset(t testing.TB) {
	ctx := context.Background()
	q.calls, q.answer = nil, nil
	if err := q.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := EnsureGroup(ctx, q.rdb, q.sh); err != nil {
		t.Fatal(err)
	}
}

// read takes the next entry as a consumer does.
func (q *fuzzQueue) read(t *testing.T) redis.XMessage {
	t.Helper()
	res, err := q.rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: Group, Consumer: "fuzz", Streams: []string{q.sh.Stream, ">"}, Count: 1, Block: -1,
	}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != 1 {
		t.Fatalf("reading the entry: %v %v", res, err)
	}
	return res[0].Messages[0]
}

// where reports how many entries the stream, the delayed set and the dead
// letters hold, and how many are pending in the group.
func (q *fuzzQueue) where(t testing.TB) (stream, delayed, dead, pending int64) {
	t.Helper()
	ctx := context.Background()
	var err error
	if stream, err = q.rdb.XLen(ctx, q.sh.Stream).Result(); err != nil {
		t.Fatal(err)
	}
	if delayed, err = q.rdb.ZCard(ctx, q.sh.Delayed).Result(); err != nil {
		t.Fatal(err)
	}
	if dead, err = q.rdb.XLen(ctx, q.sh.Dead).Result(); err != nil {
		t.Fatal(err)
	}
	p, err := q.rdb.XPending(ctx, q.sh.Stream, Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return stream, delayed, dead, p.Count
}

// FuzzQueueEntry: a stream entry is Redis data anyone with access to Redis,
// a bug, or an older version may have written. Whatever its fields, one
// pass of the worker settles it: delivered or dropped (acknowledged and
// deleted), parked for a retry, or dead-lettered. It is never left pending
// (a reclaim loop), never handed to the provider unless it opened, and a
// parked entry comes back from the delayed set with its fields intact and
// its attempt counted.
func FuzzQueueEntry(f *testing.F) {
	q := newFuzzQueue(f)
	live := strconv.FormatInt(fuzzLive.UnixMilli(), 10)
	for _, s := range []struct {
		id, j, to, exp, a string
		mode              uint8
	}{
		{"job-1", "", "+14155550123", live, "1", 1},        // a real job, delivered
		{"job-2", "", "ada@example.com", live, "2", 1 | 2}, // fails for now: parked
		{"job-3", "", "ada@example.com", live, "3", 1 | 2}, // last attempt: dead
		{"job-4", "", "+14155550123", live, "1", 1 | 4},    // permanent failure: dead
		{"job-5", "", "x", "", "", 1},                      // no expiry: dropped
		{"job-6", "not base64!", "x", live, "1", 0},        // unsealable: dead
		{"job-7", "AQAAAAA=", "x", live, "0", 0},           // truncated: dead
		{"", "", "", live, "-1", 1},                        // empty id
		{"job-8", "", "\xff\xfe", live, "99999999999999999999", 1 | 2},
		{"job-9", "", "a\"b\\c\x00d", "1e3", "1", 1 | 2},
	} {
		f.Add(s.id, s.j, s.to, s.exp, s.a, s.mode)
	}
	f.Fuzz(func(t *testing.T, id, j, to, exp, a string, mode uint8) {
		q.reset(t)
		ctx := context.Background()
		sealed := mode&1 != 0
		if sealed {
			// A payload that opens, so the entry reaches the provider.
			sj, err := Seal(q.sealer, id, delivery.Message{Project: "P1", Channel: "sms", Code: "123456",
				Purpose: "signin", ExpiresAt: fuzzLive, TemplateOptions: map[string]string{"k": j}})
			if err != nil {
				t.Fatal(err)
			}
			j = sj.Payload
		}
		switch {
		case mode&4 != 0:
			q.answer = delivery.Permanent(errors.New("rejected"))
		case mode&2 != 0:
			q.answer = errors.New("unavailable")
		}
		if err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.sh.Stream, Values: []any{
			"id", id, "j", j, "to", to, "exp", exp, "a", a}}).Err(); err != nil {
			t.Fatal(err)
		}
		m := q.read(t)
		if q.w.process(ctx, q.sh, m) {
			q.w.ack(ctx, q.sh, m.ID)
		}

		stream, delayed, dead, pending := q.where(t)
		if pending != 0 || stream != 0 || delayed+dead > 1 {
			t.Fatalf("entry not settled: stream %d, delayed %d, dead %d, pending %d", stream, delayed, dead, pending)
		}
		e := entry{ID: id, Sealed: j, To: to, Expiry: exp, Attempt: a}
		expired := !fuzzNow.Before(e.expiry())
		if len(q.calls) > 0 {
			got := q.calls[0]
			if expired || len(q.calls) != 1 || got.ID != id || got.To != to || got.Code != "123456" || got.Attempt < 1 {
				t.Fatalf("provider got %+v (expired %v, calls %d)", got, expired, len(q.calls))
			}
		} else if sealed && !expired {
			t.Fatal("a live job that opens never reached the provider")
		}
		switch {
		case expired || (len(q.calls) == 1 && q.answer == nil):
			if delayed+dead != 0 {
				t.Fatalf("a delivered or expired job is also parked (%d) or dead (%d)", delayed, dead)
			}
		case delayed == 1:
			q.checkParked(t, e)
		case dead != 1:
			t.Fatalf("a failed job was neither parked nor dead-lettered")
		}
	})
}

// checkParked promotes the parked entry e and checks it comes back as it
// left, one attempt later.
func (q *fuzzQueue) checkParked(t *testing.T, e entry) {
	t.Helper()
	ctx := context.Background()
	q.w.clock = clock.NewFake(fuzzNow.Add(time.Hour))
	defer func() { q.w.clock = clock.NewFake(fuzzNow) }()
	q.w.promoteDue(ctx, q.sh)
	stream, delayed, _, _ := q.where(t)
	if stream != 1 || delayed != 0 {
		t.Fatalf("promoting a parked job: stream %d, delayed %d", stream, delayed)
	}
	back := entryFrom(q.read(t).Values)
	if want := strconv.Itoa(e.attempt() + 1); back.Attempt != want {
		t.Fatalf("attempt %q after %q, want %s", back.Attempt, e.Attempt, want)
	}
	valid := utf8.ValidString(e.ID) && utf8.ValidString(e.To) && utf8.ValidString(e.Expiry)
	if valid && (back.ID != e.ID || back.Sealed != e.Sealed || back.To != e.To || back.Expiry != e.Expiry) {
		t.Fatalf("parked %+v came back as %+v", e, back)
	}
}

// FuzzPromoteParked: a member of the delayed set that is not an entry the
// worker parked (corrupt, hand-edited, another version's) must not stop
// promotion: it is dead-lettered and the due entries behind it move on.
func FuzzPromoteParked(f *testing.F) {
	q := newFuzzQueue(f)
	for _, s := range []string{
		`{"id":"j1","j":"AQ==","to":"+14155550123","exp":"1","a":"2"}`,
		`{"id":"j1"}`, `not json`, `[]`, `{"id":1,"j":{},"to":null,"exp":true,"a":[]}`, `""`, `{}`, ``,
		`{"id":"j1","j":"x","to":"y","exp":"1","a":"2","extra":"z"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, member string) { checkPromoteMalformed(t, q, member) })
}

// TestPromoteMalformedRealRedis runs FuzzPromoteParked's check on a real
// redis-server, whose cjson differs from miniredis's.
func TestPromoteMalformedRealRedis(t *testing.T) {
	t.Parallel()
	_, rdb := testredis.Real(t)
	q := newQueueOn(t, rdb)
	for _, m := range []string{`not json`, `{"id":"j1"}`, `[]`, `{"id":1,"j":{},"to":null,"exp":true,"a":[]}`,
		strings.Repeat("[", 2000) + strings.Repeat("]", 2000)} {
		checkPromoteMalformed(t, q, m)
	}
}

func checkPromoteMalformed(t testing.TB, q *fuzzQueue, member string) {
	t.Helper()
	const good = `{"id":"ok","j":"AQ==","to":"+14155550123","exp":"1","a":"2"}`
	if member == good {
		return
	}
	q.reset(t)
	ctx := context.Background()
	due := float64(fuzzNow.UnixMilli())
	if err := q.rdb.ZAdd(ctx, q.sh.Delayed, redis.Z{Score: due - 1, Member: member}, redis.Z{Score: due, Member: good}).Err(); err != nil {
		t.Fatal(err)
	}
	q.w.promoteDue(ctx, q.sh)
	stream, delayed, dead, _ := q.where(t)
	if delayed != 0 || stream+dead != 2 {
		t.Fatalf("after promotion of %q: stream %d, delayed %d, dead %d", member, stream, delayed, dead)
	}
	found := false
	msgs, err := q.rdb.XRange(ctx, q.sh.Stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		found = found || m.Values["id"] == "ok"
	}
	if !found {
		t.Fatalf("the due entry behind %q was not promoted", member)
	}
}
