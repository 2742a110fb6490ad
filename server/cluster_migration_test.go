package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// migrationPace is the pause before each key of a migrating slot: a slot
// of n keys migrates for n x pace, split between two masters for (n-1) x
// pace.
const migrationPace = 400 * time.Millisecond

// TestClusterSlotMigrationUnderLoad: on a real 3+3 Redis Cluster with two
// otpd replicas, under bounded load (3 clients from 4 client IPs, each start
// by an SDK-style client: up to 3 tries on 503), the slots holding the
// project's rate-limit keys (budget, the load's per-IP buckets) and the
// delivery queue's keys are migrated to other masters key by key, paced like
// a careful `redis-cli --cluster reshard`. No start fails after its retries,
// every started code is delivered and verifies once, and delivery drains.
//
// The slots are found by scanning the masters for otpd:{<project>:rl* and
// otpd:{q* keys, whatever their layout. Login ids whose own slot is among
// them are skipped by the load: those are ordinary slots (a login id's keys
// live for one flow), not what this test migrates.
func TestClusterSlotMigrationUnderLoad(t *testing.T) {
	// Per-IP limits of 1000 an hour: each bucket key then lives 3.6 s per
	// event (a key per IP exists throughout), and no load refuses itself.
	perIP := config.Rate{Count: 1000, Window: config.Duration(time.Hour)}
	limits := withProject(config.Project{ID: pid, SigningKeyFiles: []string{"k.pem"},
		Limits: config.Limits{SendsPerIP: &perIP, VerifiesPerIP: &perIP}})
	p := newClusterPair(t, trustLoopback, limits)
	ctx := context.Background()
	ips := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.7", "203.0.113.8", "2001:db8::17"}

	type result struct {
		at       time.Time // when the start was sent
		id       string
		start    int // final status
		tries    int
		verify   int
		problems []string
	}
	flow := func(i int, id string) (r result) {
		r.id, r.at = id, time.Now()
		start, verify := p.a, p.b
		if i%2 == 1 {
			start, verify = p.b, p.a
		}
		hdr := map[string]string{"X-Forwarded-For": ips[i%len(ips)]}
		r.start, r.tries = sdkSend(start, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id), hdr)
		if r.start != 200 {
			r.problems = append(r.problems, fmt.Sprintf("start %s: %d after %d tries", id, r.start, r.tries))
			return r
		}
		code := waitCode(start, id, 20*time.Second)
		if code == "" {
			r.problems = append(r.problems, "no code delivered to "+id)
			return r
		}
		r.verify, _ = sdkSend(verify, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code), hdr)
		if r.verify != 200 {
			r.problems = append(r.problems, fmt.Sprintf("verify %s: %d after retries", id, r.verify))
		}
		return r
	}
	// Warm-up, one flow at a time: every client IP starts and verifies on
	// both replicas, and 8 starts per replica reach every sub-bucket of a
	// sharded budget, so every key the load uses exists.
	for i := range 16 {
		if r := flow(i, fmt.Sprintf("warm%d@example.com", i)); len(r.problems) > 0 {
			t.Fatalf("warm-up: %v", r.problems)
		}
	}
	slots := p.slotsOf(t, "otpd:{"+pid+":rl*", "otpd:{q*")
	if len(slots) == 0 {
		t.Fatal("no limit or queue keys found")
	}
	collides := func(id string) bool {
		s, err := p.admin.ClusterKeySlot(ctx, store.LoginKey(pid, id)).Result()
		_, hit := slots[int(s)]
		return err != nil || hit
	}

	var mu sync.Mutex
	var results []result
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(n.Add(1))
				if i > 1500 {
					return
				}
				id := fmt.Sprintf("mig%d@example.com", i)
				if collides(id) {
					continue
				}
				r := flow(i, id)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second) // load before the migration
	masters, err := testredis.Masters(p.cluster.Nodes[0].Addr)
	if err != nil || len(masters) != 3 {
		close(stop)
		wg.Wait()
		t.Fatalf("masters: %v %v", masters, err)
	}
	sort.Strings(masters)
	began := time.Now()
	var moved int
	var migErr error
	order := make([]int, 0, len(slots))
	for s := range slots {
		order = append(order, s)
	}
	slices.Sort(order)
	for _, s := range order {
		src := slots[s]
		dst := masters[(slices.Index(masters, src)+1)%len(masters)]
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		k, err := testredis.MigrateSlot(mctx, masters, s, src, dst, migrationPace)
		cancel()
		moved += k
		if err != nil {
			migErr = fmt.Errorf("slot %d %s -> %s: %w", s, src, dst, err)
			break
		}
	}
	migrated := time.Since(began)
	time.Sleep(time.Second) // load after the migration
	close(stop)
	wg.Wait()
	if migErr != nil {
		t.Fatal(migErr)
	}

	var failed, retried, ok, during int
	var first, last time.Time
	var problems []string
	for _, r := range results {
		problems = append(problems, r.problems...)
		if !r.at.Before(began) && r.at.Before(began.Add(migrated)) {
			during++
		}
		switch {
		case r.start != 200:
			failed++
			if first.IsZero() || r.at.Before(first) {
				first = r.at
			}
			if r.at.After(last) {
				last = r.at
			}
		case r.tries > 1:
			retried++
		}
		if r.start == 200 && r.verify == 200 {
			ok++
		}
	}
	t.Logf("migrated %d slots (%d keys, pace %v) in %v under load: %d flows (%d started during the migration), %d complete, %d starts needed an SDK retry, %d starts failed after 3 tries",
		len(slots), moved, migrationPace, migrated.Round(10*time.Millisecond), len(results), during, ok, retried, failed)
	if failed > 0 {
		var in int
		for _, r := range results {
			if !r.at.Before(first) && !r.at.After(last) {
				in++
			}
		}
		t.Logf("failed starts from +%v to +%v of the migration: %d of the %d starts sent then failed after 3 tries",
			first.Sub(began).Round(10*time.Millisecond), last.Sub(began).Round(10*time.Millisecond), failed, in)
	}
	if len(results) < 20 {
		t.Errorf("only %d flows ran during the migration", len(results))
	}
	for i, pr := range problems {
		if i == 10 {
			t.Errorf("... and %d more", len(problems)-10)
			break
		}
		t.Error(pr)
	}
	p.waitDrained(t, 20*time.Second)
}

// trustLoopback makes the test client a trusted proxy: its
// X-Forwarded-For names the client IP (load from several addresses).
func trustLoopback(s *envSetup) {
	s.cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// sdkSend is one SDK call with headers: up to 3 tries on 503, 100 ms apart
// (the Descope Go and Python SDKs retry 503).
func sdkSend(e *env, path, body string, hdr map[string]string) (status, tries int) {
	for tries = 1; ; tries++ {
		resp, _ := e.send(http.MethodPost, path, body, "Bearer "+e.project, hdr)
		if resp.StatusCode != http.StatusServiceUnavailable || tries == 3 {
			return resp.StatusCode, tries
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slotsOf maps the slot of every key matching one of the patterns (on any
// master) to the master that holds it.
func (p *clusterPair) slotsOf(t *testing.T, patterns ...string) map[int]string {
	t.Helper()
	ctx := context.Background()
	out := map[int]string{}
	var keys []string
	var mu sync.Mutex
	err := p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		for _, pat := range patterns {
			iter := m.Scan(ctx, 0, pat, 1000).Iterator()
			for iter.Next(ctx) {
				s, err := m.ClusterKeySlot(ctx, iter.Val()).Result()
				if err != nil {
					return err
				}
				mu.Lock()
				out[int(s)] = m.Options().Addr
				keys = append(keys, iter.Val())
				mu.Unlock()
			}
			if err := iter.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	t.Logf("%d keys in %d slots: %s", len(keys), len(out), strings.Join(keys, " "))
	return out
}

// waitDrained waits until every delivery queue key (otpd:{q*, one stream
// or several shards, their delayed sets and dead letters) is empty.
func (p *clusterPair) waitDrained(t *testing.T, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		var left []string
		var mu sync.Mutex
		err := p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			iter := m.Scan(ctx, 0, "otpd:{q*", 1000).Iterator()
			for iter.Next(ctx) {
				k := iter.Val()
				var n int64
				switch m.Type(ctx, k).Val() {
				case "stream":
					n = m.XLen(ctx, k).Val()
				case "zset":
					n = m.ZCard(ctx, k).Val()
				case "list":
					n = m.LLen(ctx, k).Val()
				}
				if n > 0 {
					mu.Lock()
					left = append(left, fmt.Sprintf("%s: %d", k, n))
					mu.Unlock()
				}
			}
			return iter.Err()
		})
		if err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("delivery did not drain within %v: %s %v", within, strings.Join(left, ", "), err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
