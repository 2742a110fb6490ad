package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisSide is the Redis a scenario's server uses: one redis-server, or
// the masters of a Cluster (their CPU and commands summed).
type redisSide interface {
	flush(ctx context.Context) error
	cpu() (time.Duration, error)
	commands(ctx context.Context) (total, scripts int64, err error)
	cmdable() redis.Cmdable
}

var (
	_ redisSide = (*redisProc)(nil)
	_ redisSide = (*clusterSet)(nil)
)

// clusterSet is a Redis Cluster of three masters and no replicas on
// loopback (-cluster): the same redis-server binary and settings as the
// single node, cluster-enabled.
type clusterSet struct {
	nodes  []*redisProc
	client *redis.ClusterClient
}

// clusterPort is a free port whose cluster bus port (+10000) is free too.
func clusterPort() (int, error) {
	for range 50 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free port pair for a cluster node")
}

func startCluster(ctx context.Context, o options) (*clusterSet, error) {
	c := &clusterSet{}
	for i := range 3 {
		port, err := clusterPort()
		if err != nil {
			c.stop()
			return nil, err
		}
		dir := filepath.Join(o.dir, fmt.Sprintf("cluster-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.stop()
			return nil, err
		}
		cmd := o.serverCmd(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		log, _ := os.Create(filepath.Join(dir, "redis.log"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, err
		}
		n := &redisProc{proc: &proc{name: "redis-cluster", cmd: cmd}, addr: fmt.Sprintf("127.0.0.1:%d", port)}
		n.client = redis.NewClient(&redis.Options{Addr: n.addr})
		c.nodes = append(c.nodes, n)
		for j := 0; n.client.Ping(ctx).Err() != nil; j++ {
			if j > 200 {
				c.stop()
				return nil, fmt.Errorf("cluster node %s did not start", n.addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.nodes {
		args = append(args, n.addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	for _, n := range c.nodes {
		for j := 0; !strings.Contains(n.client.ClusterInfo(ctx).Val(), "cluster_state:ok"); j++ {
			if j > 300 {
				c.stop()
				return nil, fmt.Errorf("cluster node %s: cluster_state not ok after 30s", n.addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.nodes[0].addr}})
	return c, nil
}

// url is the otpd OTPD_REDIS_URL of the cluster (with OTPD_REDIS_CLUSTER).
func (c *clusterSet) url() string {
	u := "redis://" + c.nodes[0].addr + "?"
	for i, n := range c.nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + n.addr
	}
	return u
}

func (c *clusterSet) stop() {
	if c == nil {
		return
	}
	for _, n := range c.nodes {
		n.stop()
	}
}

func (c *clusterSet) flush(ctx context.Context) error {
	for _, n := range c.nodes {
		if err := n.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *clusterSet) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, n := range c.nodes {
		d, err := n.cpu()
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

func (c *clusterSet) commands(ctx context.Context) (total, scripts int64, err error) {
	for _, n := range c.nodes {
		t, s, err := n.commands(ctx)
		if err != nil {
			return 0, 0, err
		}
		total, scripts = total+t, scripts+s
	}
	return total, scripts, nil
}

func (c *clusterSet) cmdable() redis.Cmdable { return c.client }

// startClusterOtpd starts a second otpd, the same configuration, on the
// cluster.
func (t *targets) startClusterOtpd(ctx context.Context, o options, b binaries, c *clusterSet) error {
	var addrs [3]string
	for i := range addrs {
		p, err := freePort()
		if err != nil {
			return err
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	p, err := startOtpd(ctx, o, b, "otpd-cluster", addrs[0], addrs[1], addrs[2],
		append(t.env, "OTPD_REDIS_URL="+c.url(), "OTPD_REDIS_CLUSTER=true"))
	if err != nil {
		return err
	}
	t.otpdCluster, t.otpdClusterGRPC = p, addrs[0]
	return nil
}
