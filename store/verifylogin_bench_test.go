package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkVerifyLoginRedis times VerifyLogin (the one script of a gRPC
// verify on a single node) on a real redis-server, as make bench's verify
// calls it: project P2benchmark…, email login ids, limits off, one HMAC
// secret × the engine's four purposes as candidates, a refresh token id,
// the default token cap, a login history entry.
//
//   - new: the first verify of a login id (creates and indexes the user).
//   - returning: a later verify of a user who signed in before (seeded
//     untimed: first login, then a new code).
//
// Besides ns/op it reports, from INFO deltas over the timed loop:
// redis-cpu-µs/op (used_cpu_user+used_cpu_sys), cmds/op (calls of every
// command but evalsha and info: the commands the script runs) and
// script-µs/op (evalsha's usec). Serial calls make redis-server's
// per-call syscall cost a large share of its CPU; cmds/op and script-µs/op
// are what the script itself costs. Run: go test ./store/ -run '^$'
// -bench BenchmarkVerifyLoginRedis -benchtime 3000x -count 3
func BenchmarkVerifyLoginRedis(b *testing.B) {
	for _, returning := range []bool{false, true} {
		name := "new"
		if returning {
			name = "returning"
		}
		b.Run(name, func(b *testing.B) { benchVerifyLogin(b, returning) })
	}
}

const benchProject = "P2benchmark00000000000000000" // make bench's project id

// benchPurposes are flow's candidate purposes (flow/channel.go).
var benchPurposes = []string{"signup", "signin", "signup-in", "update"}

func benchCandidates(code string) [][]byte {
	out := make([][]byte, 0, len(benchPurposes))
	for _, p := range benchPurposes {
		out = append(out, hash("secret1|"+p+"|"+code))
	}
	return out
}

func benchStart(b *testing.B, ctx context.Context, s *store.RedisStore, loginID string, rule store.Rule, purpose string, now time.Time) {
	res, err := s.StartCode(ctx, store.NewCode{
		Key: store.CodeKey{Project: benchProject, LoginID: loginID, Channel: "email"}, Rule: rule,
		Purpose: purpose, Hash: hash("secret1|" + purpose + "|123456"), Contact: store.ContactEmail, NewUserAddress: loginID,
		MaxAttempts: 5, ExpiresAt: now.Add(3 * time.Minute), Retain: 4 * time.Minute, Now: now,
	})
	if err != nil || res.Status != store.StartOK {
		b.Fatal(res, err)
	}
}

func benchVerify(ctx context.Context, s *store.RedisStore, loginID string, now time.Time) (store.VerifyResult, *store.LoginDone, error) {
	uid, err := store.NewUserID(rand.Reader, benchProject, loginID)
	if err != nil {
		return store.VerifyResult{}, nil, err
	}
	return s.VerifyLogin(ctx, store.Attempt{
		Key:        store.CodeKey{Project: benchProject, LoginID: loginID, Channel: "email"},
		Candidates: benchCandidates("123456"), Now: now, NewUserID: uid,
	}, store.Login{
		Project: benchProject, LoginID: loginID, Now: now, RefreshID: fmt.Sprintf("rt-%d", now.UnixNano()),
		RefreshExpiry: now.Add(30 * 24 * time.Hour),
		History:       store.LoginRecord{Time: now, IP: "192.0.2.10", UserAgent: "grpc-go/1.70.0", Channel: "email"},
	})
}

func benchVerifyLogin(b *testing.B, returning bool) {
	_, c := testredis.Real(b)
	ctx := context.Background()
	s := store.NewRedisStore(c)
	if err := s.Preload(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	id := func(i int) string { return fmt.Sprintf("user-%d@bench.test", i) }
	for i := range b.N {
		benchStart(b, ctx, s, id(i), store.RuleAny, "signup-in", now)
		if returning {
			if v, done, err := benchVerify(ctx, s, id(i), now); err != nil || v.Status != store.VerifyOK || done == nil {
				b.Fatal(v, err)
			}
			benchStart(b, ctx, s, id(i), store.RuleAny, "signup-in", now)
		}
	}
	before := redisCounters(b, ctx, c)
	if cgHook != nil {
		cgHook(true)
	}
	b.ResetTimer()
	for i := range b.N {
		v, done, err := benchVerify(ctx, s, id(i), now)
		if err != nil || v.Status != store.VerifyOK || done == nil || done.FirstSeen == returning {
			b.Fatal(v, done, err)
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
}

type counters struct {
	cpu        float64 // seconds
	calls      int64   // commands other than evalsha and info
	scriptUsec int64
	st         testredis.Stats
}

// logCommands logs, with -v, each command's calls and usec per op over
// the timed loop (INFO commandstats deltas): which commands a script runs,
// and what each costs redis-server (usec excludes the call's I/O).
func logCommands(b *testing.B, before, after counters, n float64) {
	names := make([]string, 0, len(after.st.Calls))
	for name := range after.st.Calls {
		if name != "info" && after.st.Calls[name] != before.st.Calls[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, name := range names {
		fmt.Fprintf(&sb, " %s=%.2f(%.2fµs)", name, float64(after.st.Calls[name]-before.st.Calls[name])/n,
			float64(after.st.Usec[name]-before.st.Usec[name])/n)
	}
	b.Logf("per op:%s", sb.String())
}

// redisCounters reads INFO cpu and commandstats.
func redisCounters(b *testing.B, _ context.Context, c *redis.Client) counters {
	st := testredis.ReadStats(b, c)
	out := counters{cpu: st.CPU / 1e6, scriptUsec: st.Usec["evalsha"], st: st}
	for name, n := range st.Calls {
		if name != "evalsha" && name != "info" {
			out.calls += n
		}
	}
	return out
}
