package server_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/redisconn"
)

// TestClusterQueueShards: on a real 3+3 Redis Cluster, every queue key
// hashes where the layout says (CLUSTER KEYSLOT agrees with the layout's
// CRC16, each position in the middle of its slot range), the default 16
// shards sit on all three masters, and the jobs of n starts across two
// replicas spread over the three masters (none above 1.5x the mean), are
// all delivered, and are all acknowledged and deleted.
func TestClusterQueueShards(t *testing.T) {
	p := newClusterPair(t)
	ctx := context.Background()
	layout, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range layout.All() {
		for _, k := range []string{sh.Stream, sh.Delayed, sh.Dead} {
			got, err := p.admin.ClusterKeySlot(ctx, k).Result()
			if err != nil || got != int64(redisconn.Slot(k)) {
				t.Fatalf("CLUSTER KEYSLOT %s = %d (%v), the layout computes %d", k, got, err, redisconn.Slot(k))
			}
		}
		if j, err := strconv.Atoi(sh.Name); err == nil {
			if s := int(redisconn.Slot(sh.Stream)); s < j*256+64 || s >= j*256+192 {
				t.Errorf("position %d's slot %d is not in the middle of [%d, %d)", j, s, j*256, (j+1)*256)
			}
		}
	}
	masterOf := map[string]string{}
	shardsOn := map[string]int{}
	for _, sh := range layout.Shards() {
		m, err := p.admin.MasterForKey(ctx, sh.Stream)
		if err != nil {
			t.Fatal(err)
		}
		masterOf[sh.Stream] = m.Options().Addr
		shardsOn[m.Options().Addr]++
	}
	t.Logf("shards per master: %v", shardsOn)
	if len(shardsOn) != 3 {
		t.Fatalf("the %d shards sit on %d masters, want all 3", len(layout.Shards()), len(shardsOn))
	}
	for addr, n := range shardsOn {
		if n < 5 || n > 6 {
			t.Errorf("master %s holds %d of the 16 shards, want 5 or 6", addr, n)
		}
	}

	// Jobs added per master, from each shard's stream counter.
	added := func() map[string]int64 {
		out := map[string]int64{}
		for _, sh := range layout.Shards() {
			info, err := p.admin.XInfoStream(ctx, sh.Stream).Result()
			if err != nil {
				t.Fatalf("XINFO STREAM %s: %v", sh.Stream, err)
			}
			out[masterOf[sh.Stream]] += info.EntriesAdded
		}
		return out
	}
	before := added()
	const n = 240 // 75/75/90 expected on 5/5/6 shards; 1.5x the mean is 4 sigma above the 6-shard master
	for i := range n {
		e := p.a
		if i%2 == 1 {
			e = p.b
		}
		id := fmt.Sprintf("shard%d@example.com", i)
		if s, r := e.post("/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id)); s != 200 {
			t.Fatalf("start %s: %d %v", id, s, r)
		}
	}
	for i := range n {
		id := fmt.Sprintf("shard%d@example.com", i)
		if waitCode(p.a, id, 10*time.Second) == "" {
			t.Fatalf("the code of %s was never delivered", id)
		}
	}
	p.a.drain()
	// Every delivered job is acknowledged and deleted: on Cluster one
	// ack script per shard, pipelined per master.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left, held int64
		for _, sh := range layout.Shards() {
			left += p.admin.XLen(ctx, sh.Stream).Val()
			if x, err := p.admin.XPending(ctx, sh.Stream, queue.Group).Result(); err == nil {
				held += x.Count
			}
		}
		if left == 0 && held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delivery %d jobs still in the streams, %d unacknowledged", left, held)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := added()
	var sum int64
	for addr := range shardsOn {
		sum += after[addr] - before[addr]
	}
	if sum != n {
		t.Fatalf("%d jobs added to the shards for %d starts", sum, n)
	}
	mean := float64(sum) / 3
	for addr := range shardsOn {
		d := after[addr] - before[addr]
		t.Logf("master %s: %d shards, %d of %d jobs (%.2fx mean)", addr, shardsOn[addr], d, n, float64(d)/mean)
		if d == 0 || float64(d) > 1.5*mean {
			t.Errorf("master %s took %d of %d jobs (mean %.1f): want some, and at most 1.5x the mean", addr, d, n, mean)
		}
	}
}
