package testredis

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeout is the test clusters' cluster-node-timeout (ms).
const ClusterNodeTimeout = 2000

// Cluster is a Redis Cluster of three masters and three replicas on
// loopback, without persistence.
type Cluster struct {
	Nodes []*Server
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
	return 0, fmt.Errorf("no free port pair")
}

// NewCluster starts six cluster-enabled servers, joins them with
// redis-cli --cluster create (one replica each), waits until every node
// says cluster_state:ok, and stops them with t.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := lookup(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli: %v", err)
	}
	c := &Cluster{}
	for i := range 6 {
		s, err := retry(func() (*Server, error) {
			p, err := clusterPort()
			if err != nil {
				return nil, err
			}
			dir := t.TempDir()
			return startAt(t, bin, p, dir, "--port", strconv.Itoa(p), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.Itoa(ClusterNodeTimeout), "--loglevel", "warning")
		})
		if err != nil {
			t.Fatalf("cluster node %d: %v", i, err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t, 30*time.Second)
	// Replicas attach after the create: wait until every node sees three.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for replicas(n.Addr) < 3 || !linked(n.Addr) {
			if time.Now().After(deadline) {
				t.Fatal("the replicas did not attach and sync within 30s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

// linked reports whether addr is a master or a replica whose link to its
// master is up (a replica that never synced is never promoted).
func linked(addr string) bool {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := cl.Info(ctx, "replication").Result()
	return err == nil && (strings.Contains(s, "role:master") || strings.Contains(s, "master_link_status:up"))
}

// replicas counts the replicas node addr knows of.
func replicas(addr string) int {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return 0
	}
	return strings.Count(s, "slave")
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is a cluster URL naming every node as a seed.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr + "?"
	for _, n := range c.Nodes[1:] {
		u += "addr=" + n.Addr + "&"
	}
	return strings.TrimSuffix(u, "&")
}

// Node returns the server at addr.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Info runs CLUSTER INFO on one node (bounded) and returns its fields.
func Info(addr string) (map[string]string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		out[k] = v
	}
	return out, nil
}

// WaitOK waits until every live node reports cluster_state:ok and the
// same epoch view (bounded).
func (c *Cluster) WaitOK(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd.ProcessState != nil {
				continue
			}
			if info, err := Info(n.Addr); err != nil || info["cluster_state"] != "ok" || info["cluster_slots_ok"] != "16384" {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster is not ok after %v", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Masters returns the addresses of the masters that own slots, as node
// seen from addr says (CLUSTER NODES).
func Masters(addr string) ([]string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		out = append(out, a)
	}
	return out, nil
}

// ReplicaOf returns the address of the replica of master, as seen from addr.
func ReplicaOf(addr, master string) (string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return "", err
	}
	ids := map[string]string{}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for _, l := range lines {
		f := strings.Fields(l)
		a, _, _ := strings.Cut(f[1], "@")
		ids[a] = f[0]
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if strings.Contains(f[2], "slave") && f[3] == ids[master] {
			a, _, _ := strings.Cut(f[1], "@")
			return a, nil
		}
	}
	return "", fmt.Errorf("no replica of %s in\n%s", master, s)
}

// IsMaster reports whether the node at addr says it is a master.
func IsMaster(addr string) bool {
	cl := nodeClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := cl.Do(ctx, "ROLE").Slice()
	return err == nil && len(r) > 0 && r[0] == "master"
}

// nodeClient is a short-lived client for one node's admin commands: no
// retries, half-second dial and read timeouts (a dead node answers fast).
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
}
