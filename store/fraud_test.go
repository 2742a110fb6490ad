package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// guarded is a start to an SMS number with the pumping guard on its
// prefix (minSends 3, conversion 50%) and the login id's limits.
func guarded(number string, now time.Time, shadow bool) store.NewCode {
	nc := limited(number, "1", now, 100, 100)
	nc.Key.Channel, nc.Contact, nc.NewUserAddress = "sms", store.ContactPhone, number
	nc.Guard = guardOn(number[1:7], shadow, 1000)
	return nc
}

func guardOn(prefix string, shadow bool, capPerShard int) *store.Guard {
	return &store.Guard{Shadow: shadow, GuardParams: store.GuardParams{Window: time.Hour, CoolOff: 10 * time.Minute, CapPerShard: capPerShard},
		Entities: []store.GuardEntity{{Key: store.GuardKey("P1", "sms", 3), Field: "p:" + prefix, MinSends: 3, MinConversion: 0.5}}}
}

// TestGuardBlocksBeforeAnythingIsStored: past minSends unverified sends,
// a start to the prefix is refused before any bucket is charged or code
// stored; a verified code keeps another prefix open; the block lifts
// after the cool-off.
func TestGuardBlocksBeforeAnythingIsStored(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for i := range 3 {
			if r, err := s.StartCode(ctx, guarded(fmt.Sprintf("+4479460000%02d", i), t0, false)); err != nil || r.Status != store.StartOK {
				t.Fatalf("send %d: %+v %v", i, r, err)
			}
		}
		next := guarded("+447946000099", t0.Add(time.Second), false)
		r, err := s.StartCode(ctx, next)
		if err != nil || r.Status != store.StartBlocked || r.Blocked != "p:447946" || !r.BlockedUntil.Equal(t0.Add(time.Second+10*time.Minute).Truncate(time.Millisecond)) {
			t.Fatalf("fourth send: %+v %v, want blocked on p:447946 for the cool-off", r, err)
		}
		for _, k := range []string{store.CodeKeyName(next.Key), next.Limits.Login[0].Key} {
			if n, _ := c.Exists(ctx, k).Result(); n != 0 {
				t.Errorf("blocked start left %s", k)
			}
		}
		// The IP bucket was charged three times by the sends, not by the refusal.
		tat1, _ := c.Get(ctx, next.Limits.Global[0].Key).Float64()
		if want := float64(t0.Add(3 * time.Minute / 100).UnixMilli()); tat1 != want {
			t.Errorf("IP bucket at %.0f, want %.0f (three sends; the refusal charges nothing)", tat1, want)
		}
		// Another prefix whose codes are verified stays open.
		for i := range 6 {
			num := fmt.Sprintf("+4479470000%02d", i)
			if r, _ := s.StartCode(ctx, guarded(num, t0, false)); r.Status != store.StartOK {
				t.Fatalf("verified prefix refused at send %d: %+v", i, r)
			}
			if err := s.RecordGuard(ctx, guardOn("447947", false, 1000), store.GuardVerified, 1, t0); err != nil {
				t.Fatal(err)
			}
		}
		// The block lifts after the cool-off.
		if r, _ := s.StartCode(ctx, guarded("+447946000098", t0.Add(11*time.Minute), false)); r.Status != store.StartOK {
			t.Fatalf("after the cool-off: %+v", r)
		}
	})
}

// TestGuardShadow: shadow mode reports the block and sends.
func TestGuardShadow(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		for _, split := range []bool{false, true} {
			ctx := context.Background()
			c.FlushAll(ctx)
			s := store.NewRedisStoreSplit(c, split)
			for i := range 3 {
				if r, _ := s.StartCode(ctx, guarded(fmt.Sprintf("+4479460000%02d", i), t0, true)); r.Status != store.StartOK || r.WouldBlock != "" {
					t.Fatalf("split %v, send %d: %+v", split, i, r)
				}
			}
			r, err := s.StartCode(ctx, guarded("+447946000099", t0, true))
			if err != nil || r.Status != store.StartOK || r.WouldBlock != "p:447946" || r.Address != "+447946000099" {
				t.Fatalf("split %v: shadow start %+v %v, want sent with WouldBlock p:447946", split, r, err)
			}
		}
	})
}

// TestGuardMemoryBounded: a shard tracks at most its cap of entities
// (least recently seen forgotten first, a blocked one kept while it is
// tried), and its keys expire when idle.
func TestGuardMemoryBounded(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		key := store.GuardKey("P1", "sms", 3)
		for i := range 50 {
			g := guardOn(fmt.Sprintf("4479%02d", i), false, 8)
			if err := s.RecordGuard(ctx, g, store.GuardSend, 1, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := c.HLen(ctx, key).Result(); n != 8 {
			t.Errorf("shard holds %d entities, want the cap, 8", n)
		}
		if n, _ := c.ZCard(ctx, key+":seen").Result(); n != 8 {
			t.Errorf("shard's seen set holds %d, want 8", n)
		}
		if ok, _ := c.HExists(ctx, key, "p:447949").Result(); !ok {
			t.Error("the most recent entity was forgotten")
		}
		for _, k := range []string{key, key + ":seen"} {
			if ttl, _ := c.PTTL(ctx, k).Result(); ttl <= 0 || ttl > 75*time.Minute {
				t.Errorf("%s: TTL %s, want the window, cool-off and a slot (75m)", k, ttl)
			}
		}
		// Aged out: an entity unseen for the window and cool-off goes.
		late := t0.Add(2 * time.Hour)
		if err := s.RecordGuard(ctx, guardOn("449999", false, 8), store.GuardSend, 1, late); err != nil {
			t.Fatal(err)
		}
		if n, _ := c.HLen(ctx, key).Result(); n != 7 {
			t.Errorf("after the window: %d entities, want 7 (two stale removed, one added)", n)
		}
	})
}

// TestGuardRoundTrips: the guard adds no round trip to a start on a
// single node; an outcome costs one.
func TestGuardRoundTrips(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if err := s.Preload(ctx); err != nil {
			t.Fatal(err)
		}
		// Warm the connection pool (a new connection's handshake is not
		// the guard's).
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil })
		h := &countHook{}
		c.AddHook(h)
		nc := guarded("+447946000001", t0, false)
		nc.Guard.Entities = append(nc.Guard.Entities, store.GuardEntity{Key: store.GuardKey("P1", "sms", 9), Field: "c:GB", MinSends: 50, MinConversion: 0.1})
		if r, err := s.StartCode(ctx, nc); err != nil || r.Status != store.StartOK {
			t.Fatalf("start: %+v %v", r, err)
		}
		if n := h.n.Load(); n != 1 {
			t.Errorf("start with the guard and limits: %d round trips, want 1", n)
		}
		h.n.Store(0)
		if err := s.RecordGuard(ctx, nc.Guard, store.GuardVerified, 1, t0); err != nil {
			t.Fatal(err)
		}
		if n := h.n.Load(); n != 1 {
			t.Errorf("verified outcome: %d round trips, want 1", n)
		}
	})
}
