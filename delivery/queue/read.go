package queue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// readBatch is how many jobs one read takes from one shard; they are
// processed in order by one processor and acknowledged together.
const readBatch = 16

// batch is jobs read from one shard, pending under this consumer.
type batch struct {
	shard Shard
	msgs  []redis.XMessage
	fresh time.Time // when their idle time was last reset (read or XCLAIM)
}

// read is a reader loop: it blocks on shards (one XREADGROUP naming them
// all, so a single node or Sentinel holds one blocking connection per
// worker whatever the shard count) and hands what it reads to the
// processors.
func (w *Worker) read(ctx context.Context, shards []Shard) {
	streams := make([]string, 0, 2*len(shards))
	byStream := make(map[string]Shard, len(shards))
	for _, sh := range shards {
		streams = append(streams, sh.Stream)
		byStream[sh.Stream] = sh
	}
	for range shards {
		streams = append(streams, ">")
	}
	// failing is this reader's part of w.failing: on Cluster each shard has
	// its own reader, and one master down must show in State while the
	// other readers keep succeeding.
	failing := false
	mark := func(bad bool) {
		if bad != failing {
			failing = bad
			if bad {
				w.failing.Add(1)
			} else {
				w.failing.Add(-1)
			}
		}
	}
	defer mark(false)
	for {
		err := ensureGroups(ctx, w.rdb, shards)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		mark(true)
		w.log.Warn("queue: cannot create the consumer groups yet; retrying", "error", err)
		sleep(ctx, time.Second)
	}
	mark(false)
	w.state.Store(StateRunning)
	for ctx.Err() == nil {
		res, err := w.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: Group, Consumer: w.o.Consumer, Streams: streams, Count: readBatch, Block: w.o.Block,
		}).Result()
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, redis.Nil): // nothing new within Block
				mark(false)
			case strings.HasPrefix(err.Error(), "NOGROUP"), strings.HasPrefix(err.Error(), "UNBLOCKED the stream key"):
				// A stream was deleted (e.g. FLUSHALL, or DEL while this
				// read was blocked on it): recreate it at once. (Other
				// UNBLOCKED replies, e.g. a master turned replica, are
				// read failures below.)
				if gerr := ensureGroups(ctx, w.rdb, shards); gerr != nil {
					mark(true)
					w.log.Warn("queue group lost and not recreated", "error", gerr)
					sleep(ctx, time.Second)
				}
			default:
				mark(true)
				w.log.Warn("queue read failed", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		mark(false)
		now := time.Now()
		bs := make([]batch, 0, len(res))
		full := false
		for _, s := range res {
			if len(s.Messages) > 0 {
				bs = append(bs, batch{shard: byStream[s.Stream], msgs: s.Messages, fresh: now})
				full = full || len(s.Messages) >= readBatch
			}
		}
		w.handoff(ctx, bs)
		if len(bs) > 0 && !full {
			// Let the next jobs gather (BatchWait) so that they are read
			// and acknowledged together: nothing read is held meanwhile.
			if d := w.o.BatchWait - time.Since(now); d > 0 {
				sleep(ctx, d)
			}
		}
	}
}

// handoff gives each batch to a free processor. While batches wait, their
// idle time is reset every ClaimIdle/4 so that no other worker reclaims
// them; if ctx ends first, they are processed here (jobs already read are
// finished). A reader therefore holds at most one read's batches beyond
// those being processed, and reads again only once they are handed over.
func (w *Worker) handoff(ctx context.Context, bs []batch) {
	if len(bs) == 0 {
		return
	}
	t := time.NewTicker(max(w.o.ClaimIdle/4, time.Millisecond))
	defer t.Stop()
	detached := context.WithoutCancel(ctx)
	for len(bs) > 0 {
		select {
		case w.work <- bs[0]:
			bs = bs[1:]
		case <-t.C:
			for i := range bs {
				w.refresh(detached, bs[i].shard, bs[i].msgs)
				bs[i].fresh = time.Now()
			}
		case <-ctx.Done():
			for _, b := range bs {
				w.processBatch(detached, b)
			}
			return
		}
	}
}

// sweep drains the shards outside the layout: the legacy pre-sharding keys
// and the positions of other shard counts (an older version or another
// OTPD_QUEUE_SHARDS still enqueueing there, or jobs left from before a
// change). One pipeline of XLEN and ZCARD over every shard finds those
// holding anything (and samples the depth gauges); for each, due retries
// are promoted, new jobs read (without blocking) and stalled ones
// reclaimed. A full read sweeps again at once.
func (w *Worker) sweep(ctx context.Context) {
	active := make(map[string]bool, len(w.o.Layout.active))
	for _, sh := range w.o.Layout.active {
		active[sh.Name] = true
	}
	for ctx.Err() == nil {
		all := w.o.Layout.All()
		xl := make([]*redis.IntCmd, len(all))
		zc := make([]*redis.IntCmd, len(all))
		dl := make([]*redis.IntCmd, len(all))
		if _, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, sh := range all {
				xl[i], zc[i], dl[i] = p.XLen(ctx, sh.Stream), p.ZCard(ctx, sh.Delayed), p.XLen(ctx, sh.Dead)
			}
			return nil
		}); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("queue sweep failed", "error", err)
			}
			return
		}
		var waiting, parked, dead int64
		full := false
		for i, sh := range all {
			waiting, parked, dead = waiting+xl[i].Val(), parked+zc[i].Val(), dead+dl[i].Val()
			if active[sh.Name] {
				continue
			}
			if zc[i].Val() > 0 {
				w.promoteDue(ctx, sh)
			}
			if xl[i].Val() > 0 {
				full = w.drain(ctx, sh) || full
			}
		}
		if w.metrics != nil {
			w.metrics.depth.WithLabelValues("waiting").Set(float64(waiting))
			w.metrics.depth.WithLabelValues("parked").Set(float64(parked))
			w.metrics.depth.WithLabelValues("dead").Set(float64(dead))
		}
		if !full {
			return
		}
	}
}

// drain reads one batch of new jobs from a shard outside the layout
// without blocking, hands it over, and reclaims its stalled jobs. It
// reports whether the read was full (more may wait).
func (w *Worker) drain(ctx context.Context, sh Shard) bool {
	// No MKSTREAM: the stream exists (it has entries); an older version's
	// API server may have created it without the group.
	if err := w.rdb.XGroupCreate(ctx, sh.Stream, Group, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		w.log.Warn("queue: cannot create the consumer group of a shard to drain", "shard", sh.Name, "error", err)
		return false
	}
	res, err := w.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: Group, Consumer: w.o.Consumer, Streams: []string{sh.Stream, ">"}, Count: readBatch, Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() == nil {
			w.log.Warn("queue: reading a shard to drain failed", "shard", sh.Name, "error", err)
		}
		return false
	}
	n := 0
	for _, s := range res {
		n += len(s.Messages)
		if len(s.Messages) > 0 {
			w.handoff(ctx, []batch{{shard: sh, msgs: s.Messages, fresh: time.Now()}})
		}
	}
	w.reclaim(ctx, sh)
	return n == readBatch
}
