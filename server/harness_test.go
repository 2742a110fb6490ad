package server_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
)

const pid = "P2TestProject000000000000001"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one running otpd on real loopback listeners.
type env struct {
	t       testing.TB
	clock   *clock.Fake
	redis   redis.UniversalClient
	base    string // REST base URL
	conn    *grpc.ClientConn
	codes   *syncBuffer // the log provider's output
	logs    *syncBuffer // the service log
	cancel  context.CancelFunc
	served  chan error
	project string
	// admin is the admin listener's base URL (/metrics, /debug/pprof/).
	admin string
	// grpcAddr is the gRPC listener's address.
	grpcAddr string
	// registry holds the server's metrics.
	registry *prometheus.Registry
}

// envSetup is what options may change before the server starts.
type envSetup struct {
	codes   io.Reader   // the code source (nil: crypto/rand)
	codeLog *syncBuffer // the log provider's sink (nil: the env's own)
	cfg     *config.Config
	redis   redis.UniversalClient // shared with another env when set
	files   map[string][]byte     // key files the config names
	server  []func(*server.Options)
}

type envOption func(*envSetup)

// startAt is the fake clock's start: now, because the Redis scripts set
// absolute expiries that a real redis-server checks against its own clock,
// and outside validators (the SDK test) check exp against the wall clock.
var startAt = time.Now().Truncate(time.Second)

// withProjects replaces the served projects (defaults filled in).
func withProjects(ps ...config.Project) envOption {
	return func(s *envSetup) {
		for i := range ps {
			fillDefaults(&ps[i])
		}
		s.cfg.Projects = ps
	}
}

func withProject(p config.Project) envOption { return withProjects(p) }

// withServer changes the server's options before it is built.
func withServer(f func(*server.Options)) envOption {
	return func(s *envSetup) { s.server = append(s.server, f) }
}

// withRedis shares a Redis (and the code-hashing secret) with another env.
func withRedis(r redis.UniversalClient) envOption {
	return func(s *envSetup) { s.redis = r }
}

// withCodeLog shares the log provider's sink with another env (two
// servers on one Redis deliver each other's jobs).
func withCodeLog(b *syncBuffer) envOption { return func(s *envSetup) { s.codeLog = b } }

// withFile makes a file readable by the server (signing keys).
func withFile(name string, b []byte) envOption {
	return func(s *envSetup) { s.files[name] = b }
}

func fillDefaults(p *config.Project) {
	if p.Limits.SendsPerIP == nil && p.Limits.SendsPerLoginID == nil {
		dry := p.Limits.DryRun
		p.Limits = config.Unlimited()
		p.Limits.DryRun = dry
	}
	p.ApplyDefaults()
	if p.CodeLength == 0 {
		p.CodeLength = config.DefaultCodeLength
	}
	if p.CodeTTL == 0 {
		p.CodeTTL = config.Duration(config.DefaultCodeTTL)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = config.DefaultMaxAttempts
	}
	if p.SessionTTL == 0 {
		p.SessionTTL = config.Duration(config.DefaultSessionTTL)
	}
	if p.RefreshTTL == 0 {
		p.RefreshTTL = config.Duration(config.DefaultRefreshTTL)
	}
	if p.CookiePath == "" {
		p.CookiePath = config.DefaultCookiePath
	}
}

// testSecret hashes codes in every test env, so envs can share a Redis.
const testSecret = "test-secret-0123456789abcdef0123456789"

// newEnv starts otpd on miniredis (real=false) or on a real redis-server.
func newEnv(t testing.TB, real bool, opts ...envOption) *env {
	t.Helper()
	return newEnvAt(t, startAt, real, opts...)
}

func newEnvAt(t testing.TB, start time.Time, real bool, opts ...envOption) *env {
	t.Helper()
	clk := clock.NewFake(start)
	cfg, err := config.Load(func(k string) (string, bool) {
		switch k {
		case "OTPD_PROJECT_ID":
			return pid, true
		case "OTPD_HMAC_SECRETS":
			return testSecret, true
		case "OTPD_SEAL_KEYS":
			// Shared, so that servers on one Redis open each other's jobs.
			return "dGVzdC1zZWFsLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=", true
		}
		return "", false
	}, func(string) ([]byte, error) { return nil, errors.New("no files in tests") })
	if err != nil {
		t.Fatal(err)
	}
	// Tests run on the default abuse limits, as an adopter's otpd does;
	// withProject(s) replaces the project (and its limits) when a test
	// needs others.
	setup := &envSetup{cfg: cfg, files: map[string][]byte{}}
	for _, o := range opts {
		o(setup)
	}
	rdb := setup.redis
	switch {
	case rdb != nil:
	case real:
		_, rdb = testredis.Real(t)
	default:
		emb, err := store.StartEmbedded(clk, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emb.Close)
		clk.OnAdvance(func(time.Duration) { emb.Sync() })
		rdb = emb.Client
	}
	e := &env{t: t, clock: clk, redis: rdb, codes: cmp.Or(setup.codeLog, &syncBuffer{}), logs: &syncBuffer{}, served: make(chan error, 1), project: cfg.Projects[0].ID}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	so := server.Options{Config: cfg, Redis: rdb, Clock: clk, Log: log, CodeLog: e.codes, Random: rand.Reader,
		CodeRandom: setup.codes,
		WorkerOptions: queue.Options{Block: 50 * time.Millisecond, Poll: 10 * time.Millisecond, ClaimIdle: 5 * time.Second,
			Backoff: func(int) time.Duration { return 10 * time.Millisecond }},
		ReadFile: func(name string) ([]byte, error) {
			if b, ok := setup.files[name]; ok {
				return b, nil
			}
			return nil, errors.New("no such file")
		}}
	for _, f := range setup.server {
		f(&so)
	}
	e.registry = cmp.Or(so.Registry, prometheus.NewRegistry())
	so.Registry = e.registry
	srv, err := server.New(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { e.served <- srv.ServeListeners(ctx, server.Listeners{GRPC: gl, HTTP: hl, Admin: al}) }()
	e.base = "http://" + hl.Addr().String()
	e.admin = "http://" + al.Addr().String()
	e.grpcAddr = gl.Addr().String()
	e.conn, err = grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.conn.Close()
		cancel()
		select {
		case err := <-e.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return e
}

// metrics returns /metrics from the admin listener.
func (e *env) metrics() string {
	e.t.Helper()
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("admin /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// authCtx is a gRPC context authenticated for the test project.
func (e *env) authCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.project)
}

// post sends a REST call with the project bearer and decodes the JSON body.
func (e *env) post(path, body string) (int, map[string]any) {
	return e.do(http.MethodPost, path, body, "Bearer "+e.project)
}

func (e *env) do(method, path, body, auth string) (int, map[string]any) {
	e.t.Helper()
	resp, raw := e.send(method, path, body, auth, nil)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

// send does one REST call (a JSON body when body is set; auth and hdr as
// given) and returns the response with its whole body read.
func (e *env) send(method, path, body, auth string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// code returns the newest code the log provider sent to address, after
// the delivery queue has drained.
func (e *env) code(to string) string {
	e.t.Helper()
	e.drain()
	var code string
	for _, line := range strings.Split(e.codes.String(), "\n") {
		var m struct{ To, Code string }
		// (A security notice has no code.)
		if json.Unmarshal([]byte(line), &m) == nil && m.To == to && m.Code != "" {
			code = m.Code
		}
	}
	if code == "" {
		e.t.Fatalf("no code was sent to %s", to)
	}
	return code
}

// drain waits until the delivery queue has no waiting, parked or
// unacknowledged job.
func (e *env) drain() {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	layout, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		e.t.Fatal(err)
	}
	for {
		// Every shard (whatever the layout), in one transaction except on
		// Cluster: a job moves between a stream and its delayed set atomically.
		jobs, parked, err := layout.Depth(ctx, e.redis)
		if err != nil {
			e.t.Fatal(err)
		}
		n := jobs + parked
		if n == 0 {
			return
		}
		if parked > 0 {
			// Retries are due by the service clock: move it past the
			// test backoff (10ms).
			e.clock.Add(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the delivery queue did not drain (%d jobs)", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// messages counts the messages sent so far.
func (e *env) messages() int { e.drain(); return strings.Count(e.codes.String(), `"otp message"`) }

// dump returns every key and value in Redis, as strings, once the
// delivery queue is idle.
func (e *env) dump() map[string][]string {
	e.t.Helper()
	e.drain()
	ctx := context.Background()
	out := map[string][]string{}
	keys, err := e.redis.Keys(ctx, "*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "otpd:health") || strings.HasPrefix(k, "otpd:{health:") {
			continue // the health probe's key (server/health.go)
		}
		switch e.redis.Type(ctx, k).Val() {
		case "hash":
			for f, v := range e.redis.HGetAll(ctx, k).Val() {
				out[k] = append(out[k], f, v)
			}
			out[k] = sortedPairs(out[k])
		case "string":
			out[k] = append(out[k], e.redis.Get(ctx, k).Val())
		case "zset":
			out[k] = append(out[k], e.redis.ZRange(ctx, k, 0, -1).Val()...)
		case "set":
			out[k] = append(out[k], e.redis.SMembers(ctx, k).Val()...)
		case "list":
			out[k] = append(out[k], e.redis.LRange(ctx, k, 0, -1).Val()...)
		case "stream":
			for _, m := range e.redis.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					out[k] = append(out[k], f, toString(v))
				}
			}
		default:
			e.t.Fatalf("key %s has unexpected type", k)
		}
	}
	return out
}

// state is dump without the buckets that count refusals by design: the
// project-wide ones (a start that sends nothing still spends its client's
// per-IP allowance and the project's budget, so refusals cannot be probed
// at full speed) and the verify buckets (every attempt counts).
func (e *env) state() map[string][]string {
	e.t.Helper()
	out := e.dump()
	for k := range out {
		if store.IsLimitKey(k) || strings.HasSuffix(k, "}:rl:verify") {
			delete(out, k)
		}
	}
	return out
}

// sortedPairs orders flat field/value pairs by field, so dumps compare.
func sortedPairs(flat []string) []string {
	type kv struct{ k, v string }
	var kvs []kv
	for i := 0; i+1 < len(flat); i += 2 {
		kvs = append(kvs, kv{flat[i], flat[i+1]})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
	out := make([]string, 0, len(flat))
	for _, p := range kvs {
		out = append(out, p.k, p.v)
	}
	return out
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// headerKid returns the kid of a JWT's header.
func headerKid(t testing.TB, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil || json.Unmarshal(raw, &h) != nil || h.Kid == "" {
		t.Fatalf("no kid in %q", tok)
	}
	return h.Kid
}
