package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
)

// sdkPost is a REST call the way Descope's SDKs make it: up to 3 tries,
// retrying 503 after a short pause.
func sdkPost(e *env, path, body string) (int, map[string]any) {
	var s int
	var b map[string]any
	for try := 0; try < 3; try++ {
		if s, b = e.post(path, body); s != http.StatusServiceUnavailable {
			return s, b
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s, b
}

// TestSentinelFailover: otpd on redis+sentinel:// follows a Sentinel
// promotion without a restart; a code issued (and replicated) before the
// failover verifies after it.
func TestSentinelFailover(t *testing.T) {
	set := testredis.Sentinel(t)
	rdb, err := redisconn.Open(redisconn.Options{URL: set.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, true, withRedis(rdb))
	if s, b := sdkPost(e, "/v1/auth/otp/signup/email", `{"loginId":"sentinel@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, b)
	}
	code := e.code("sentinel@example.com")
	// The code is replicated before the master dies (asynchronous
	// replication: see docs/scaling.md, durability).
	master := redis.NewClient(&redis.Options{Addr: set.Master.Addr})
	defer master.Close()
	if n, err := master.Wait(context.Background(), 1, 2000).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}

	set.Master.Kill()
	killed := time.Now()
	// Starts keep coming, SDK-style; measure until they succeed again.
	var firstOK time.Duration
	failures := 0
	for i := 0; ; i++ {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no successful start 30s after the master died (%d failures)", failures)
		}
		s, _ := sdkPost(e, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":"during%d@example.com"}`, i))
		if s == 200 {
			firstOK = time.Since(killed)
			break
		}
		if s != http.StatusServiceUnavailable {
			t.Fatalf("start during failover: %d, want 200 or 503", s)
		}
		failures++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Sentinel failover: first successful start %v after kill -9 of the master (%d SDK-level failures; down-after %dms)",
		firstOK, failures, testredis.SentinelDownAfter)
	if s, b := sdkPost(e, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"sentinel@example.com","code":%q}`, code)); s != 200 {
		t.Fatalf("verify after failover: %d %v", s, b)
	}
	// The worker follows too: a new code is delivered.
	if s, b := sdkPost(e, "/v1/auth/otp/signin/email", `{"loginId":"sentinel@example.com"}`); s != 200 {
		t.Fatalf("sign-in after failover: %d %v", s, b)
	}
	e.code("sentinel@example.com")
	// Readiness follows within a probe or two (a probe that was under way
	// during the switch may still answer for healthFresh).
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, b := e.do("GET", "/healthz", "", "")
		if s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz 5s after the failover was served: %d %v", s, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
