package queue

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/ack.lua
var ackSrc string

// maxAckFlush is how many finished jobs one acknowledgement carries at
// most; reaching it flushes at once (it bounds the script's arguments).
const maxAckFlush = 1024

// maxAckRetained is how many finished jobs whose acknowledgement failed
// are kept to try again with the next flush (a Redis timeout or failover
// would otherwise send every job of the window again after ClaimIdle);
// beyond it they are dropped and left to the reclaim. ack.lua unpacks one
// stream's ids into one command: well below Lua's 8000-value limit.
const maxAckRetained = 2 * maxAckFlush

// ackRetryDelay is how long the acker waits before trying a failed
// acknowledgement again (with whatever finished meanwhile).
const ackRetryDelay = time.Second

// finished is a processed batch's jobs to acknowledge: sent or expired.
type finished struct {
	shard Shard
	ids   []string
}

// acks collects finished jobs over every shard until they are flushed.
type acks struct {
	order []Shard             // shards in the order first seen
	ids   map[string][]string // by stream; empty when not in order
	n     int
}

func (a *acks) add(f finished) {
	if len(f.ids) == 0 {
		return
	}
	if a.ids == nil {
		a.ids = map[string][]string{}
	}
	if len(a.ids[f.shard.Stream]) == 0 {
		a.order = append(a.order, f.shard)
	}
	a.ids[f.shard.Stream] = append(a.ids[f.shard.Stream], f.ids...)
	a.n += len(f.ids)
}

// reset empties a, keeping its slices for the next jobs.
func (a *acks) reset() {
	a.keep(nil)
}

// keep empties a but for the shards in failed.
func (a *acks) keep(failed map[string]bool) {
	order, n := a.order[:0], 0
	for _, sh := range a.order {
		if failed[sh.Stream] {
			order = append(order, sh)
			n += len(a.ids[sh.Stream])
		} else {
			a.ids[sh.Stream] = a.ids[sh.Stream][:0]
		}
	}
	a.order, a.n = order, n
}

// acker acknowledges what the processors finished: it waits up to
// AckDelay after the first finished job for more, then acknowledges and
// deletes them all in one round trip (per master on Cluster). At-least-
// once holds: a job is acknowledged only after its handler returned, and
// one whose acknowledgement fails stays pending, reclaimed after
// ClaimIdle. When in closes, what is left is flushed.
func (w *Worker) acker(ctx context.Context, in <-chan finished) {
	var pending acks
	t := time.NewTimer(time.Hour)
	t.Stop()
	armed := false
	for {
		select {
		case f, ok := <-in:
			if !ok {
				w.flush(ctx, &pending)
				pending.reset() // what failed now is left to the reclaim
				return
			}
			pending.add(f)
			switch {
			case pending.n >= maxAckFlush:
				t.Stop()
				armed = false
				if w.flush(ctx, &pending) {
					t.Reset(ackRetryDelay)
					armed = true
				}
			case !armed && pending.n > 0:
				t.Reset(w.o.AckDelay)
				armed = true
			}
		case <-t.C:
			armed = false
			if w.flush(ctx, &pending) {
				t.Reset(ackRetryDelay)
				armed = true
			}
		}
	}
}

// done hands a batch's finished jobs to the acker.
func (w *Worker) done(sh Shard, ids []string) {
	if len(ids) > 0 {
		w.finished <- finished{shard: sh, ids: ids}
	}
}

// ack acknowledges and deletes sh's finished entries now (once: a
// failure leaves them to the reclaim).
func (w *Worker) ack(ctx context.Context, sh Shard, ids ...string) {
	var a acks
	a.add(finished{shard: sh, ids: ids})
	w.flush(ctx, &a)
}

// flush acknowledges and deletes the collected entries (ack.lua, atomic
// per stream): one script over every shard on a single node or Sentinel,
// one per shard in one pipeline on Cluster (where a script's keys share a
// slot; the pipeline sends one round trip per master). What succeeded is
// removed from a; the entries of a failed round trip stay in a, to be
// tried again, up to maxAckRetained (retry reports that some stayed).
func (w *Worker) flush(ctx context.Context, a *acks) (retry bool) {
	if a.n == 0 {
		return false
	}
	var failed map[string]bool
	fail := func(sh Shard, n int, err error) {
		w.log.Error("could not acknowledge jobs; trying again", "shard", sh.Name, "entries", n, "error", err)
		if failed == nil {
			failed = map[string]bool{}
		}
		failed[sh.Stream] = true
	}
	if _, cluster := w.rdb.(*redis.ClusterClient); !cluster {
		keys, args := ackArgs(a.order, a.ids)
		if err := w.ackScript.Run(ctx, w.rdb, keys, args...).Err(); err != nil {
			for _, sh := range a.order {
				fail(sh, len(a.ids[sh.Stream]), err)
			}
		}
	} else {
		cmds := make([]*redis.Cmd, len(a.order))
		_, _ = w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range a.order {
				keys, args := ackArgs(a.order[i:i+1], a.ids)
				cmds[i] = w.ackScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		for i, sh := range a.order {
			err := cmds[i].Err()
			if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				keys, args := ackArgs(a.order[i:i+1], a.ids)
				err = w.ackScript.Run(ctx, w.rdb, keys, args...).Err()
			}
			if err != nil {
				fail(sh, len(a.ids[sh.Stream]), err)
			}
		}
	}
	a.keep(failed)
	if a.n > maxAckRetained {
		w.log.Error("too many unacknowledged jobs kept; left to the reclaim (they may be sent again)", "entries", a.n)
		a.reset()
	}
	return a.n > 0
}

// ackArgs are ack.lua's keys and arguments for shards.
func ackArgs(shards []Shard, ids map[string][]string) ([]string, []any) {
	keys := make([]string, len(shards))
	n := 0
	for i, sh := range shards {
		keys[i] = sh.Stream
		n += len(ids[sh.Stream])
	}
	args := make([]any, 0, 1+len(shards)+n)
	args = append(args, Group)
	for _, sh := range shards {
		args = append(args, strconv.Itoa(len(ids[sh.Stream])))
	}
	for _, sh := range shards {
		for _, id := range ids[sh.Stream] {
			args = append(args, id)
		}
	}
	return keys, args
}
