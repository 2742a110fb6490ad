package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
)

// waitHealth polls gRPC health until it reports want (bounded).
func waitHealth(t *testing.T, e *env, want grpc_health_v1.HealthCheckResponse_ServingStatus, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		h, err := grpc_health_v1.NewHealthClient(e.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		cancel()
		if err == nil && h.GetStatus() == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("gRPC health is not %v after %v (%v %v)", want, within, h, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFrozenRedisAnswers503Fast: with Redis frozen (SIGSTOP), a start and
// /healthz answer 503 within the documented bound (OTPD_REDIS_TIMEOUT, 1s,
// plus 250 ms slack: the start's undo no longer adds its own 500 ms, 1.5 s
// before), gRPC health flips to NOT_SERVING, and everything recovers when
// Redis resumes, the retry of a refused start included.
func TestFrozenRedisAnswers503Fast(t *testing.T) {
	srv, _ := testredis.Real(t)
	rdb, err := redisconn.Open(redisconn.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, true, withRedis(rdb))
	if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"frozen@example.com"}`); s != 200 {
		t.Fatalf("start before the freeze: %d %v", s, b)
	}
	e.drain()
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_SERVING, 5*time.Second)

	srv.Freeze(t)
	const bound = redisconn.DefaultTimeout + 250*time.Millisecond
	for i := range 3 {
		start := time.Now()
		s, b := e.post("/v1/auth/otp/signup/email", fmt.Sprintf(`{"loginId":"frozen%d@example.com"}`, i))
		took := time.Since(start)
		t.Logf("start #%d with Redis frozen: %d %v after %v", i, s, b["errorCode"], took)
		if s != http.StatusServiceUnavailable || b["errorCode"] != "E010503" {
			t.Fatalf("start with Redis frozen: %d %v, want 503 E010503", s, b)
		}
		if took > bound {
			t.Errorf("start with Redis frozen took %v, want <= %v", took, bound)
		}
	}
	start := time.Now()
	s, b := e.do("GET", "/healthz", "", "")
	took := time.Since(start)
	t.Logf("/healthz with Redis frozen: %d %v after %v", s, b, took)
	if s != http.StatusServiceUnavailable || b["status"] != "NOT_SERVING" {
		t.Fatalf("/healthz with Redis frozen: %d %v", s, b)
	}
	if took > bound {
		t.Errorf("/healthz took %v, want <= %v", took, bound)
	}
	t.Logf("gRPC health NOT_SERVING after %v", waitHealth(t, e, grpc_health_v1.HealthCheckResponse_NOT_SERVING, 5*time.Second))

	srv.Thaw(t)
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_SERVING, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"thawed@example.com"}`)
		if s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("start after Redis resumed: %d %v", s, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, b := e.do("GET", "/healthz", "", ""); s != 200 || b["workers"] != "running" {
		t.Fatalf("/healthz after Redis resumed: %d %v", s, b)
	}
	e.code("thawed@example.com")
	// The SDK's retry of a start that answered 503 while Redis was frozen:
	// that start ran when Redis resumed, and its undo (sent again until
	// Redis answered) took it back, so the retry is not refused by the
	// resend cooldown.
	if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"frozen0@example.com"}`); s != 200 {
		t.Fatalf("the retry of a start refused while Redis was frozen: %d %v, want 200", s, b)
	}
	e.code("frozen0@example.com")
}

// TestRedisOOMIs503AndUnhealthy: a Redis at maxmemory (noeviction) refuses
// writes: starts answer 503 (real unavailability, retried by the SDKs) and
// both health endpoints say NOT_SERVING until memory is available again.
func TestRedisOOMIs503AndUnhealthy(t *testing.T) {
	srv, admin := testredis.Real(t)
	rdb, err := redisconn.Open(redisconn.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, true, withRedis(rdb))
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_SERVING, 5*time.Second)
	if s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"oom@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, b)
	}
	code := e.code("oom@example.com")
	ctx := context.Background()
	if err := admin.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	// A script's first write decides (Redis runs the rest of a script that
	// has written): verify's first write is the attempt count.
	s, b := e.post("/v1/auth/otp/verify/email", `{"loginId":"oom@example.com","code":"000000"}`)
	if s != http.StatusServiceUnavailable || b["errorCode"] != "E010503" {
		t.Fatalf("verify with Redis out of memory: %d %v, want 503 E010503", s, b)
	}
	time.Sleep(600 * time.Millisecond) // past the /healthz cache
	if s, b := e.do("GET", "/healthz", "", ""); s != http.StatusServiceUnavailable || b["redis"] != "redis refuses writes" {
		t.Fatalf("/healthz with Redis out of memory: %d %v", s, b)
	}
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_NOT_SERVING, 5*time.Second)
	if err := admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, e, grpc_health_v1.HealthCheckResponse_SERVING, 5*time.Second)
	// The refused attempt changed nothing: the code still verifies.
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"oom@example.com","code":%q}`, code)); s != 200 {
		t.Fatalf("verify after memory freed: %d %v", s, b)
	}
}

// TestScriptErrorIs500: a programming error in Redis (here WRONGTYPE: the
// login index key holds a string) answers 500 E010500, which the SDKs do
// not retry, not 503; and health stays SERVING.
func TestScriptErrorIs500(t *testing.T) {
	_, rdb := testredis.Real(t)
	e := newEnv(t, true, withRedis(rdb))
	ctx := context.Background()
	if err := rdb.Set(ctx, "otpd:{"+e.project+":wrongtype@example.com}:login", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s, b := e.post("/v1/auth/otp/signup/email", `{"loginId":"wrongtype@example.com"}`)
	if s != http.StatusInternalServerError || b["errorCode"] != "E010500" {
		t.Fatalf("start over a WRONGTYPE key: %d %v, want 500 E010500", s, b)
	}
	if m, _ := b["errorMessage"].(string); strings.Contains(m, "WRONGTYPE") {
		t.Errorf("the Redis error leaks to the caller: %q", m)
	}
	if s, _ := e.do("GET", "/healthz", "", ""); s != 200 {
		t.Fatalf("/healthz after a script error: %d", s)
	}
}
