package store_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// flakyQueue is a client whose XADD fails like a dead master (the queue's
// slot is on another Cluster master than the login id's).
type flakyQueue struct {
	*redis.Client
	fail bool
}

func (f *flakyQueue) XAdd(ctx context.Context, a *redis.XAddArgs) *redis.StringCmd {
	if f.fail {
		cmd := redis.NewStringCmd(ctx, "xadd")
		cmd.SetErr(fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED))
		return cmd
	}
	return f.Client.XAdd(ctx, a)
}

// TestFailedEnqueueLeavesNothingThatRefusesTheRetry: in split-slot mode
// (Cluster) a start whose XADD fails answers ErrUnavailable (503) and takes
// itself back: no stored code, the resend cooldown, the per-login-id and
// the project-wide buckets refunded, so the SDK's retry succeeds and
// delivers.
func TestFailedEnqueueLeavesNothingThatRefusesTheRetry(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := &flakyQueue{Client: c, fail: true}
		s := store.NewRedisStoreSplit(f, true)
		start := func(code string) store.NewCode {
			// One per IP and one per login id per minute: a charge kept by the
			// failed start would refuse the retry.
			nc := limited("retry@x.io", code, t0, 1, 1)
			nc.Job = &store.Job{ID: "j-" + code, Payload: "sealed", Stream: "otpd:{q}:jobs", MaxLen: 100}
			return nc
		}
		_, err := s.StartCode(ctx, start("1"))
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("start with the queue down: %v, want ErrUnavailable", err)
		}
		key := store.CodeKeyName(store.CodeKey{Project: "P1", LoginID: "retry@x.io", Channel: "email"})
		if n := c.Exists(ctx, key).Val(); n != 0 {
			t.Fatal("the failed start left its code stored")
		}
		f.fail = false
		r, err := s.StartCode(ctx, start("2"))
		if err != nil || r.Status != store.StartOK {
			t.Fatalf("the retry: %+v %v, want ok", r, err)
		}
		if msgs := c.XRange(ctx, "otpd:{q}:jobs", "-", "+").Val(); len(msgs) != 1 || msgs[0].Values["id"] != "j-2" {
			t.Fatalf("queue after the retry: %+v", msgs)
		}
		// The refund gave back exactly one charge: a third start is refused.
		if r, _ := s.StartCode(ctx, start("3")); r.Status != store.StartLimited {
			t.Fatalf("third start within the minute: %+v, want limited", r)
		}
	})
}
