package queue

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/redisconn"
)

// Shard counts.
const (
	// MaxShards is the number of shard positions: the slot space is cut
	// into MaxShards equal ranges and position j's keys hash into the
	// middle of range j. A layout of N shards uses N of the positions.
	MaxShards = 64
	// DefaultShards is OTPD_QUEUE_SHARDS's default: on a 3-master Cluster
	// 16 shards land 5/6/5 on the masters.
	DefaultShards = 16
)

// The pre-sharding keys: one stream, delayed set and dead-letter stream in
// the {q} slot. Workers still drain them and the dead-letter tools still
// read them (an upgrade may leave jobs there; an older replica still
// enqueues there during a rolling upgrade).
const (
	LegacyStreamKey  = "otpd:{q}:jobs"
	LegacyDelayedKey = "otpd:{q}:delayed"
	LegacyDeadKey    = "otpd:{q}:dead"
	legacyName       = "legacy"
)

// Shard is one part of the queue: a job stream, its delayed set and its
// dead-letter stream, all under one hash tag so that every queue script
// stays in one Cluster slot.
type Shard struct {
	// Name is the position ("0".."63") or "legacy"; dead-letter ids carry it.
	Name                  string
	Stream, Delayed, Dead string
}

func shardWithTag(name, tag string) Shard {
	p := "otpd:{" + tag + "}:"
	return Shard{Name: name, Stream: p + "jobs", Delayed: p + "delayed", Dead: p + "dead"}
}

func legacyShard() Shard {
	return Shard{Name: legacyName, Stream: LegacyStreamKey, Delayed: LegacyDelayedKey, Dead: LegacyDeadKey}
}

// positionTag is position j's hash tag: "q<j>-<k>" with the smallest k
// whose slot falls in the middle half of the j-th of MaxShards equal slot
// ranges. It is part of the storage format: never change it.
func positionTag(j int) string {
	const width = 16384 / MaxShards
	lo, hi := j*width+width/4, j*width+3*width/4
	for k := 0; ; k++ {
		tag := "q" + strconv.Itoa(j) + "-" + strconv.Itoa(k)
		if s := int(redisconn.Slot(tag)); s >= lo && s < hi {
			return tag
		}
	}
}

// Layout says which shards producers spread jobs over and workers block
// on (the active ones), and which others workers still drain: the legacy
// keys and the positions of any other shard count.
type Layout struct {
	active []Shard
	byName map[string]Shard
}

// ValidShards reports whether n is an allowed shard count: a power of two
// from 1 to MaxShards (so the shards are evenly spaced over the slots).
func ValidShards(n int) bool { return n >= 1 && n <= MaxShards && n&(n-1) == 0 }

// NewLayout returns the layout of n shards. Shard i of n is the middle
// position of the i-th of n equal blocks of positions, so the n shards'
// slots are evenly spaced over 0..16383, and Redis Cluster (contiguous
// slot ranges per master) spreads them evenly over the masters.
func NewLayout(n int) (*Layout, error) {
	if !ValidShards(n) {
		return nil, fmt.Errorf("queue: %d shards: want a power of two from 1 to %d", n, MaxShards)
	}
	l := &Layout{byName: make(map[string]Shard, MaxShards+1)}
	leg := legacyShard()
	l.byName[leg.Name] = leg
	step := MaxShards / n
	for j := range MaxShards {
		s := shardWithTag(strconv.Itoa(j), positionTag(j))
		l.byName[s.Name] = s
		if j%step == step/2 {
			l.active = append(l.active, s)
		}
	}
	return l, nil
}

// Shards are the active shards: jobs are enqueued on them.
func (l *Layout) Shards() []Shard { return l.active }

// All is every shard that may hold jobs: the legacy keys first, then every
// position (active or not).
func (l *Layout) All() []Shard {
	all := make([]Shard, 0, MaxShards+1)
	all = append(all, l.byName[legacyName])
	for j := range MaxShards {
		all = append(all, l.byName[strconv.Itoa(j)])
	}
	return all
}

// Shard returns the shard called name ("legacy" or a position).
func (l *Layout) Shard(name string) (Shard, bool) {
	s, ok := l.byName[name]
	return s, ok
}

// PerShard is a shard's part of a bound on the whole queue (rounded up):
// each shard's streams are trimmed at PerShard(OTPD_QUEUE_MAXLEN), so the
// whole queue stays near the bound whatever the shard count.
func (l *Layout) PerShard(total int64) int64 {
	n := int64(len(l.active))
	return (total + n - 1) / n
}

// forID picks the shard of a job by its id's random bytes: job ids are
// 96 random bits, so the spread is uniform without drawing more
// randomness, and a job id always names the same shard.
func (l *Layout) forID(raw []byte) Shard {
	return l.active[binary.BigEndian.Uint32(raw[:4])%uint32(len(l.active))]
}

// ForJob is the shard of a job id that a Producer made (base64url of 12
// random bytes); ok is false for any other string.
func (l *Layout) ForJob(id string) (Shard, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < 4 {
		return Shard{}, false
	}
	return l.forID(raw), true
}

// Depth counts the jobs waiting or unacknowledged (in the streams) and
// parked for a retry (in the delayed sets) over every shard, legacy
// included, in one pipeline: a transaction except on Cluster (where a job
// moving between a delayed set and its stream may be missed by one call).
func (l *Layout) Depth(ctx context.Context, rdb redis.Cmdable) (jobs, delayed int64, err error) {
	all := l.All()
	xl := make([]*redis.IntCmd, len(all))
	zc := make([]*redis.IntCmd, len(all))
	pipelined := rdb.TxPipelined
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		pipelined = rdb.Pipelined
	}
	if _, err := pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range all {
			xl[i], zc[i] = p.XLen(ctx, s.Stream), p.ZCard(ctx, s.Delayed)
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	for i := range all {
		jobs += xl[i].Val()
		delayed += zc[i].Val()
	}
	return jobs, delayed, nil
}
