package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// TestDurableModeWaitsForAReplica: with the durability mode on, a verify
// returns only once a replica has the consumption (the replica sees the
// code gone right after); with the replica frozen it answers ErrUnavailable
// within the WAIT timeout instead of claiming a write that a failover
// could lose.
func TestDurableModeWaitsForAReplica(t *testing.T) {
	master, replica := testredis.WithReplica(t)
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	t.Cleanup(func() { _ = c.Close() })
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	s := store.NewRedisStore(c).Durable(1, 200*time.Millisecond)
	ctx := context.Background()
	nc := newCode("durable@x.io", "1", store.RuleAny)
	nc.Now = t0
	if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
		t.Fatalf("start: %+v %v", r, err)
	}
	key := store.CodeKeyName(nc.Key)
	if rc.Exists(ctx, key).Val() != 1 {
		t.Fatal("the replica does not have the code when the start returns")
	}
	if v, err := s.VerifyCode(ctx, attempt("durable@x.io", "1", t0)); err != nil || v.Status != store.VerifyOK {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if rc.HGet(ctx, key, "b").Val() == "" {
		t.Fatal("the replica does not have the code marked consumed when the verify returns")
	}
	// The one-script verify and login: the replica has the user when it
	// returns.
	nc = newCode("durable3@x.io", "1", store.RuleAny)
	nc.Now = t0
	if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
		t.Fatalf("start: %+v %v", r, err)
	}
	a := attempt("durable3@x.io", "1", t0)
	a.NewUserID, _ = store.NewUserID(rand.Reader, "P1", "durable3@x.io")
	if v, done, err := s.VerifyLogin(ctx, a, oneTripLogin(t0, "rt")); err != nil || v.Status != store.VerifyOK || done == nil {
		t.Fatalf("verify and login: %+v %+v %v", v, done, err)
	}
	if rc.Exists(ctx, store.UserKey("P1", a.NewUserID)).Val() != 1 {
		t.Fatal("the replica does not have the user when the verify returns")
	}
	// A flushed script cache: the durable path falls back to EVAL.
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	nc = newCode("durable4@x.io", "1", store.RuleAny)
	nc.Now = t0
	if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
		t.Fatalf("start after SCRIPT FLUSH: %+v %v", r, err)
	}
	replica.Freeze(t)
	nc = newCode("durable2@x.io", "1", store.RuleAny)
	nc.Now = t0
	begin := time.Now()
	_, err := s.StartCode(ctx, nc)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("start with the replica frozen: %v, want ErrUnavailable/ErrNotReplicated", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("took %v", d)
	}
	// The unreplicated start was taken back: the retry is not refused.
	if c.Exists(ctx, store.CodeKeyName(nc.Key)).Val() != 0 {
		t.Error("the unreplicated start left its code")
	}
	// The scripts of updates (bind, contact) and sessions (rotation,
	// logout, drop) wait too: a promotion cannot bring back a revoked
	// refresh token or undo a binding the caller was told about.
	uid := a.NewUserID
	if err := s.BindLogin(ctx, "P1", "durable-new@x.io", uid, "", store.ContactEmail, "durable-new@x.io"); !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("bind with the replica frozen: %v, want ErrNotReplicated", err)
	}
	if _, err := s.ApplyContact(ctx, store.ContactChange{Project: "P1", UserID: uid, Contact: store.ContactEmail, Address: "durable-new@x.io"}); !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("contact change with the replica frozen: %v, want ErrNotReplicated", err)
	}
	// The management API's writes (disable, revoke, delete, login ids).
	if err := s.RevokeSessions(ctx, "P1", uid); !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("management revoke with the replica frozen: %v, want ErrNotReplicated", err)
	}
	if err := s.UnbindLoginID(ctx, "P1", "durable3@x.io", uid); !errors.Is(err, store.ErrNotReplicated) {
		t.Errorf("management unbind with the replica frozen: %v, want ErrNotReplicated", err)
	}
	if err := s.DropUser(ctx, "P1", uid); !errors.Is(err, store.ErrNotReplicated) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("session script with the replica frozen: %v, want ErrUnavailable/ErrNotReplicated", err)
	}
	replica.Thaw(t)
}

// BenchmarkVerifyDurable measures the durability mode's cost: start +
// verify pairs on a master with one local replica, WAIT on and off.
func BenchmarkVerifyDurable(b *testing.B) {
	master, _ := testredis.WithReplica(b)
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer c.Close()
	ctx := context.Background()
	for _, mode := range []struct {
		name     string
		replicas int
	}{{"async", 0}, {"wait1", 1}} {
		s := store.NewRedisStore(c).Durable(mode.replicas, 250*time.Millisecond)
		b.Run(mode.name, func(b *testing.B) {
			for i := range b.N {
				id := mode.name + string(rune('a'+i%26)) + time.Now().String()
				nc := newCode(id, "1", store.RuleAny)
				nc.Now = t0
				if _, err := s.StartCode(ctx, nc); err != nil {
					b.Fatal(err)
				}
				if _, err := s.VerifyCode(ctx, attempt(id, "1", t0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
