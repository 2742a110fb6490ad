package redisconn_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
)

// TestNoCachedRefusalAfterRedisReturns: while Redis is down every command
// fails ("connection refused", 503), and once Redis listens again the
// next command reaches it. go-redis's pool, after PoolSize failed dials,
// answers its last dial error without dialling until a background probe,
// once a second, gets through: up to 1 s of cached "connection refused"
// answers after Redis is back (0.35 s measured), and after a Sentinel
// switch, 503s naming the old master. Open's dialer never lets that
// breaker open.
func TestNoCachedRefusalAfterRedisReturns(t *testing.T) {
	srv, _ := testredis.Real(t)
	_, portS, _ := strings.Cut(srv.Addr, ":")
	port, _ := strconv.Atoi(portS)
	c, err := redisconn.Open(redisconn.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	// More failed dials than the pool's size (go-redis's breaker opens at
	// PoolSize).
	for i := range max(100, 20*runtime.GOMAXPROCS(0)) { // PoolSize is 10 per CPU
		if err := c.Ping(ctx).Err(); err == nil || !redisconn.Unavailable(err) {
			t.Fatalf("ping %d with Redis down: %v, want unavailable", i, err)
		}
	}
	testredis.RealOn(t, port) // returns once the server answers PING
	back := time.Now()
	refused := 0
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		refused++
		if time.Since(back) > 3*time.Second {
			t.Fatalf("no successful command 3 s after Redis came back: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("first success %v after Redis answered again; %d refused answers meanwhile", time.Since(back), refused)
	if refused > 0 {
		t.Errorf("%d commands answered a cached refusal after Redis was back", refused)
	}
}

// TestSentinelSwitchNoStaleMaster: after kill -9 of a Sentinel set's
// master, once the Sentinels name the promoted replica, no command fails
// naming the old master (before: go-redis's pool kept answering the old
// master's cached dial error for up to 1 s after the switch).
func TestSentinelSwitchNoStaleMaster(t *testing.T) {
	set := testredis.Sentinel(t)
	c, err := redisconn.Open(redisconn.Options{URL: set.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: set.Sentinels[0].Addr})
	t.Cleanup(func() { _ = sentinel.Close() })
	old := set.Master.Addr
	set.Master.Kill()
	killed := time.Now()
	var switched time.Time
	var stale, failed int
	var lastStale error
	for {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no successful command 30 s after the master died (switched %v)", !switched.IsZero())
		}
		if switched.IsZero() {
			if a, err := sentinel.GetMasterAddrByName(ctx, testredis.MasterName).Result(); err == nil && a[0]+":"+a[1] != old {
				switched = time.Now()
			}
		}
		err := c.Ping(ctx).Err()
		if err == nil && !switched.IsZero() {
			break
		}
		if err != nil && !switched.IsZero() {
			failed++
			if strings.Contains(err.Error(), old) {
				stale++
				lastStale = err
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("Sentinel switch %v after kill -9; first success %v after the switch; %d failures after the switch, %d naming the old master",
		switched.Sub(killed), time.Since(switched), failed, stale)
	if stale > 0 {
		t.Errorf("%d commands failed naming the old master after the Sentinels switched (last: %v)", stale, lastStale)
	}
}
