package status

import (
	"context"
	_ "embed"
	"fmt"
)

//go:embed lua/single.lua
var singleSrc string

// A job whose channel has one provider and no status callback can neither
// fail over nor hear an undelivered status: its record only has to say
// whether the provider answered (so a duplicate run of the job, as after a
// reclaim, sends nothing) and what it answered (otpd deadletters). So it
// is read with one command before the send (Answered) and written with
// one script after it (Single), without the copy of the sealed job; the
// full record (Pick, Accepted, Callback) is for chains and callbacks.
// See docs/delivery.md and docs/performance.md.

// Answered reports whether provider already answered job j (accepted it,
// or refused it for good): one HMGET. ErrOtherProject when the record
// belongs to another project.
func (r *Recorder) Answered(ctx context.Context, j Job, provider string) (bool, error) {
	v, err := r.rdb.HMGet(ctx, Key(j.ID), "p", "ok:"+provider).Result()
	if err != nil {
		return false, fmt.Errorf("status: answered: %w", err)
	}
	if p, ok := v[0].(string); ok && p != j.Project {
		return false, ErrOtherProject
	}
	ok, _ := v[1].(string)
	return ok == "1", nil
}

// Single records provider's answer to j (Queued with its message id, or
// Failed with an error code) for a job with one provider and no status
// callback, and reports the change. The record of an accepted job is
// kept until the code expires (a duplicate run must find it; nothing
// reads it after); a failed one Retention longer (otpd deadletters shows
// it).
func (r *Recorder) Single(ctx context.Context, j Job, provider, st, messageID, code string) error {
	until := j.Expires
	if st != Queued {
		until = until.Add(Retention)
	}
	code = SafeCode(code)
	err := r.single.Run(ctx, r.rdb, []string{Key(j.ID)}, j.Project, provider, st, Rank(st), messageID, code, until.UnixMilli()).Err()
	r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: st, ErrorCode: code})
	if err != nil {
		return fmt.Errorf("status: %s: %w", st, err)
	}
	return nil
}

// Unrecorded reports provider's answer to j without a record in Redis:
// for the development log provider (never production; one provider, no
// callbacks, never refuses), whose jobs the console and the metric still
// see.
func (r *Recorder) Unrecorded(j Job, provider, st string) {
	r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: st})
}
