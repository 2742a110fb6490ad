package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/server"
)

// commandCounter counts what the RPC path sends to Redis: each command or
// pipeline is one round trip. The delivery workers share the client; their
// commands (all on the queue's keys) are not counted. The authorization
// model's version GET is counted apart (version): a verify sends it
// alongside its script, at the same time, not after it.
type commandCounter struct{ n, version atomic.Int64 }

// versionGet: a GET of a project's authorization model version.
func versionGet(cmd redis.Cmder) bool {
	a := cmd.Args()
	return cmd.Name() == "get" && len(a) == 2 && strings.HasSuffix(fmt.Sprint(a[1]), ":az:ver")
}

const debugRT = false

func worker(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select", "ping":
		return true // a new pooled connection's handshake, not the RPC's work
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && (strings.HasPrefix(s, "otpd:{q") || strings.HasPrefix(s, "otpd:health") || strings.HasPrefix(s, "otpd:dlv:")) {
			return true
		}
	}
	return false
}

func (h *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if versionGet(cmd) {
			h.version.Add(1)
			return next(ctx, cmd)
		}
		if !worker(cmd) || cmd.Name() == "evalsha" && strings.Contains(fmt.Sprint(cmd.Args()), ":code:") {
			h.n.Add(1)
			if debugRT {
				fmt.Println("RT:", cmd.Name(), fmt.Sprint(cmd.Args())[:min(80, len(fmt.Sprint(cmd.Args())))])
			}
		}
		return next(ctx, cmd)
	}
}
func (h *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		others := false
		for _, c := range cmds {
			if versionGet(c) {
				h.version.Add(1)
			} else {
				others = true
			}
		}
		for _, c := range cmds {
			if worker(c) {
				return next(ctx, cmds)
			}
		}
		if others {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestRedisRoundTripsPerRPC counts the round trips of the real server with
// the default limits on and delivery enqueued: start 1, verify 1 (the
// verify, the login and a new user's search index in one script) plus,
// the first time this otpd needs the authorization model, 1 reading it
// (here: the new user's defaults), refresh 1. A new user's verify also
// reads the model's version (one GET; alongside the script when the
// project has roles or tenants; docs/authorization.md).
func TestRedisRoundTripsPerRPC(t *testing.T) {
	t.Parallel()
	def := config.DefaultSendsPerIP
	e := newEnv(t, false, withProject(config.Project{ID: pid, Limits: config.Limits{SendsPerIP: &def}}))
	h := &commandCounter{}
	e.redis.(*redis.Client).AddHook(h)
	email := otpv1.NewOtpEmailClient(e.conn)
	count := func(name string, want int64, call func() error) {
		t.Helper()
		h.n.Store(0)
		h.version.Store(0)
		if err := call(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, e.logs.String())
		}
		if got := h.n.Load(); got != want {
			t.Errorf("%s: %d Redis round trips, want %d", name, got, want)
		}
		// A new user's defaults need the model's version; a returning
		// user who holds nothing, in a project without roles or tenants,
		// does not.
		if got, want := h.version.Load(), int64(map[bool]int{true: 1}[name == "verify (new user)"]); got != want {
			t.Errorf("%s: %d model version reads, want %d", name, got, want)
		}
	}
	count("start (SignUpOrIn)", 1, func() error {
		_, err := email.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "rt@example.com"})
		return err
	})
	code := e.code("rt@example.com")
	var refresh string
	count("verify (new user)", 2, func() error {
		r, err := email.Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "rt@example.com", Code: code})
		refresh = r.GetRefreshJwt()
		return err
	})
	count("start (SignIn)", 1, func() error {
		_, err := email.SignIn(e.authCtx(), &otpv1.StartRequest{LoginId: "rt@example.com"})
		return err
	})
	code = e.code("rt@example.com")
	count("verify (returning user)", 1, func() error {
		_, err := email.Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "rt@example.com", Code: code})
		return err
	})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", e.bearer(refresh))
	count("refresh", 1, func() error {
		_, err := otpv1.NewSessionClient(e.conn).Refresh(ctx, &otpv1.RefreshRequest{})
		return err
	})
}

// batchRecorder records the size of each pipeline the RPC path sends, and
// holds the first one for a moment, so that requests arriving meanwhile
// queue behind it.
type batchRecorder struct {
	mu    sync.Mutex
	sizes []int
	plain int
	held  bool
}

// hold delays the first start script the client sends, alone or in a
// batch, so that the other requests queue behind it.
func (h *batchRecorder) hold() {
	h.mu.Lock()
	first := !h.held
	h.held = true
	h.mu.Unlock()
	if first {
		time.Sleep(250 * time.Millisecond)
	}
}

func (h *batchRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *batchRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if startScript(cmd) {
			h.mu.Lock()
			h.plain++
			h.mu.Unlock()
			h.hold()
		}
		return next(ctx, cmd)
	}
}
func (h *batchRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if startScript(c) {
				n++
			}
		}
		if n > 0 {
			h.mu.Lock()
			h.sizes = append(h.sizes, n)
			h.mu.Unlock()
			h.hold()
		}
		return next(ctx, cmds)
	}
}

// startScript: a start's script (its keys name the code record, and the
// queue stream it enqueues the delivery on).
func startScript(cmd redis.Cmder) bool {
	return cmd.Name() == "evalsha" && strings.Contains(fmt.Sprint(cmd.Args()), ":code:")
}

// TestConcurrentStartsShareRoundTrips: on the default configuration the
// start scripts of concurrent requests travel together (go-redis's
// auto-pipeliner), each request still answered with its own result; with
// OTPD_REDIS_AUTOPIPELINE=false each is its own round trip.
func TestConcurrentStartsShareRoundTrips(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("autopipeline=", on), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, true, withServer(func(o *server.Options) { o.Config.RedisAutoPipeline = on }))
			h := &batchRecorder{}
			e.redis.(*redis.Client).AddHook(h)
			email := otpv1.NewOtpEmailClient(e.conn)
			const n = 32
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := email.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: fmt.Sprintf("batch%d@example.com", i)})
					if err == nil && r.GetMaskedEmail() == "" {
						err = fmt.Errorf("start %d: no masked address", i)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if e.code(fmt.Sprintf("batch%d@example.com", i)) == "" {
					t.Fatalf("no code for start %d", i)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			total, largest := h.plain, 0
			for _, s := range h.sizes {
				total += s
				largest = max(largest, s)
			}
			if total != n {
				t.Fatalf("%d start scripts sent (%d alone, batches %v), want %d", total, h.plain, h.sizes, n)
			}
			if on && largest < 2 {
				t.Errorf("no two starts shared a round trip: batches %v", h.sizes)
			}
			if !on && (len(h.sizes) != 0 || h.plain != n) {
				t.Errorf("auto-pipelining off: batches %v, %d alone, want every start alone", h.sizes, h.plain)
			}
		})
	}
}
