package testredis

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// adminClient is a client for one node's slow admin commands (MIGRATE
// waits for the target): no retries, 5 s timeouts.
func adminClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
}

// MigrateSlot moves slot from the master at src to the master at dst the
// way `redis-cli --cluster reshard` does, paced: SETSLOT IMPORTING on dst,
// MIGRATING on src, then MIGRATE of the slot's keys one at a time, each
// after a pause of pace (so a slot of n keys migrates for n x pace, split
// between the two masters for (n-1) x pace), then SETSLOT NODE on dst, src and every
// other master. Keys created on src meanwhile are migrated too (new keys of
// a migrating slot go to dst through ASK). It returns how many keys it
// moved. masters are the addresses of every master (for SETSLOT NODE).
func MigrateSlot(ctx context.Context, masters []string, slot int, src, dst string, pace time.Duration) (int, error) {
	s, d := adminClient(src), adminClient(dst)
	defer s.Close()
	defer d.Close()
	srcID, err := s.ClusterMyID(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("src id: %w", err)
	}
	dstID, err := d.ClusterMyID(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("dst id: %w", err)
	}
	if err := d.Do(ctx, "cluster", "setslot", slot, "importing", srcID).Err(); err != nil {
		return 0, fmt.Errorf("importing: %w", err)
	}
	if err := s.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err(); err != nil {
		return 0, fmt.Errorf("migrating: %w", err)
	}
	host, port, _ := net.SplitHostPort(dst)
	moved := 0
	for i := 0; ; i++ {
		if i > 10_000 {
			return moved, fmt.Errorf("slot %d: still keys after 10000 MIGRATEs", slot)
		}
		keys, err := s.ClusterGetKeysInSlot(ctx, slot, 1).Result()
		if err != nil {
			return moved, fmt.Errorf("getkeysinslot: %w", err)
		}
		if len(keys) == 0 {
			break
		}
		select {
		case <-time.After(pace):
		case <-ctx.Done():
			return moved, ctx.Err()
		}
		if err := s.Do(ctx, "migrate", host, port, "", 0, 5000, "keys", keys[0]).Err(); err != nil && err != redis.Nil {
			return moved, fmt.Errorf("migrate %q: %w", keys[0], err)
		}
		moved++
	}
	// Like redis-cli: the target first, then the source, then the others.
	order := []string{dst, src}
	for _, m := range masters {
		if m != src && m != dst {
			order = append(order, m)
		}
	}
	for _, m := range order {
		c := adminClient(m)
		err := c.Do(ctx, "cluster", "setslot", slot, "node", dstID).Err()
		c.Close()
		if err != nil {
			return moved, fmt.Errorf("setslot node on %s: %w", m, err)
		}
	}
	return moved, nil
}
