package store

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/fraud_lib.lua
	fraudLib string
	//go:embed lua/fraud.lua
	fraudSrc string
	// fraudScript runs the pumping guard on one entity (fraud.lua).
	fraudScript = redis.NewScript(fraudLib + fraudSrc)
)

// GuardSlots is how many steps the pumping guard's window moves in.
const GuardSlots = 12

// Guard is the pumping guard's part of a start (package fraud builds it):
// the entities (destination prefix, country) judged before the send and
// charged one send when a code is stored. On a single node this costs no
// round trip (start.lua runs it); on Redis Cluster (split-slot mode) it
// costs two (a pipeline of checks before, a pipeline of counts after).
type Guard struct {
	Entities []GuardEntity
	// Shadow reports a block (StartResult.WouldBlock) without refusing.
	Shadow bool
	GuardParams
}

// GuardParams are a project's guard settings the store needs.
type GuardParams struct {
	Window, CoolOff time.Duration
	// CapPerShard caps the entities of one shard (GuardShards per project
	// and channel).
	CapPerShard int
}

// GuardEntity is one prefix or country of a project and channel.
type GuardEntity struct {
	// Key is the shard hash (GuardKey); its ':seen' set is Key + ":seen".
	Key string
	// Field is "p:<digits>" or "c:<ISO code>".
	Field string
	// MinSends, MinConversion: the block rule (MinSends 0: never block,
	// count only).
	MinSends      int
	MinConversion float64
}

// GuardShards is how many shard hashes a project's channel spreads its
// entities over (on Cluster: over as many slots).
const GuardShards = 16

// GuardKey is the shard hash of a project's channel: otpd:{P:fg:<ch>:<n>}.
func GuardKey(project, channel string, shard int) string {
	return "otpd:{" + escape(project) + ":fg:" + escape(channel) + ":" + strconv.Itoa(shard) + "}"
}

func (g *Guard) active() bool { return g != nil && len(g.Entities) > 0 }

func (p GuardParams) args() []any {
	slot := p.Window.Milliseconds() / GuardSlots
	return []any{strconv.FormatInt(max(slot, 1), 10), strconv.Itoa(GuardSlots), strconv.FormatInt(p.CoolOff.Milliseconds(), 10),
		strconv.FormatInt((p.Window + p.CoolOff).Milliseconds(), 10), strconv.Itoa(max(p.CapPerShard, 1))}
}

// appendGuard adds the guard's keys and start.lua arguments.
func (g *Guard) appendTo(keys []string, args []any) ([]string, []any) {
	args = append(args, strconv.Itoa(len(g.Entities)), dryFlag(g.Shadow))
	args = append(args, g.args()...)
	for _, e := range g.Entities {
		keys = append(keys, e.Key, e.Key+":seen")
		args = append(args, e.Field, strconv.Itoa(e.MinSends), strconv.FormatFloat(e.MinConversion, 'g', -1, 64))
	}
	return keys, args
}

// GuardOp is what RecordGuard counts.
type GuardOp string

// Guard counts.
const (
	GuardSend     GuardOp = "s"
	GuardVerified GuardOp = "v"
)

// RecordGuard counts n sends or verified codes on each entity, in one
// round trip (a pipeline of single-entity scripts: cluster-safe).
func (s *RedisStore) RecordGuard(ctx context.Context, g *Guard, op GuardOp, n int, now time.Time) error {
	if !g.active() {
		return nil
	}
	calls := make([]scriptCall, len(g.Entities))
	for i, e := range g.Entities {
		calls[i] = scriptCall{keys: []string{e.Key, e.Key + ":seen"},
			args: append([]any{string(op), e.Field, now.UnixMilli(), n, 0, 0}, g.args()...)}
	}
	for _, c := range s.evalEach(ctx, fraudScript, calls) {
		if err := c.Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// checkGuard judges the entities on their own (split-slot mode): the
// first blocked entity and its block's end, or "".
func (s *RedisStore) checkGuard(ctx context.Context, g *Guard, now time.Time) (entity string, until time.Time, err error) {
	calls := make([]scriptCall, len(g.Entities))
	for i, e := range g.Entities {
		calls[i] = scriptCall{keys: []string{e.Key, e.Key + ":seen"},
			args: append([]any{"check", e.Field, now.UnixMilli(), 0, e.MinSends, strconv.FormatFloat(e.MinConversion, 'g', -1, 64)}, g.args()...)}
	}
	for i, c := range s.evalEach(ctx, fraudScript, calls) {
		ms, err := c.Int64()
		if err != nil {
			return "", time.Time{}, unavailable(err)
		}
		if ms > 0 && entity == "" {
			entity, until = g.Entities[i].Field, time.UnixMilli(ms)
		}
	}
	return entity, until, nil
}
