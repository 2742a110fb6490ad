package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/server"
)

// TestDurableFrozenReplicaVerifyRetry: with OTPD_REDIS_WAIT_REPLICAS=1 on
// a real master and replica, the replica frozen (SIGSTOP): a verify answers
// 503 (its consumption did not reach the replica) with the code given back
// on the master, the node reports durability degraded (/healthz body,
// metric, log; and unready on /healthz and gRPC health, since
// OTPD_REDIS_WAIT_UNREADY asks for it),
// and once the replica is back the SDK's retry of the same verify signs
// the user in (before: 401, the code consumed by the refused try) and the
// node is healthy again.
func TestDurableFrozenReplicaVerifyRetry(t *testing.T) {
	master, replica := testredis.WithReplica(t)
	rdb, err := redisconn.Open(redisconn.Options{URL: master.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, true, withRedis(rdb), withServer(func(o *server.Options) {
		o.Config.RedisWaitReplicas = 1
		o.Config.RedisWaitTimeout = 100 * time.Millisecond
		o.Config.RedisWaitUnready = true
	}))
	if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"frozen-replica@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, b)
	}
	code := e.code("frozen-replica@example.com")
	verify := fmt.Sprintf(`{"loginId":"frozen-replica@example.com","code":%q}`, code)
	if s, b := e.do("GET", "/healthz", "", ""); s != 200 || b["durability"] != "ok" {
		t.Fatalf("/healthz before: %d %v", s, b)
	}

	replica.Freeze(t)
	s, b := e.post("/v1/auth/otp/verify/email", verify)
	if s != http.StatusServiceUnavailable || b["errorCode"] != "E010503" {
		t.Fatalf("verify with the replica frozen: %d %v, want 503 E010503", s, b)
	}
	if s, b := e.do("GET", "/healthz", "", ""); s != http.StatusServiceUnavailable || b["durability"] != "degraded" || b["redis"] != "ok" {
		t.Fatalf("/healthz with a write short of its replica (unready asked): %d %v, want 503, degraded", s, b)
	}
	m := e.metrics()
	for _, want := range []string{`otpd_redis_durability_shortfalls_total{outcome="refused"} 1`, "otpd_redis_durability_degraded 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(e.logs.String(), "node degraded") {
		t.Error("no log of the degraded node")
	}
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_NOT_SERVING, 5*time.Second)
	replica.Thaw(t)

	// The SDK's retry: the code was given back.
	if s, b := e.post("/v1/auth/otp/verify/email", verify); s != 200 {
		t.Fatalf("the retried verify: %d %v, want 200", s, b)
	}
	if s, b := e.do("GET", "/healthz", "", ""); s != 200 || b["durability"] != "ok" {
		t.Fatalf("/healthz after a replicated write: %d %v, want 200, ok", s, b)
	}
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_SERVING, 5*time.Second)
}
