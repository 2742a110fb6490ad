package testredis_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testredis"
)

// TestClusterFailoverPromotes: the helper's cluster promotes a replica when
// its master is killed (the premise of the otpd failover tests).
func TestClusterFailoverPromotes(t *testing.T) {
	c := testredis.NewCluster(t)
	masters, err := testredis.Masters(c.Nodes[0].Addr)
	if err != nil || len(masters) != 3 {
		t.Fatalf("masters: %v %v", masters, err)
	}
	victim := masters[0]
	replica, err := testredis.ReplicaOf(c.Nodes[0].Addr, victim)
	if err != nil {
		t.Fatal(err)
	}
	c.Node(victim).Kill()
	start := time.Now()
	for !testredis.IsMaster(replica) {
		if time.Since(start) > 15*time.Second {
			out, _ := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(replica, ":")[1], "cluster", "nodes").CombinedOutput()
			info, _ := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(replica, ":")[1], "info", "replication").CombinedOutput()
			t.Fatalf("not promoted within 30s\n%s\n%s", out, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("promoted %v after kill -9", time.Since(start))
}
