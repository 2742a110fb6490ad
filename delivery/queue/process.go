package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/delivery"
)

// processBatch handles a read's jobs one by one. Jobs still waiting in the
// batch stay pending under this consumer; so that no other worker reclaims
// them as stalled (their idle time counts from the read), their idle time
// is reset (XCLAIM ... JUSTID to ourselves) whenever ClaimIdle/4 has passed
// since the read or the last reset (b.fresh, also reset while the batch
// waited for a processor). A job's idle time therefore stays below
// ClaimIdle/4 + SendTimeout, which the defaults keep under ClaimIdle
// (7.5s + 15s < 30s): only a dead or stuck worker's jobs are reclaimed.
// Finished jobs go to the acker (which acknowledges them within AckDelay,
// with those of other batches), at the end or at a reset.
func (w *Worker) processBatch(ctx context.Context, b batch) {
	var done []string
	for i, m := range b.msgs {
		if i > 0 && time.Since(b.fresh) > w.o.ClaimIdle/4 {
			w.done(b.shard, done)
			done = nil
			w.refresh(ctx, b.shard, b.msgs[i:])
			b.fresh = time.Now()
		}
		if w.process(ctx, b.shard, m) {
			done = append(done, m.ID)
		}
	}
	w.done(b.shard, done)
}

// refresh resets the idle time of jobs this consumer holds.
func (w *Worker) refresh(ctx context.Context, sh Shard, msgs []redis.XMessage) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := w.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: sh.Stream, Group: Group, Consumer: w.o.Consumer, MinIdle: 0, Messages: ids,
	}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		w.log.Warn("queue: could not refresh the batch's jobs; another worker may reclaim them", "error", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// reclaim takes over jobs another consumer left unacknowledged too long.
func (w *Worker) reclaim(ctx context.Context, sh Shard) {
	msgs, _, err := w.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: sh.Stream, Group: Group, Consumer: w.o.Consumer, MinIdle: w.o.ClaimIdle, Start: "0-0", Count: 16,
	}).Result()
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, redis.Nil) && !strings.HasPrefix(err.Error(), "NOGROUP") {
			w.log.Warn("queue reclaim failed", "shard", sh.Name, "error", err)
		}
		return
	}
	if len(msgs) == 0 {
		return
	}
	for _, m := range msgs {
		w.log.Info("reclaimed a job from a stalled worker", "job", m.Values["id"], "shard", sh.Name)
	}
	w.processBatch(context.WithoutCancel(ctx), batch{shard: sh, msgs: msgs, fresh: time.Now()})
}

// promoteDue moves sh's due retries back onto its stream.
func (w *Worker) promoteDue(ctx context.Context, sh Shard) {
	w.promoted(ctx, sh, w.promote.Run(ctx, w.rdb, []string{sh.Stream, sh.Delayed, sh.Dead},
		w.clock.Now().UnixMilli(), 100, w.o.MaxLen, w.o.DeadMaxLen))
}

// promoteAll runs promoteDue for every shard in one pipeline (one round
// trip per node); a shard whose script is not loaded yet (NOSCRIPT) runs
// it alone, which loads it.
func (w *Worker) promoteAll(ctx context.Context, shards []Shard) {
	now := w.clock.Now().UnixMilli()
	cmds := make([]*redis.Cmd, len(shards))
	_, _ = w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sh := range shards {
			cmds[i] = w.promote.EvalSha(ctx, p, []string{sh.Stream, sh.Delayed, sh.Dead}, now, 100, w.o.MaxLen, w.o.DeadMaxLen)
		}
		return nil
	})
	for i, sh := range shards {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			w.promoteDue(ctx, sh)
			continue
		}
		w.promoted(ctx, sh, cmds[i])
	}
}

func (w *Worker) promoted(ctx context.Context, sh Shard, cmd *redis.Cmd) {
	malformed, err := cmd.Int()
	if err != nil && ctx.Err() == nil {
		w.log.Warn("queue promote failed", "shard", sh.Name, "error", err)
	}
	for range malformed {
		w.count("", "dead")
	}
	if malformed > 0 {
		w.log.Warn("malformed parked jobs dead-lettered", "shard", sh.Name, "entries", malformed, "reason", "malformed")
	}
}

func (w *Worker) count(channel, outcome string) {
	if w.metrics != nil {
		w.metrics.counter(channel, outcome).Inc()
	}
}

// process handles one stream entry to its end: sent or expired (it
// returns true: the caller acknowledges it, batched), parked for retry, or
// dead-lettered.
func (w *Worker) process(ctx context.Context, sh Shard, m redis.XMessage) (ack bool) {
	e := entryFrom(m.Values)
	now := w.clock.Now()
	if !now.Before(e.expiry()) {
		w.count("", "expired")
		w.log.Info("dropped a job whose code expired", "job", e.ID)
		return true
	}
	job, err := e.open(w.sealer)
	if err != nil {
		w.deadLetter(ctx, sh, m, e, "unsealable", err)
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, w.o.SendTimeout)
	err = w.call(sctx, job)
	cancel()
	switch {
	case err == nil:
		w.count(job.Channel, "sent")
		return true
	case delivery.IsPermanent(err):
		w.count(job.Channel, "dead")
		w.deadLetter(ctx, sh, m, e, "permanent", err)
	case job.Attempt >= w.o.MaxAttempts:
		w.count(job.Channel, "dead")
		w.deadLetter(ctx, sh, m, e, "exhausted", err)
	default:
		w.count(job.Channel, "retried")
		delay := w.o.Backoff(job.Attempt)
		var ra RetryAfterer
		if errors.As(err, &ra) && ra.RetryAfter() > delay {
			delay = ra.RetryAfter()
		}
		next := e
		next.Attempt = strconv.Itoa(job.Attempt + 1)
		b, _ := json.Marshal(next)
		w.log.Info("delivery failed; will retry", "job", e.ID, "channel", job.Channel, "attempt", job.Attempt, "in", delay, "error", err.Error())
		if rerr := w.retry.Run(ctx, w.rdb, []string{sh.Stream, sh.Delayed}, Group, m.ID, now.Add(delay).UnixMilli(), string(b)).Err(); rerr != nil {
			// Left pending: another worker reclaims it after ClaimIdle.
			w.log.Error("could not park a job for retry", "job", e.ID, "error", rerr)
		}
	}
	return false
}

// call runs the handler. A panic in it (a provider or template bug) is
// a permanent failure of this job: logged with its stack (which holds no
// argument values), the job dead-lettered, and the process kept alive,
// with the buffered log lines that explain it.
func (w *Worker) call(ctx context.Context, job Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("delivery handler panicked; job dead-lettered", "job", job.ID, "channel", job.Channel,
				"panic", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			err = delivery.Permanent(errors.New("the delivery handler panicked"))
		}
	}()
	return w.handle(ctx, job)
}

func (w *Worker) deadLetter(ctx context.Context, sh Shard, m redis.XMessage, e entry, reason string, cause error) {
	w.log.Warn("job dead-lettered", "job", e.ID, "reason", reason, "error", cause.Error())
	err := w.dead.Run(ctx, w.rdb, []string{sh.Stream, sh.Dead}, Group, m.ID, w.o.DeadMaxLen,
		"id", e.ID, "j", e.Sealed, "to", e.To, "exp", e.Expiry, "a", strconv.Itoa(e.attempt()),
		"reason", reason, "error", cause.Error(), "at", strconv.FormatInt(w.clock.Now().UnixMilli(), 10)).Err()
	if err != nil {
		w.log.Error("could not dead-letter a job", "job", e.ID, "error", err)
	}
}
