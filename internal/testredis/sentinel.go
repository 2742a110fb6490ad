package testredis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelSet is a master, one replica and three Sentinels (quorum 2)
// watching it under the name Master, on loopback ports.
type SentinelSet struct {
	Master    *Server
	Replica   *Server
	Sentinels []*Server
}

// MasterName is the name the Sentinels know the master by.
const MasterName = "otpdmaster"

// SentinelDownAfter is the Sentinels' down-after-milliseconds.
const SentinelDownAfter = 1000

// Sentinel starts a SentinelSet; every process stops with t.
func Sentinel(t testing.TB) *SentinelSet {
	t.Helper()
	bin := lookup(t)
	var set SentinelSet
	var err error
	if set.Master, err = retry(func() (*Server, error) { return start(t, bin) }); err != nil {
		t.Fatalf("master: %v", err)
	}
	host, port, _ := strings.Cut(set.Master.Addr, ":")
	if set.Replica, err = retry(func() (*Server, error) { return start(t, bin, "--replicaof", host, port) }); err != nil {
		t.Fatalf("replica: %v", err)
	}
	for i := range 3 {
		s, err := retry(func() (*Server, error) {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			dir := t.TempDir()
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s 10000\n"+
				"sentinel parallel-syncs %s 1\n",
				p, dir, MasterName, host, port, MasterName, SentinelDownAfter, MasterName, MasterName)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil, err
			}
			return startAt(t, bin, p, dir, conf, "--sentinel", "--loglevel", "warning")
		})
		if err != nil {
			t.Fatalf("sentinel %d: %v", i, err)
		}
		set.Sentinels = append(set.Sentinels, s)
	}
	return &set
}

// URL is the redis+sentinel:// URL of the set.
func (s *SentinelSet) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, x := range s.Sentinels {
		addrs[i] = x.Addr
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + MasterName
}

func lookup(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found under CI=true (run scripts/ensure-redis-server.sh): %v", err)
		}
		t.Skip("redis-server not installed; run scripts/ensure-redis-server.sh")
	}
	return bin
}

func retry(f func() (*Server, error)) (*Server, error) {
	var err error
	for range 5 {
		var s *Server
		if s, err = f(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// WithReplica starts a master and one replica linked to it (no Sentinels).
func WithReplica(t testing.TB) (master, replica *Server) {
	t.Helper()
	bin := lookup(t)
	var err error
	if master, err = retry(func() (*Server, error) { return start(t, bin) }); err != nil {
		t.Fatalf("master: %v", err)
	}
	host, port, _ := strings.Cut(master.Addr, ":")
	if replica, err = retry(func() (*Server, error) { return start(t, bin, "--replicaof", host, port) }); err != nil {
		t.Fatalf("replica: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !linked(replica.Addr) || !strings.Contains(infoRepl(replica.Addr), "master_link_status:up") {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not sync within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return master, replica
}

func infoRepl(addr string) string {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cl.Info(ctx, "replication").Val()
}
