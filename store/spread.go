package store

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Project-wide buckets on Redis Cluster (split-slot mode).
//
// Every project-wide bucket is its own hash tag (LimitKey), so a project's
// buckets spread over the slots. A start or verify charges each of them
// with a single-key script (limits.lua over one key), all sent in one
// pipeline: go-redis sends each master its share in parallel, so this is
// one round trip whatever the number of buckets. A single-key command
// follows a migrating slot's ASK redirect; a multi-key script over keys
// split by a migration gets TRYAGAIN.
//
// The buckets are no longer charged atomically together: each one charges
// when it allows. When one refuses (outside a dry run), the ones this
// request charged are refunded in a second round trip (refund-on-deny), so
// a refused request keeps no charge. Meanwhile (under a millisecond) a
// concurrent request can see those buckets one event fuller than they end
// up: it is refused at most one event early.

// Project budget shards (Sharded buckets, Cluster only).
const (
	// maxShards is the most sub-buckets a Sharded bucket is split into.
	maxShards = 8
	// minShare is the smallest sub-bucket: a budget below 2*minShare stays
	// one key (its sub-buckets would be too small to even out).
	minShare = 100
)

// shards is how many sub-buckets a Sharded bucket of count events is
// split into on Cluster: min(8, count/100), at least 1.
func shards(count int) int {
	return max(1, min(maxShards, count/minShare))
}

// shard picks the sub-bucket this request charges: sub-buckets are taken
// in turn (per bucket key, per store), so each replica spreads its charges
// evenly and the budget's sub-buckets fill together. Sub-bucket i holds
// count/k events (the remainder goes to the first ones): they add up to
// count exactly, and so do their refill rates.
func (s *RedisStore) shard(b Bucket) Bucket {
	k := shards(b.Count)
	if !b.Sharded || k == 1 || !strings.HasSuffix(b.Key, "}") {
		return b
	}
	v, _ := s.turns.LoadOrStore(b.Key, new(atomic.Uint64))
	i := int(v.(*atomic.Uint64).Add(1) % uint64(k))
	share := b.Count / k
	if i < b.Count%k {
		share++
	}
	b.Key = b.Key[:len(b.Key)-1] + ":" + strconv.Itoa(i) + "}"
	b.Count = share
	return b
}

// applyLimits charges project-wide buckets on their own (split-slot mode):
// one single-key script per bucket, pipelined. It returns the refusing
// bucket (limited, nothing kept), or the bucket a dry run would have
// refused (would), and the buckets it charged (for the caller's undo when a
// later step fails). On an error the buckets it knows it charged are
// refunded; one whose reply was lost may keep its charge (one event).
func (s *RedisStore) applyLimits(ctx context.Context, bs []Bucket, now time.Time, dry bool) (limited, would string, retry time.Duration, charged []Bucket, err error) {
	if len(bs) == 0 {
		return "", "", 0, nil, nil
	}
	bs = append([]Bucket(nil), bs...)
	for i, b := range bs {
		bs[i] = s.shard(b)
	}
	calls := make([]scriptCall, len(bs))
	for i, b := range bs {
		calls[i] = scriptCall{keys: []string{b.Key}, args: appendTriples([]any{now.UnixMilli(), dryFlag(dry)}, bs[i:i+1])}
	}
	cmds := s.evalEach(ctx, limitsScript, calls)
	for i, c := range cmds {
		res, cerr := c.StringSlice()
		switch {
		case cerr != nil:
			if err == nil {
				err = unavailable(cerr)
			}
		case len(res) != 3:
			if err == nil {
				err = errShape("limits.lua")
			}
		case res[0] == "limited":
			if limited == "" {
				ms, _ := strconv.ParseInt(res[2], 10, 64)
				limited, retry = res[1], time.Duration(ms)*time.Millisecond
			}
		case res[1] != "": // dry run: would refuse, not charged
			if would == "" {
				would = res[1]
			}
		default:
			charged = append(charged, bs[i])
		}
	}
	if err != nil || limited != "" {
		// Refund-on-deny: a refused (or failed) request keeps no charge.
		// Best effort: a refund that fails leaves one event in a bucket.
		_ = s.refund(ctx, charged)
		return limited, "", retry, nil, err
	}
	return "", would, 0, charged, nil
}

// refund gives back one event to each bucket (single-key undo.lua per
// bucket, pipelined) with its own short deadline: it runs on failure
// paths, after the request's own call failed or was refused.
func (s *RedisStore) refund(ctx context.Context, bs []Bucket) error {
	if len(bs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	calls := make([]scriptCall, len(bs))
	for i, b := range bs {
		// undo.lua without a code: KEYS[1] only names the slot.
		calls[i] = scriptCall{keys: []string{b.Key, b.Key}, args: []any{"", b.Count, b.Window.Milliseconds()}}
	}
	for _, c := range s.evalEach(ctx, undoScript, calls) {
		if err := c.Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// scriptCall is one run of a script.
type scriptCall struct {
	keys []string
	args []any
}

// evalEach runs sc once per call in one pipeline (EVALSHA; on Cluster one
// batch per master, in parallel, following MOVED and ASK redirects). Calls
// that hit a server without the script (NOSCRIPT: restarted, promoted, or
// the target of a slot migration) run again on their own through
// Script.Run (EVALSHA, then EVAL). Each call's outcome is in its Cmd.
func (s *RedisStore) evalEach(ctx context.Context, sc *redis.Script, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = sc.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range cmds {
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmds[i] = sc.Run(ctx, s.c, calls[i].keys, calls[i].args...)
		}
	}
	return cmds
}
