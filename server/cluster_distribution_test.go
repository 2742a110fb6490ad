package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// distribution runs n sign-up-or-in + verify flows across both replicas
// and reports keys and commands per master (docs/scaling.md's table). No
// master may hold more than 1.5x the mean of the keys, nor run more than
// 1.5x the mean of the commands (INFO commandstats deltas over the flows):
// the login-id, user and per-bucket hash tags spread; a tag that collapsed
// them (one project-wide {P:rl} slot, one {q} slot for every job) fails.
func (p *clusterPair) distribution(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	calls := func() map[string]int64 {
		out := map[string]int64{}
		_ = p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			var total int64
			for _, l := range strings.Split(m.Info(ctx, "commandstats").Val(), "\n") {
				if i := strings.Index(l, "calls="); i >= 0 {
					var c int64
					fmt.Sscanf(l[i+len("calls="):], "%d", &c)
					total += c
				}
			}
			mu.Lock()
			out[m.Options().Addr] = total
			mu.Unlock()
			return nil
		})
		return out
	}
	before := calls()
	for i := range n {
		// Login ids as varied as real addresses: sequential ones (dist0,
		// dist1...) differ in a few low bits, and CRC16, being linear, maps
		// them to few slot ranges (21, 1 and 41 of 63 login ids per master
		// in one run).
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		id := fmt.Sprintf("d%x@example.com", h[:6])
		start, verify := p.a, p.b
		if i%2 == 1 {
			start, verify = p.b, p.a
		}
		// Each from its own client IP (behind a trusted proxy), as real
		// traffic: a client IP's buckets (sends, verifies) are a key each.
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.%d.%d", h[6], h[7], h[8])}
		if s, _ := sdkSend(start, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id), hdr); s != 200 {
			t.Fatalf("start %s: %d", id, s)
		}
		// waitCode reads the code log (start.code would poll the queue's
		// keys, counting the test's own commands on the queue's master).
		code := waitCode(start, id, 10*time.Second)
		if s, _ := sdkSend(verify, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code), hdr); s != 200 {
			t.Fatalf("verify %s: %d", id, s)
		}
	}
	after := calls()
	keys := map[string]int64{}
	_ = p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		keys[m.Options().Addr] = m.DBSize(ctx).Val()
		mu.Unlock()
		return nil
	})
	// No slot may carry a growing share of the keys (before, every client
	// IP's buckets shared the project's one {P:rl} slot: 20% of all keys
	// after these 60 flows, and more with every new client IP).
	var total int64
	for _, k := range keys {
		total += k
	}
	slot, most := p.hottestSlot(t)
	t.Logf("hottest slot %d: %d of %d keys (%.1f%%)", slot, most, total, 100*float64(most)/float64(total))
	if float64(most) > 0.05*float64(total) {
		t.Errorf("slot %d holds %d of the %d keys, above 5%%: a hash tag collects keys that grow with traffic", slot, most, total)
	}
	cmds := map[string]int64{}
	for addr := range keys {
		cmds[addr] = after[addr] - before[addr]
	}
	mean := func(m map[string]int64) float64 {
		var sum int64
		for _, v := range m {
			sum += v
		}
		return float64(sum) / float64(len(m))
	}
	km, cm := mean(keys), mean(cmds)
	addrs := make([]string, 0, len(keys))
	for addr := range keys {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		k, c := keys[addr], cmds[addr]
		t.Logf("master %s: %d keys (%.2fx mean), %d commands (%.2fx mean) during %d flows", addr, k, float64(k)/km, c, float64(c)/cm, n)
		if float64(k) > 1.5*km {
			t.Errorf("master %s holds %d keys, above 1.5x the mean %.1f: a hash tag collapses keys onto one slot", addr, k, km)
		}
		if float64(c) > 1.5*cm {
			t.Errorf("master %s ran %d commands, above 1.5x the mean %.1f: a hot slot (the delivery queue's one {q} stream, until it is sharded, or a project-wide tag)", addr, c, cm)
		}
	}
}

// hottestSlot is the slot holding the most keys, and how many.
func (p *clusterPair) hottestSlot(t *testing.T) (slot, keys int64) {
	t.Helper()
	ctx := context.Background()
	per := map[int64]int64{}
	err := p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			s, err := m.ClusterKeySlot(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			per[s]++
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range per {
		if n > keys {
			slot, keys = s, n
		}
	}
	return slot, keys
}

var mu sync.Mutex
