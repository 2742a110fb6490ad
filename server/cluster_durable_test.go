package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
)

// TestClusterDurableOrphanedMaster: a real 3+3 Cluster with
// OTPD_REDIS_WAIT_REPLICAS=1; kill -9 of a master leaves its promoted
// replica without a replica of its own (the old node never comes back).
//   - OTPD_REDIS_WAIT_POLICY=accept (otpd replicas a and b): the orphan's
//     login ids start and verify again once the slot map follows the
//     promotion, and /healthz says durability "degraded" (still SERVING:
//     readiness is the operator's choice), with the accepted shortfalls
//     counted. Before this change every write on those slots answered 503
//     until the old node came back (for ever if it never did).
//   - the default, refuse (otpd replica r): first, with a replica of
//     another master frozen, a verify answers 503 and its retry after the
//     thaw signs the user in (the code given back on the master); after
//     the failover, a start on the orphan's slots
//     answers 503, which is retry-safe, and r reports durability degraded;
//     docs/scaling.md says how many replicas per master keep it available.
func TestClusterDurableOrphanedMaster(t *testing.T) {
	durable := func(policy string) envOption {
		return withServer(func(o *server.Options) {
			o.Config.RedisWaitReplicas = 1
			o.Config.RedisWaitTimeout = 100 * time.Millisecond
			o.Config.RedisWaitPolicy = policy
		})
	}
	p := newClusterPair(t, durable("accept"))
	a, b := p.a, p.b
	rdb, err := redisconn.Open(redisconn.Options{URL: p.cluster.URL(), Cluster: true, BlockingConns: queue.DefaultShards})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	// No workers: a's and b's deliver every code into their shared log.
	r := newEnv(t, true, withRedis(rdb), durable("refuse"), withProject(config.Project{ID: pid, Limits: clusterLimits()}),
		withServer(func(o *server.Options) { o.Config.Workers = 0 }))
	ctx := context.Background()

	// Login ids on one master's slots: the victim.
	first, err := p.admin.MasterForKey(ctx, store.LoginKey(pid, "orphan0@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	victim := first.Options().Addr
	var ids []string
	for i := 1; len(ids) < 3; i++ {
		id := fmt.Sprintf("orphan%d@example.com", i)
		m, err := p.admin.MasterForKey(ctx, store.LoginKey(pid, id))
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr == victim {
			ids = append(ids, id)
		}
	}
	signIn := func(start, verify *env, id string) (int, string) {
		s, body := sdkPost(start, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id))
		if s != 200 {
			return s, fmt.Sprintf("start: %v", body)
		}
		code := waitCode(start, id, 10*time.Second)
		if code == "" {
			return 0, "no code delivered"
		}
		s, body = sdkPost(verify, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code))
		return s, fmt.Sprintf("verify: %v", body)
	}
	if s, why := signIn(a, b, "orphan0@example.com"); s != 200 {
		t.Fatalf("sign-in before the failover: %d %s", s, why)
	}

	// refuse, a frozen replica (SIGSTOP) of another master: the verify
	// answers 503 with its code given back (split-slot undo), and the
	// SDK's retry once the replica is back signs the user in (before: 401).
	frozenID := ""
	var frozenMaster string
	for i := 0; frozenID == ""; i++ {
		id := fmt.Sprintf("frozen%d@example.com", i)
		m, err := p.admin.MasterForKey(ctx, store.LoginKey(pid, id))
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr != victim {
			frozenID, frozenMaster = id, m.Options().Addr
		}
	}
	frozenReplica, err := testredis.ReplicaOf(frozenMaster, frozenMaster)
	if err != nil {
		t.Fatal(err)
	}
	if s, b := sdkPost(r, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, frozenID)); s != 200 {
		t.Fatalf("start before the freeze: %d %v", s, b)
	}
	verifyFrozen := fmt.Sprintf(`{"loginId":%q,"code":%q}`, frozenID, waitCode(a, frozenID, 10*time.Second))
	p.cluster.Node(frozenReplica).Freeze(t)
	s, body := r.post("/v1/auth/otp/verify/email", verifyFrozen)
	p.cluster.Node(frozenReplica).Thaw(t)
	if s != http.StatusServiceUnavailable || body["errorCode"] != "E010503" {
		t.Fatalf("refuse policy, verify with the replica frozen: %d %v, want 503 E010503", s, body)
	}
	if s, body := sdkPost(r, "/v1/auth/otp/verify/email", verifyFrozen); s != 200 {
		t.Fatalf("refuse policy, the retried verify after the thaw: %d %v, want 200 (the code given back)", s, body)
	}

	replica, err := testredis.ReplicaOf(victim, victim)
	if err != nil {
		t.Fatal(err)
	}
	p.cluster.Node(victim).Kill()
	killed := time.Now()
	for !testredis.IsMaster(replica) {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("the replica was not promoted within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	promoted := time.Now()
	p.cluster.WaitOK(t, 30*time.Second)

	// accept: the orphan's login ids sign in again (SDK-style retries while
	// the slot map follows the promotion).
	var firstOK time.Duration
	for {
		s, why := signIn(a, b, ids[0])
		if s == 200 {
			firstOK = time.Since(promoted)
			break
		}
		if s != http.StatusServiceUnavailable || time.Since(promoted) > 20*time.Second {
			t.Fatalf("accept policy: sign-in on the orphaned master's slots: %d %s (%v after the promotion)", s, why, time.Since(promoted))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s, why := signIn(b, a, ids[1]); s != 200 {
		t.Fatalf("accept policy: second sign-in on the orphan: %d %s", s, why)
	}
	t.Logf("promotion %v after kill -9; accept policy: first sign-in on the orphan's slots %v after the promotion", promoted.Sub(killed), firstOK)
	if s, h := healthyProbe(a); s != 200 || h["durability"] != "degraded" {
		t.Errorf("accept policy, /healthz with an orphaned master: %d %v, want 200, durability degraded", s, h)
	}
	if m := a.metrics() + b.metrics(); !strings.Contains(m, `otpd_redis_durability_shortfalls_total{outcome="accepted"}`) {
		t.Error("no accepted shortfall counted")
	}

	// refuse: every start on the orphan's slots answers 503 (retry-safe).
	for try := range 3 {
		s, body := r.post("/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, ids[2]))
		if s != http.StatusServiceUnavailable || body["errorCode"] != "E010503" {
			t.Fatalf("refuse policy, start #%d on the orphan's slots: %d %v, want 503 E010503", try, s, body)
		}
	}
	if s, h := healthyProbe(r); s != 200 || h["durability"] != "degraded" {
		t.Errorf("refuse policy, /healthz: %d %v, want 200 (not asked to be unready), durability degraded", s, h)
	}
}

// healthyProbe is /healthz once its Redis probe passes (a probe from the
// failover may still be cached, and the watcher probes once a second).
func healthyProbe(e *env) (int, map[string]any) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, h := e.do("GET", "/healthz", "", "")
		if h["redis"] == "ok" || time.Now().After(deadline) {
			return s, h
		}
		time.Sleep(100 * time.Millisecond)
	}
}
