package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/membudget"
	"github.com/otpd/otpd/server"
)

// The fast versions of the hostile soak's attacks (bench/soak). Each runs
// an attack from its own loopback address against a small budget and
// checks that (a) the budget's accounting never passes its limits, (b) the
// attacker is refused, and (c) a legitimate client on 127.0.0.1 is served
// throughout. TestGRPCCostsCoverMemory checks that the accounting covers
// what the attacks really make otpd hold.

const (
	testBudget    = 8 << 20
	testPerClient = 1 << 20
	// legitSlack is what the legitimate client's own requests may hold
	// in the budget at a sample (the attacker's share is the rest).
	legitSlack = 2*membudget.StreamCost + 2*membudget.ConnCost
)

// budgetEnv is otpd with the test budget, serving a project without rate
// limits (the legitimate client's calls must not meet them).
func budgetEnv(t *testing.T, opts ...envOption) *env {
	return newEnv(t, false, append([]envOption{withBudget(testBudget, testPerClient), withProject(config.Project{ID: pid})}, opts...)...)
}

// budgetWatch samples otpd_request_budget_in_use_bytes until stopped and
// keeps the peak.
type budgetWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchBudget(e *env) *budgetWatch {
	w := &budgetWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if v := int64(metricValue(e.metricsQuiet(), "otpd_request_budget_in_use_bytes")); v > w.peak.Load() {
				w.peak.Store(v)
			}
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *budgetWatch) end() int64 { close(w.stop); <-w.done; return w.peak.Load() }

// metricsQuiet is metrics without failing the test (for a sampler).
func (e *env) metricsQuiet() string {
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// legit runs a gRPC start and a REST start from 127.0.0.1 every 20 ms
// until stopped, and reports failures.
type legitLoad struct {
	calls, failed atomic.Int64
	mu            sync.Mutex
	firstErr      string
	stop          chan struct{}
	done          chan struct{}
}

func startLegit(t *testing.T, e *env) *legitLoad {
	l := &legitLoad{stop: make(chan struct{}), done: make(chan struct{})}
	email := otpv1.NewOtpEmailClient(e.conn)
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(e.authCtx(), 5*time.Second)
			_, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: fmt.Sprintf("legit%d@budget.test", i)})
			cancel()
			l.note(err)
			req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/auth/otp/signup-in/email",
				strings.NewReader(fmt.Sprintf(`{"loginId":"legitrest%d@budget.test"}`, i)))
			req.Header.Set("Authorization", "Bearer "+e.project)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("REST status %d", resp.StatusCode)
				}
			}
			l.note(err)
		}
	}()
	t.Cleanup(l.end)
	return l
}

func (l *legitLoad) note(err error) {
	l.calls.Add(1)
	if err != nil {
		l.failed.Add(1)
		l.mu.Lock()
		if l.firstErr == "" {
			l.firstErr = err.Error()
		}
		l.mu.Unlock()
	}
}

func (l *legitLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// check ends the load and fails the test unless every call succeeded.
func (l *legitLoad) check(t *testing.T) {
	t.Helper()
	l.end()
	if l.calls.Load() < 4 || l.failed.Load() > 0 {
		t.Errorf("legitimate client: %d of %d calls failed (first: %s)", l.failed.Load(), l.calls.Load(), l.firstErr)
	}
}

// TestGRPCCostsCoverMemory: with a budget too large to refuse anything,
// header-only streams, 1-byte DATA frames and large DATA frames held by
// otpd grow its heap by no more than the budget says it holds. If the
// costs in package membudget were too small, the budget would let memory
// grow past its limit.
func TestGRPCCostsCoverMemory(t *testing.T) {
	// A first-message deadline longer than the test: under the race
	// detector on a loaded machine sending the frames takes seconds.
	e := newEnv(t, false, withBudget(1<<30, 1<<30), withServer(func(o *server.Options) { o.FirstMessageTimeout = time.Minute }))
	inUse := func() int64 { return int64(metricValue(e.metrics(), "otpd_request_budget_in_use_bytes")) }
	// The connection's own buffers are not request bytes (the connection
	// caps bound them): measure from after the handshake.
	var conns []*h2Attacker
	for range 6 {
		conns = append(conns, dialH2From(t, "127.0.0.2", e.grpcAddr))
	}
	time.Sleep(300 * time.Millisecond)
	h0, b0 := int64(memInUse()), inUse()
	// 600 streams: enough that the heap's own noise (buffers doubling)
	// stays well under what is measured.
	type stream struct {
		a  *h2Attacker
		id uint32
	}
	var ids []stream
	for _, a := range conns {
		for range 100 {
			ids = append(ids, stream{a, a.open("/otp.v1.OtpEmail/SignUpOrIn", "authorization", "Bearer "+e.project)})
		}
	}
	step := func(name string) {
		t.Helper()
		time.Sleep(500 * time.Millisecond)
		h, b := int64(memInUse())-h0, inUse()-b0
		t.Logf("%s: heap+stacks +%.1f MB, budget says %.1f MB", name, float64(h)/(1<<20), float64(b)/(1<<20))
		if b <= 0 {
			t.Fatalf("%s: the budget holds nothing", name)
		}
		// The race detector makes goroutines and heap objects 5–10 times
		// larger; the costs are for the production build.
		factor := int64(1)
		if raceEnabled {
			factor = 10
		}
		if h > factor*b {
			t.Errorf("%s: memory grew by %d bytes, more than %d × the %d the budget charged", name, h, factor, b)
		}
	}
	step("header-only streams")
	for _, s := range ids {
		s.a.data(s.id, msgHeader(60000), false)
		for range 300 {
			s.a.data(s.id, []byte{1}, false)
		}
	}
	step("1-byte DATA frames")
	for _, s := range ids {
		for range 2 {
			s.a.data(s.id, make([]byte, 10000), false)
		}
	}
	step("10,000-byte DATA frames")
}

// TestGRPCTinyFrameFloodIsBounded: partial gRPC messages sent in 1-byte
// DATA frames over several connections and streams (before the budget:
// +212 MB of RSS for 3.2 MB sent) are charged to the attacker's share;
// once it is spent its connections are closed, the budget never passes
// its limit, and a legitimate client is served throughout.
func TestGRPCTinyFrameFloodIsBounded(t *testing.T) {
	e := budgetEnv(t)
	w := watchBudget(e)
	legit := startLegit(t, e)
	h0 := memInUse()
	var wg sync.WaitGroup
	var attackers []*h2Attacker
	for range 4 {
		a := dialH2From(t, "127.0.0.2", e.grpcAddr)
		attackers = append(attackers, a)
		wg.Go(func() {
			var ids []uint32
			for range 50 {
				id := a.open("/otp.v1.OtpEmail/SignUpOrIn", "authorization", "Bearer "+e.project)
				a.data(id, msgHeader(60000), false)
				ids = append(ids, id)
			}
			// 1-byte frames round-robin over the streams; at most 30,000
			// per stream (the 64 KiB window allows 65,536).
			for i := 0; i < 30000*len(ids); i++ {
				if !a.data(ids[i%len(ids)], []byte{1}, false) || a.closed.Load() {
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	h1 := memInUse()
	peak := w.end()
	legit.check(t)
	t.Logf("peak budget in use %.2f MB; heap+stacks %+.1f MB", float64(peak)/(1<<20), (float64(h1)-float64(h0))/(1<<20))
	for i, a := range attackers {
		if !a.closed.Load() {
			t.Errorf("attacker connection %d was not closed", i)
		}
	}
	if peak > testPerClient+legitSlack {
		t.Errorf("budget in use peaked at %d, above the client's share %d", peak, testPerClient)
	}
	if h1 > h0 && h1-h0 > 2*testBudget {
		t.Errorf("heap grew by %d bytes under the flood", h1-h0)
	}
	if m := e.metrics(); !strings.Contains(m, `otpd_request_budget_refused_total{reason="client",stage="read",transport="grpc"}`) {
		t.Errorf("the refusal was not counted:\n%s", grepLines(m, "otpd_request_budget"))
	}
}

// TestGRPCHeaderFloodIsBounded: streams carrying 24 KB of metadata each
// (in CONTINUATION frames), never a message, are charged for their
// headers; the attacker's connections are closed once its share is spent.
func TestGRPCHeaderFloodIsBounded(t *testing.T) {
	e := budgetEnv(t)
	w := watchBudget(e)
	legit := startLegit(t, e)
	pad := strings.Repeat("x", 24<<10)
	var attackers []*h2Attacker
	for range 4 {
		a := dialH2From(t, "127.0.0.3", e.grpcAddr)
		attackers = append(attackers, a)
		for i := range 100 {
			a.open("/otp.v1.OtpEmail/SignUpOrIn", "authorization", "Bearer "+e.project, "x-pad", pad[:len(pad)-i])
		}
	}
	time.Sleep(time.Second)
	peak := w.end()
	legit.check(t)
	closed := 0
	for _, a := range attackers {
		if a.closed.Load() {
			closed++
		}
	}
	t.Logf("peak budget in use %.2f MB; %d of 4 attacker connections closed", float64(peak)/(1<<20), closed)
	if closed == 0 {
		t.Error("no attacker connection was closed")
	}
	if peak > testPerClient+legitSlack {
		t.Errorf("budget in use peaked at %d, above the client's share %d", peak, testPerClient)
	}
}

// TestGRPCNewCallsRefusedWhenShareSpent: a client whose share is nearly
// spent by streams that never send their message gets RESOURCE_EXHAUSTED
// with ErrorInfo E010529 and RetryInfo on its next call, fast; another
// client is served; once the stalled streams end at the first-message
// deadline their cost is released and the client is served again.
func TestGRPCNewCallsRefusedWhenShareSpent(t *testing.T) {
	const firstMessage = 2 * time.Second
	e := budgetEnv(t, withServer(func(o *server.Options) { o.FirstMessageTimeout = firstMessage }))
	a := dialH2From(t, "127.0.0.4", e.grpcAddr)
	// Streams cost StreamCost plus their headers: open more than the
	// part of the share that admits new calls (7/8 of it) holds; the
	// extra ones are refused. Then push the share past 7/8 (but not past
	// the whole, which would close the connection) with part of a message.
	n := (testPerClient-testPerClient/8)/membudget.StreamCost + 2
	first := a.open("/otp.v1.OtpEmail/SignUpOrIn", "authorization", "Bearer "+e.project)
	for range n - 1 {
		// One at a time: streams that arrive in one read are all charged
		// before the first is admitted.
		time.Sleep(5 * time.Millisecond)
		a.open("/otp.v1.OtpEmail/SignUpOrIn", "authorization", "Bearer "+e.project)
	}
	if !waitFor(2*time.Second, func() bool { return a.status(int(codes.ResourceExhausted)) > 0 }) {
		t.Fatalf("none of %d stalled streams was refused RESOURCE_EXHAUSTED (statuses %v)", n, a.statusCounts())
	}
	a.data(first, msgHeader(60000), false)
	a.data(first, make([]byte, 16000), false)
	a.data(first, make([]byte, 16000), false)
	if !waitFor(2*time.Second, func() bool {
		return metricValue(e.metricsQuiet(), "otpd_request_budget_in_use_bytes") > testPerClient-testPerClient/8
	}) {
		t.Fatalf("the share is not nearly spent: %v in use (closed %v, statuses %v, ended %d)", metricValue(e.metrics(), "otpd_request_budget_in_use_bytes"), a.closed.Load(), a.statusCounts(), a.ended.Load())
	}
	cc, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
			return d.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	start := time.Now()
	_, err = otpv1.NewOtpEmailClient(cc).SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "share@budget.test"})
	took := time.Since(start)
	st := status.Convert(err)
	var reason string
	var retry time.Duration
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	if st.Code() != codes.ResourceExhausted || reason != "E010529" || retry <= 0 {
		t.Fatalf("call from the spent client: %v (reason %q, retry %v), want RESOURCE_EXHAUSTED E010529 with RetryInfo", err, reason, retry)
	}
	if took > time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if _, err := otpv1.NewOtpEmailClient(e.conn).SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "other@budget.test"}); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// The stalled streams end at the first-message deadline (the server's
	// trailers release their cost).
	if !waitFor(firstMessage+3*time.Second, func() bool {
		return metricValue(e.metricsQuiet(), "otpd_request_budget_in_use_bytes") == 0
	}) {
		t.Fatalf("budget still holds %v after the stalled streams ended", metricValue(e.metrics(), "otpd_request_budget_in_use_bytes"))
	}
	if _, err := otpv1.NewOtpEmailClient(cc).SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "share2@budget.test"}); err != nil {
		t.Fatalf("the client after its streams were freed: %v", err)
	}
}
