package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
)

func TestParseSentinelURL(t *testing.T) {
	cases := []struct {
		url       string
		master    string
		sentinels []string
		db        int
		password  string
	}{
		{"redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster", "mymaster", []string{"10.0.0.1:26379", "10.0.0.2:26380"}, 0, ""},
		{"redis+sentinel://:pw@s1,s2:5000/m/3?dial_timeout=2s", "m", []string{"s1:26379", "s2:5000"}, 3, "pw"},
		{"redis://s1:26379?master_name=mm&addr=s2:26379", "mm", []string{"s1:26379", "s2:26379"}, 0, ""},
	}
	for _, c := range cases {
		o, err := redisconn.ParseSentinelURL(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if o.MasterName != c.master || fmt.Sprint(o.SentinelAddrs) != fmt.Sprint(c.sentinels) || o.DB != c.db || o.Password != c.password {
			t.Errorf("%s: got master %q sentinels %v db %d password %q", c.url, o.MasterName, o.SentinelAddrs, o.DB, o.Password)
		}
	}
	for _, bad := range []string{
		"redis+sentinel:///m", "redis+sentinel://s1", "redis+sentinel://s1/m/x",
		"redis+sentinel://s1/m?master_name=other", "redis+sentinel://s1/m?nosuchoption=1",
	} {
		if _, err := redisconn.ParseSentinelURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"http://x", "redis://h:1?nosuch=1", "redis+sentinel://s1"} {
		if _, err := redisconn.Open(redisconn.Options{URL: u}); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
}

// TestUnavailable: real Redis replies classified as a caller sees them.
func TestUnavailable(t *testing.T) {
	srv, _ := testredis.Real(t)
	c, err := redisconn.Open(redisconn.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "s", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	programming := map[string]error{
		"lua runtime error": c.Eval(ctx, "return nil + 1", nil).Err(),
		"redis.error_reply": c.Eval(ctx, "return redis.error_reply('ERR boom')", nil).Err(),
		"WRONGTYPE":         c.Eval(ctx, "return redis.call('HGET', KEYS[1], 'f')", []string{"s"}).Err(),
		"NOSCRIPT":          c.EvalSha(ctx, "0000000000000000000000000000000000000000", nil).Err(),
		"wrong arity":       c.Do(ctx, "GET").Err(),
	}
	for name, err := range programming {
		if err == nil || redisconn.Unavailable(err) {
			t.Errorf("%s: %v classified as unavailable (want a 500)", name, err)
		}
	}
	if redisconn.Unavailable(redis.Nil) || redisconn.Unavailable(nil) {
		t.Error("redis.Nil / nil classified as unavailable")
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	oom := c.Set(ctx, "k", "v", 0).Err()
	if !redisconn.Unavailable(oom) {
		t.Errorf("OOM %v not classified as unavailable", oom)
	}
	if perr := redisconn.Probe(ctx, c); !errors.Is(perr, redisconn.ErrNotWritable) {
		t.Errorf("Probe at maxmemory: %v, want ErrNotWritable", perr)
	}
	_ = admin.ConfigSet(ctx, "maxmemory", "0").Err()
	if perr := redisconn.Probe(ctx, c); perr != nil {
		t.Errorf("Probe: %v", perr)
	}

	// Nothing listening: refused at once, and bounded.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dead, _ := redisconn.Open(redisconn.Options{URL: "redis://" + addr, Timeout: 200 * time.Millisecond})
	defer dead.Close()
	start := time.Now()
	err = dead.Get(ctx, "k").Err()
	if !redisconn.Unavailable(err) || time.Since(start) > time.Second {
		t.Errorf("dead server: %v after %v", err, time.Since(start))
	}
}

func TestSlot(t *testing.T) {
	// Values from the Redis Cluster specification.
	for k, want := range map[string]uint16{"foo": 12182, "{user1000}.following": 3443, "": 0} {
		if got := redisconn.Slot(k); got != want {
			t.Errorf("Slot(%q) = %d, want %d", k, got, want)
		}
	}
}

// TestClusterPoolRoomForBlockingReaders: on Cluster each queue shard's
// reader holds a pooled connection in a blocking read; the pools get room
// for them on top of the request path's (the URL's pool_size or go-redis's
// 10 per CPU).
func TestClusterPoolRoomForBlockingReaders(t *testing.T) {
	for _, c := range []struct {
		url  string
		want int
	}{
		{"redis://127.0.0.1:7000", 10*runtime.GOMAXPROCS(0) + 16},
		{"redis://127.0.0.1:7000?pool_size=5", 21},
	} {
		rdb, err := redisconn.Open(redisconn.Options{URL: c.url, Cluster: true, BlockingConns: 16})
		if err != nil {
			t.Fatal(err)
		}
		if got := rdb.(*redis.ClusterClient).Options().PoolSize; got != c.want {
			t.Errorf("%s: pool size %d, want %d", c.url, got, c.want)
		}
		_ = rdb.Close()
	}
}
