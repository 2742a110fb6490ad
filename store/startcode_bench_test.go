package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkStartCodeRedis times StartCode (the one script of a gRPC start
// on a single node) on a real redis-server, as make bench's SignUpOrIn
// calls it: project P2benchmark…, email login ids, RuleAny, purpose
// signup-in, limits off, a delivery job sealed by the queue's Producer
// (16 shards, OTPD_QUEUE_MAXLEN 100000: 6250 per shard).
//
//   - new: a login id never seen (make bench's case: no user, no record).
//   - resend: a second start of the same login id (a record to replace).
//   - existing: a sign-in of a user who signed in before (the code goes
//     to the address the login index holds).
//   - full: as new, with every shard's stream at its cap (a provider
//     outage: each XADD trims).
//   - sms, sms-guard: as new, to new SMS numbers over 1000 prefixes of
//     one country, without and with the pumping guard (its check and
//     count of the prefix and the country, inside start.lua).
//
// It reports redis-cpu-µs/op, cmds/op and script-µs/op as
// BenchmarkVerifyLoginRedis does. Run: go test ./store/ -run '^$'
// -bench BenchmarkStartCodeRedis -benchtime 3000x -count 3
func BenchmarkStartCodeRedis(b *testing.B) {
	for _, v := range []string{"new", "resend", "existing", "full", "sms", "sms-guard"} {
		b.Run(v, func(b *testing.B) {
			_, c := testredis.Real(b)
			benchStartCode(b, c, v)
		})
	}
}

// benchJobs returns make bench's job producer.
func benchJobs(b *testing.B) (*queue.Producer, *queue.Layout) {
	sealer, err := seal.New([][]byte{make([]byte, seal.KeySize)})
	if err != nil {
		b.Fatal(err)
	}
	l, err := queue.NewLayout(16)
	if err != nil {
		b.Fatal(err)
	}
	return queue.NewProducer(sealer, 100000, randReader{}, l), l
}

// randReader is a cheap non-repeating stream of bytes for job ids.
type randReader struct{}

var randCounter uint64

func (randReader) Read(p []byte) (int, error) {
	for i := range p {
		randCounter = randCounter*6364136223846793005 + 1442695040888963407
		p[i] = byte(randCounter >> 56)
	}
	return len(p), nil
}

func benchStartCode(b *testing.B, c *redis.Client, variant string) {
	ctx := context.Background()
	s := store.NewRedisStore(c)
	if err := s.Preload(ctx); err != nil {
		b.Fatal(err)
	}
	jobs, layout := benchJobs(b)
	now := time.Now()
	id := func(i int) string { return fmt.Sprintf("user-%d@bench.test", i) }
	code := func(i int) store.NewCode {
		job, err := jobs.Prepare(context.Background(), delivery.Message{Project: benchProject, Channel: "email", Code: "123456",
			Purpose: "signup-in", ExpiresAt: now.Add(3 * time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		nc := store.NewCode{
			Key: store.CodeKey{Project: benchProject, LoginID: id(i), Channel: "email"}, Rule: store.RuleAny,
			Purpose: "signup-in", Hash: hash(fmt.Sprintf("secret1|signup-in|%06d", i%1000000)), Contact: store.ContactEmail,
			NewUserAddress: id(i), MaxAttempts: 5, ExpiresAt: now.Add(3 * time.Minute), Retain: 13 * time.Minute,
			Now: now, Job: job,
		}
		if strings.HasPrefix(variant, "sms") {
			num := fmt.Sprintf("+4479%03d%05d", i%1000, i/1000)
			nc.Key.LoginID, nc.Key.Channel, nc.Contact, nc.NewUserAddress = num, "sms", store.ContactPhone, num
			if variant == "sms-guard" {
				nc.Guard = &store.Guard{GuardParams: store.GuardParams{Window: time.Hour, CoolOff: time.Hour, CapPerShard: 625},
					Entities: []store.GuardEntity{
						{Key: store.GuardKey(benchProject, "sms", i%1000%16), Field: "p:" + num[1:9], MinSends: 1 << 30, MinConversion: 0.1},
						{Key: store.GuardKey(benchProject, "sms", 7), Field: "c:GB", MinSends: 1 << 30, MinConversion: 0.1}}}
			}
		}
		return nc
	}
	switch variant {
	case "resend":
		for i := range b.N {
			if r, err := s.StartCode(ctx, code(i)); err != nil || r.Status != store.StartOK {
				b.Fatal(r, err)
			}
		}
	case "existing":
		for i := range b.N {
			benchStart(b, ctx, s, id(i), store.RuleAny, "signup-in", now)
			if v, done, err := benchVerify(ctx, s, id(i), now); err != nil || v.Status != store.VerifyOK || done == nil {
				b.Fatal(v, err)
			}
		}
	case "full":
		fillStreams(b, ctx, c, jobs, layout)
	}
	codes := make([]store.NewCode, b.N)
	for i := range codes {
		codes[i] = code(i)
	}
	before := redisCounters(b, ctx, c)
	if cgHook != nil {
		cgHook(true)
	}
	b.ResetTimer()
	for i := range b.N {
		if r, err := s.StartCode(ctx, codes[i]); err != nil || r.Status != store.StartOK {
			b.Fatal(r, err)
		}
	}
	b.StopTimer()
	if cgHook != nil {
		cgHook(false)
	}
	after := redisCounters(b, ctx, c)
	n := float64(b.N)
	b.ReportMetric((after.cpu-before.cpu)*1e6/n, "redis-cpu-µs/op")
	b.ReportMetric(float64(after.calls-before.calls)/n, "cmds/op")
	b.ReportMetric(float64(after.scriptUsec-before.scriptUsec)/n, "script-µs/op")
	logCommands(b, before, after, n)
	if variant == "full" {
		// Every shard is still at its cap: each XADD trimmed.
		for _, sh := range layout.Shards() {
			if got := c.XLen(ctx, sh.Stream).Val(); got > 6250+100 {
				b.Fatalf("%s holds %d entries, cap 6250", sh.Stream, got)
			}
		}
	}
}

// fillStreams brings every shard's stream to its cap with entries shaped
// like a start's.
func fillStreams(b *testing.B, ctx context.Context, c *redis.Client, jobs *queue.Producer, layout *queue.Layout) {
	for _, sh := range layout.Shards() {
		for done := 0; done < 6250; done += 625 {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for range 625 {
					j, err := jobs.Prepare(context.Background(), delivery.Message{Project: benchProject, Channel: "email", Code: "123456",
						Purpose: "signup-in", ExpiresAt: time.Now().Add(3 * time.Minute)})
					if err != nil {
						return err
					}
					p.XAdd(ctx, &redis.XAddArgs{Stream: sh.Stream, Values: []any{
						"id", j.ID, "j", j.Payload, "to", "someone@bench.test", "exp", "1"}})
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// cgHook, when set, runs just before (true) and after (false) the timed
// loop of benchStartCode: a profiling harness (redis-server under
// callgrind) zeroes and dumps its counters there.
var cgHook func(on bool)
