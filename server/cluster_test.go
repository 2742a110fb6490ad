package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
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
		rdb, err := redisconn.Open(redisconn.Options{URL: c.URL(), Cluster: true})
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

// distribution runs n sign-up-or-in + verify flows across both replicas
// and reports keys and commands per master (docs/scaling.md's table). No
// master may hold more than 1.5x the mean of the keys, nor run more than
// 1.5x the mean of the commands (INFO commandstats deltas over the flows):
// the login-id, user and per-bucket hash tags spread; a tag that collapsed
// them (one project-wide {P:rl} slot, one {q} slot for every job) fails.
func (p *clusterPair) distribution(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	calls := func() map[string]int64 {
		out := map[string]int64{}
		_ = p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			var total int64
			for _, l := range strings.Split(m.Info(ctx, "commandstats").Val(), "\n") {
				if i := strings.Index(l, "calls="); i >= 0 {
					var c int64
					fmt.Sscanf(l[i+len("calls="):], "%d", &c)
					total += c
				}
			}
			mu.Lock()
			out[m.Options().Addr] = total
			mu.Unlock()
			return nil
		})
		return out
	}
	before := calls()
	for i := range n {
		// Login ids as varied as real addresses: sequential ones (dist0,
		// dist1...) differ in a few low bits, and CRC16, being linear, maps
		// them to few slot ranges (21, 1 and 41 of 63 login ids per master
		// in one run).
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		id := fmt.Sprintf("d%x@example.com", h[:6])
		start, verify := p.a, p.b
		if i%2 == 1 {
			start, verify = p.b, p.a
		}
		// Each from its own client IP (behind a trusted proxy), as real
		// traffic: a client IP's buckets (sends, verifies) are a key each.
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.%d.%d", h[6], h[7], h[8])}
		if s, _ := sdkSend(start, "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":%q}`, id), hdr); s != 200 {
			t.Fatalf("start %s: %d", id, s)
		}
		// waitCode reads the code log (start.code would poll the queue's
		// keys, counting the test's own commands on the queue's master).
		code := waitCode(start, id, 10*time.Second)
		if s, _ := sdkSend(verify, "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code), hdr); s != 200 {
			t.Fatalf("verify %s: %d", id, s)
		}
	}
	after := calls()
	keys := map[string]int64{}
	_ = p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		keys[m.Options().Addr] = m.DBSize(ctx).Val()
		mu.Unlock()
		return nil
	})
	// No slot may carry a growing share of the keys (before, every client
	// IP's buckets shared the project's one {P:rl} slot: 20% of all keys
	// after these 60 flows, and more with every new client IP).
	var total int64
	for _, k := range keys {
		total += k
	}
	slot, most := p.hottestSlot(t)
	t.Logf("hottest slot %d: %d of %d keys (%.1f%%)", slot, most, total, 100*float64(most)/float64(total))
	if float64(most) > 0.05*float64(total) {
		t.Errorf("slot %d holds %d of the %d keys, above 5%%: a hash tag collects keys that grow with traffic", slot, most, total)
	}
	cmds := map[string]int64{}
	for addr := range keys {
		cmds[addr] = after[addr] - before[addr]
	}
	mean := func(m map[string]int64) float64 {
		var sum int64
		for _, v := range m {
			sum += v
		}
		return float64(sum) / float64(len(m))
	}
	km, cm := mean(keys), mean(cmds)
	addrs := make([]string, 0, len(keys))
	for addr := range keys {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		k, c := keys[addr], cmds[addr]
		t.Logf("master %s: %d keys (%.2fx mean), %d commands (%.2fx mean) during %d flows", addr, k, float64(k)/km, c, float64(c)/cm, n)
		if float64(k) > 1.5*km {
			t.Errorf("master %s holds %d keys, above 1.5x the mean %.1f: a hash tag collapses keys onto one slot", addr, k, km)
		}
		if float64(c) > 1.5*cm {
			t.Errorf("master %s ran %d commands, above 1.5x the mean %.1f: a hot slot (the delivery queue's one {q} stream, until it is sharded, or a project-wide tag)", addr, c, cm)
		}
	}
}

// hottestSlot is the slot holding the most keys, and how many.
func (p *clusterPair) hottestSlot(t *testing.T) (slot, keys int64) {
	t.Helper()
	ctx := context.Background()
	per := map[int64]int64{}
	err := p.admin.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			s, err := m.ClusterKeySlot(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			per[s]++
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range per {
		if n > keys {
			slot, keys = s, n
		}
	}
	return slot, keys
}

var mu sync.Mutex

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

	// The victim: the master of the queue's slot.
	victim, err := p.admin.MasterForKey(ctx, "otpd:{q}:jobs")
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
	q := p.admin.XLen(ctx, queue.StreamKey).Val()
	d := p.admin.ZCard(ctx, queue.DelayedKey).Val()
	if q+d != 0 {
		t.Errorf("the queue did not drain: %d waiting, %d parked", q, d)
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
