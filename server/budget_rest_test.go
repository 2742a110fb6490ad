package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// The REST attacks of the hostile soak, and the floods the rate limits
// cut (refresh storms, start floods), in their fast versions; see
// budget_test.go.

// restAttack opens conns REST connections from ip, each sending head
// (request line and headers) and then body, and holding them open. It
// returns how many the server closed or answered 503 (with Retry-After
// and Descope's E010529 body) within wait.
func restAttack(t *testing.T, e *env, ip string, conns int, head, body string, wait time.Duration) (closed, refused int) {
	t.Helper()
	addr := strings.TrimPrefix(e.base, "http://")
	type res struct{ closed, refused bool }
	out := make(chan res, conns)
	for range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, _ = io.WriteString(c, head)
		_, _ = io.WriteString(c, body)
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(wait))
			b, err := io.ReadAll(c)
			r := res{}
			s := string(b)
			switch {
			case strings.HasPrefix(s, "HTTP/1.1 503") && strings.Contains(s, "Retry-After: ") && strings.Contains(s, `"errorCode":"E010529"`):
				r.refused = true
			case len(b) == 0 && !errorsIsTimeout(err):
				// EOF, or a reset when otpd closed with bytes unread.
				r.closed = true
			}
			out <- r
		}()
	}
	for range conns {
		r := <-out
		if r.closed {
			closed++
		}
		if r.refused {
			refused++
		}
	}
	return closed, refused
}

// TestRESTPartialBodiesAreBounded: connections each holding most of a
// 60 KB body (before: +303 MB for 3,000 of them, for the 30 s read
// timeout) are charged to the client's share; past it they get 503 with
// Retry-After or are closed, the budget never passes its limit, and a
// legitimate client is served.
func TestRESTPartialBodiesAreBounded(t *testing.T) {
	e := budgetEnv(t)
	w := watchBudget(e)
	legit := startLegit(t, e)
	head := "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\nAuthorization: Bearer " + e.project +
		"\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
	closed, refused := restAttack(t, e, "127.0.0.5", 60, head, `{"loginId":"`+strings.Repeat("a", 40000), 2*time.Second)
	peak := w.end()
	legit.check(t)
	t.Logf("60 partial bodies: %d closed, %d refused 503; peak budget in use %.2f MB", closed, refused, float64(peak)/(1<<20))
	if refused == 0 {
		t.Error("no partial body was refused with 503")
	}
	if peak > testPerClient+legitSlack {
		t.Errorf("budget in use peaked at %d, above the client's share %d", peak, testPerClient)
	}
}

// TestRESTSlowHeadersAreBounded: slowloris and header floods (connections
// sending 20 KB of headers that never end) are charged from their first
// byte; past the share the connections are closed.
func TestRESTSlowHeadersAreBounded(t *testing.T) {
	e := budgetEnv(t)
	w := watchBudget(e)
	legit := startLegit(t, e)
	head := "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\nX-Pad: " + strings.Repeat("p", 20000)
	closed, _ := restAttack(t, e, "127.0.0.6", 60, head, "", 2*time.Second)
	peak := w.end()
	legit.check(t)
	t.Logf("60 endless headers: %d closed; peak budget in use %.2f MB", closed, float64(peak)/(1<<20))
	if closed == 0 {
		t.Error("no connection with endless headers was closed")
	}
	if peak > testPerClient+legitSlack {
		t.Errorf("budget in use peaked at %d, above the client's share %d", peak, testPerClient)
	}
}

// TestRESTConnectionsPerIP: on the default configuration one client IP
// keeps at most 64 REST connections; the next is dropped at accept and
// counted, while another IP still connects and is served.
func TestRESTConnectionsPerIP(t *testing.T) {
	e := newEnv(t, false)
	addr := strings.TrimPrefix(e.base, "http://")
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	dropped := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !errorsIsTimeout(err)
	}
	for range config.DefaultHTTPMaxConnsPerIP {
		dialFrom("127.0.0.7")
	}
	if !dropped(dialFrom("127.0.0.7")) {
		t.Fatalf("REST connection %d from one IP was kept", config.DefaultHTTPMaxConnsPerIP+1)
	}
	if dropped(dialFrom("127.0.0.8")) {
		t.Fatal("another IP's connection was dropped")
	}
	if status, _ := e.post("/v1/auth/otp/signup-in/email", `{"loginId":"conncap@budget.test"}`); status != 200 {
		t.Fatalf("a normal call: %d", status)
	}
	if m := e.metrics(); !strings.Contains(m, `otpd_http_connections_refused_total{reason="per_ip"} 1`) {
		t.Errorf("the refusal was not counted:\n%s", grepLines(m, "otpd_http_connections"))
	}
}

func errorsIsTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// grpcClientFrom is a gRPC client whose connections come from ip.
func grpcClientFrom(t *testing.T, e *env, ip string) *grpc.ClientConn {
	cc, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			return d.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// TestRefreshAndStartFloodsSpareOthers: on the default limits, a refresh
// storm (a valid refresh token, back to back) and a start flood (new login
// ids, back to back), each from its own address, are cut by the rate
// limits (429 E130429 / RESOURCE_EXHAUSTED), hold nothing in the request
// budget beyond their share, and a legitimate client keeps signing in.
func TestRefreshAndStartFloodsSpareOthers(t *testing.T) {
	e := newEnv(t, false, withBudget(testBudget, testPerClient))
	w := watchBudget(e)
	storm := grpcClientFrom(t, e, "127.0.0.10")
	first := e.login("email", "storm@budget.test", "storm@budget.test")
	bearer := e.bearer(first["refreshJwt"])
	flood := otpv1.NewOtpEmailClient(grpcClientFrom(t, e, "127.0.0.11"))
	sess := otpv1.NewSessionClient(storm)
	// The floods run until the limits have cut 20 of their calls (at
	// most 20 s on a slow machine); the legitimate client signs in every
	// 150 ms meanwhile, well inside its own limits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var limited, other atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && limited.Load() < 20; n++ {
				_, err := sess.Refresh(metadata.AppendToOutgoingContext(ctx, "authorization", bearer), &otpv1.RefreshRequest{})
				countLimited(ctx, err, &limited, &other)
				_, err = flood.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: fmt.Sprintf("flood%d-%d@budget.test", i, n)})
				countLimited(ctx, err, &limited, &other)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	email := otpv1.NewOtpEmailClient(e.conn)
	for i := 0; i < 20; i++ {
		select {
		case <-done:
			i = 20
			continue
		case <-time.After(150 * time.Millisecond):
		}
		if _, err := email.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: fmt.Sprintf("spared%d@budget.test", i)}); err != nil {
			t.Errorf("legitimate sign-in %d during the floods: %v", i, err)
		}
	}
	wg.Wait()
	peak := w.end()
	t.Logf("floods: %d calls rate-limited, %d other errors; peak budget in use %.2f MB", limited.Load(), other.Load(), float64(peak)/(1<<20))
	if limited.Load() == 0 {
		t.Error("the floods were never rate-limited")
	}
	if other.Load() > 0 {
		t.Errorf("%d flood calls failed otherwise than by the rate limits", other.Load())
	}
	if peak > 2*testPerClient+legitSlack {
		t.Errorf("budget in use peaked at %d", peak)
	}
}

// countLimited sorts a flood call's error: the rate limits' E130429, or
// anything else (a call the test's own deadline cut is neither).
func countLimited(ctx context.Context, err error, limited, other *atomic.Int64) {
	switch {
	case err == nil || ctx.Err() != nil:
	case errorReason(err) == "E130429":
		limited.Add(1)
	default:
		other.Add(1)
	}
}

// errorReason is a gRPC error's ErrorInfo reason ("" without one).
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
