package status

import (
	"context"
	_ "embed"
	"fmt"
)

//go:embed lua/single.lua
var singleSrc string

// A job whose channel has one provider and no status callback can neither
// fail over nor hear an undelivered status: the full record (Pick,
// Accepted, Callback, with the copy of the sealed job) is for chains and
// callbacks. Such a job gets no record when its provider accepts it
// (Unrecorded), and a small one, written in one script, when it refuses
// it for good (Single), for otpd deadletters. See docs/delivery.md and
// docs/performance.md.

// Single records provider's answer to j (Failed with an error code, or
// Queued with its message id) for a job with one provider and no status
// callback, kept Retention past the code's expiry, and reports the
// change.
func (r *Recorder) Single(ctx context.Context, j Job, provider, st, messageID, code string) error {
	code = SafeCode(code)
	err := r.single.Run(ctx, r.rdb, []string{Key(j.ID)}, j.Project, provider, st, Rank(st), messageID, code,
		j.Expires.Add(Retention).UnixMilli()).Err()
	r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: st, ErrorCode: code})
	if err != nil {
		return fmt.Errorf("status: %s: %w", st, err)
	}
	return nil
}

// Unrecorded reports provider's answer to j without a record in Redis
// (an accepted job with one provider and no status callback): the metric,
// the console and the outcomes still see it.
func (r *Recorder) Unrecorded(j Job, provider, st string) {
	r.changed(Update{Job: j.ID, Project: j.Project, Channel: j.Channel, To: j.To, Provider: provider, Status: st})
}
