package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/token"
)

// clusterPair is two otpd replicas on one real Redis Cluster, sharing the
// code log (either's workers deliver), the signing key and the secrets.
type clusterPair struct {
	cluster *testredis.Cluster
	a, b    *env
	admin   *redis.ClusterClient
}

// clusterLimits: the default per-login-id limits and project budget (so
// that the split-slot charging is exercised), per-IP limits raised (the
// load comes from one address).
func clusterLimits() config.Limits {
	many := config.Rate{Count: 1_000_000, Window: config.Duration(time.Hour)}
	return config.Limits{SendsPerIP: &many, VerifiesPerIP: &many}
}

func newClusterPair(t *testing.T, opts ...envOption) *clusterPair {
	t.Helper()
	c := testredis.NewCluster(t)
	k, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	codes := &syncBuffer{}
	open := func() redis.UniversalClient {
		rdb, err := redisconn.Open(redisconn.Options{URL: c.URL(), Cluster: true, BlockingConns: queue.DefaultShards})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	p := func() config.Project {
		return config.Project{ID: pid, SigningKeyFiles: []string{"k.pem"}, Limits: clusterLimits()}
	}
	a := newEnv(t, true, append([]envOption{withRedis(open()), withCodeLog(codes), withFile("k.pem", pem), withProject(p())}, opts...)...)
	b := newEnv(t, true, append([]envOption{withRedis(open()), withCodeLog(codes), withFile("k.pem", pem), withProject(p())}, opts...)...)
	admin := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = admin.Close() })
	return &clusterPair{cluster: c, a: a, b: b, admin: admin}
}

// TestClusterEveryFlowAcrossReplicas: on a real 3+3 Redis Cluster, every
// flow started on one otpd replica finishes on the other, and concurrent
// verifies of one code across both replicas succeed exactly once.
func TestClusterEveryFlowAcrossReplicas(t *testing.T) {
	// The default limits (the distribution's flows come from one client
	// IP each, behind a trusted proxy) and the default worker polling (the
	// harness polls the queue 20-50x faster, which would load the queue's
	// master with idle reads the distribution does not come from).
	def := config.DefaultSendsPerIP
	p := newClusterPair(t, trustLoopback, withProject(config.Project{ID: pid, SigningKeyFiles: []string{"k.pem"}, Limits: config.Limits{SendsPerIP: &def}}),
		withServer(func(o *server.Options) { o.WorkerOptions = queue.Options{} }))
	a, b := p.a, p.b
	// Sign-up by email on A, verify on B.
	if s, r := a.post("/v1/auth/otp/signup/email", `{"loginId":"c1@example.com"}`); s != 200 {
		t.Fatalf("sign-up on A: %d %v", s, r)
	}
	s, v := b.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"c1@example.com","code":%q}`, a.code("c1@example.com")))
	if s != 200 {
		t.Fatalf("verify on B: %d %v", s, v)
	}
	// Refresh and me on A with B's token; logout on B.
	if s, r := a.do("POST", "/v1/auth/refresh", "", a.bearer(v["refreshJwt"])); s != 200 {
		t.Fatalf("refresh on A: %d %v", s, r)
	}
	if s, r := a.do("GET", "/v1/auth/me", "", a.bearer(v["refreshJwt"])); s != 200 || r["email"] != "c1@example.com" {
		t.Fatalf("me on A: %d %v", s, r)
	}
	// Sign-in by SMS (sign-up-or-in with a phone) on B, verify on A.
	if s, r := b.post("/v1/auth/otp/signup-in/sms", `{"loginId":"+14155550199"}`); s != 200 {
		t.Fatalf("sms on B: %d %v", s, r)
	}
	s, ph := a.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"+14155550199","code":%q}`, a.code("+14155550199")))
	if s != 200 {
		t.Fatalf("sms verify on A: %d %v", s, ph)
	}
	// Add an email to the phone user (a flow over the login id's, the new
	// address's and the user's slots), started on B, verified on A.
	if s, r := b.do("POST", "/v1/auth/otp/update/email", `{"loginId":"+14155550199","email":"c2@example.com"}`, b.bearer(ph["refreshJwt"])); s != 200 {
		t.Fatalf("update on B: %d %v", s, r)
	}
	if s, r := a.do("POST", "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"+14155550199","code":%q}`, a.code("c2@example.com")), a.bearer(ph["refreshJwt"])); s != 200 {
		t.Fatalf("update verify on A: %d %v", s, r)
	}
	if s, r := b.do("POST", "/v1/auth/logout", "", b.bearer(v["refreshJwt"])); s != 200 {
		t.Fatalf("logout on B: %d %v", s, r)
	}
	// Concurrent verifies of one code across both replicas: one success.
	if s, r := a.post("/v1/auth/otp/signup-in/email", `{"loginId":"race@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, r)
	}
	code := a.code("race@example.com")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Go(func() {
			if s, _ := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"race@example.com","code":%q}`, code)); s == 200 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent verifies of one code succeeded, want 1", ok.Load())
	}
	p.distribution(t, 60)
}

// outcome is one SDK-level call during the load.
type outcome struct {
	at     time.Time
	status int
	tries  int
}

// sdkCall is sdkPost recording every try's 503 time.
func sdkCall(e *env, path, body string, last503 *atomic.Int64) outcome {
	var s int
	var tries int
	for tries = 1; tries <= 3; tries++ {
		s, _ = e.post(path, body)
		if s != http.StatusServiceUnavailable {
			break
		}
		last503.Store(time.Now().UnixNano())
		time.Sleep(100 * time.Millisecond)
	}
	return outcome{at: time.Now(), status: s, tries: tries}
}

// TestClusterMasterFailover: kill -9 of the master holding the delivery
// queue and the project's limit keys' slot... under bounded load (4 clients
// starting and verifying across both replicas): errors stop within
// node-timeout + 5s of the replica's promotion, no code verifies twice, no
// SDK-style retry is refused by otpd's limits, and delivery drains.
func TestClusterMasterFailover(t *testing.T) {
	p := newClusterPair(t)
	a, b := p.a, p.b
	ctx := context.Background()

	// The victim: the master of the queue's first shard.
	layout, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	victim, err := p.admin.MasterForKey(ctx, layout.Shards()[0].Stream)
	if err != nil {
		t.Fatal(err)
	}
	victimAddr := victim.Options().Addr
	replica, err := testredis.ReplicaOf(victimAddr, victimAddr)
	if err != nil {
		t.Fatal(err)
	}

	var last503 atomic.Int64
	var mu sync.Mutex
	var outcomes []outcome
	var verified = map[string]int{}
	var refused []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := n.Add(1)
				start, verify := a, b
				if (int(i)+w)%2 == 1 {
					start, verify = b, a
				}
				id := fmt.Sprintf("load%d@example.com", i)
				o := sdkCall(start, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id), &last503)
				mu.Lock()
				outcomes = append(outcomes, o)
				if o.status != 200 && o.status != http.StatusServiceUnavailable {
					refused = append(refused, fmt.Sprintf("start %s: %d after %d tries", id, o.status, o.tries))
				}
				mu.Unlock()
				if o.status != 200 {
					continue
				}
				// The code may wait in the queue while its master fails over.
				code := waitCode(start, id, 20*time.Second)
				if code == "" {
					mu.Lock()
					refused = append(refused, "no code delivered to "+id)
					mu.Unlock()
					continue
				}
				// Verify the same code on both replicas at once.
				var pair sync.WaitGroup
				for _, e := range []*env{verify, start} {
					pair.Go(func() {
						o := sdkCall(e, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code), &last503)
						mu.Lock()
						defer mu.Unlock()
						outcomes = append(outcomes, o)
						if o.status == 200 {
							verified[id]++
						}
						if o.status == http.StatusTooManyRequests {
							refused = append(refused, fmt.Sprintf("verify %s: 429 after %d tries", id, o.tries))
						}
					})
				}
				pair.Wait()
			}
		})
	}
	time.Sleep(2 * time.Second) // load before the fault
	p.cluster.Node(victimAddr).Kill()
	killed := time.Now()
	var promoted time.Time
	for time.Since(killed) < 30*time.Second {
		if testredis.IsMaster(replica) {
			promoted = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if promoted.IsZero() {
		close(stop)
		wg.Wait()
		t.Fatal("the replica was not promoted within 30s")
	}
	// Keep the load on for node-timeout + 10s after the promotion.
	time.Sleep(time.Duration(testredis.ClusterNodeTimeout)*time.Millisecond + 10*time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var ok, failed int
	for _, o := range outcomes {
		if o.status == 200 {
			ok++
		} else {
			failed++
		}
	}
	lastErr := time.Unix(0, last503.Load())
	t.Logf("failover: promotion %v after kill -9; last 503 %v after the promotion; %d calls ok, %d failed after 3 tries",
		promoted.Sub(killed).Round(10*time.Millisecond), lastErr.Sub(promoted).Round(10*time.Millisecond), ok, failed)
	if last503.Load() != 0 && lastErr.Sub(promoted) > time.Duration(testredis.ClusterNodeTimeout)*time.Millisecond+5*time.Second {
		t.Errorf("503s went on %v after the promotion (want <= node-timeout + 5s)", lastErr.Sub(promoted))
	}
	for id, k := range verified {
		if k > 1 {
			t.Errorf("the code of %s verified %d times", id, k)
		}
	}
	for _, r := range refused {
		t.Error(r)
	}
	a.drain()
	// Through otpd's client (it follows the failover; the admin client
	// reloads its slot map only every 60s).
	q, d, err := layout.Depth(ctx, a.redis)
	if err != nil || q+d != 0 {
		t.Errorf("the queue did not drain: %d waiting, %d parked (%v)", q, d, err)
	}
}

func waitCode(e *env, to string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c := e.lastCode(to); c != "" {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ""
}

// lastCode is the newest code sent to address so far ("" if none).
func (e *env) lastCode(to string) string {
	var code string
	for _, line := range strings.Split(e.codes.String(), "\n") {
		var m struct{ To, Code string }
		if json.Unmarshal([]byte(line), &m) == nil && m.To == to {
			code = m.Code
		}
	}
	return code
}
