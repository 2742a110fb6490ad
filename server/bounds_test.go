package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/grpcbounds"
	"github.com/otpd/otpd/membudget"
	"github.com/otpd/otpd/server"
)

// floodConn is one raw HTTP/2 connection to otpd's gRPC listener that
// opens streams sending headers and never a message.
type floodConn struct {
	t       testing.TB
	conn    net.Conn
	fr      *http2.Framer
	wmu     sync.Mutex // the framer's writes
	hbuf    bytes.Buffer
	enc     *hpack.Encoder
	next    uint32
	refused atomic.Int64 // RST_STREAM REFUSED_STREAM received
	ended   atomic.Int64 // other stream ends (RST_STREAM or trailers)
	goaway  atomic.Bool
	done    chan struct{}
}

func dialFlood(t testing.TB, addr string) *floodConn { return dialFloodFrom(t, "127.0.0.1", addr) }

// dialFloodFrom is dialFlood from a chosen loopback address (its own
// client key).
func dialFloodFrom(t testing.TB, from, addr string) *floodConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &floodConn{t: t, conn: conn, fr: http2.NewFramer(conn, conn), next: 1, done: make(chan struct{})}
	f.enc = hpack.NewEncoder(&f.hbuf)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := f.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go f.read()
	t.Cleanup(func() { _ = conn.Close(); <-f.done })
	return f
}

// isClosed reports whether the server closed the connection.
func (f *floodConn) isClosed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// read counts what the server says about the streams.
func (f *floodConn) read() {
	defer close(f.done)
	for {
		fr, err := f.fr.ReadFrame()
		if err != nil {
			return
		}
		switch fr := fr.(type) {
		case *http2.SettingsFrame:
			if !fr.IsAck() {
				f.wmu.Lock()
				_ = f.fr.WriteSettingsAck()
				f.wmu.Unlock()
			}
		case *http2.PingFrame:
			if !fr.IsAck() {
				f.wmu.Lock()
				_ = f.fr.WritePing(true, fr.Data)
				f.wmu.Unlock()
			}
		case *http2.RSTStreamFrame:
			if fr.ErrCode == http2.ErrCodeRefusedStream {
				f.refused.Add(1)
			} else {
				f.ended.Add(1)
			}
		case *http2.HeadersFrame:
			if fr.StreamEnded() {
				f.ended.Add(1)
			}
		case *http2.GoAwayFrame:
			f.goaway.Store(true)
		}
	}
}

// open starts n streams on method that send their headers and nothing
// else, until the server closes the connection.
func (f *floodConn) open(n int, method string) {
	f.t.Helper()
	for range n {
		f.hbuf.Reset()
		for _, h := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "otpd"},
			{"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			_ = f.enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		f.wmu.Lock()
		err := f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.next, BlockFragment: f.hbuf.Bytes(), EndHeaders: true})
		f.wmu.Unlock()
		if err != nil {
			// The server closed the connection (the request budget).
			return
		}
		f.next += 2
	}
}

// memInUse is the live heap plus goroutine stacks, after a collection.
func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestStreamFloodIsBounded: one connection opens 5,000 streams that send
// headers but never a message. otpd keeps at most grpcbounds.MaxStreams of
// them (the rest are refused; with the request budget the connection is
// closed once the client's share is spent), a normal client keeps getting
// answers, and streams otpd kept are closed once the first-message
// deadline passes, giving back their goroutines, memory and budget.
// Before the bounds, every stream held a goroutine and ~11 KB until the
// connection closed.
func TestStreamFloodIsBounded(t *testing.T) {
	const (
		streams      = 5000
		firstMessage = 5 * time.Second
		// Bounds on otpd's growth while the flood is held (this test
		// process is otpd): MaxStreams handler goroutines plus slack, and
		// the heap and stacks they and their buffers use.
		maxGoroutines = grpcbounds.MaxStreams + 100
		maxHeap       = 16 << 20
	)
	e := newEnv(t, false, withServer(func(o *server.Options) { o.FirstMessageTimeout = firstMessage }))
	health := grpc_health_v1.NewHealthClient(e.conn)
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		return err
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	g0, h0 := runtime.NumGoroutine(), memInUse()

	f := dialFloodFrom(t, "127.0.0.2", e.grpcAddr)
	start := time.Now()
	f.open(streams, "/otp.v1.OtpEmail/SignUpOrIn")
	refusedAll := waitFor(3*time.Second, func() bool { return f.refused.Load() >= streams-grpcbounds.MaxStreams || f.isClosed() })
	g1, h1 := runtime.NumGoroutine(), memInUse()
	t.Logf("flood of %d streams held: goroutines %d -> %d (+%d), heap+stacks in use %.1f -> %.1f MB (+%.1f)",
		streams, g0, g1, g1-g0, float64(h0)/(1<<20), float64(h1)/(1<<20), (float64(h1)-float64(h0))/(1<<20))
	if !refusedAll {
		t.Errorf("refused %d of %d streams beyond the per-connection limit", f.refused.Load(), streams)
	}
	if g1-g0 > maxGoroutines {
		t.Errorf("goroutines grew by %d under the flood, bound %d", g1-g0, maxGoroutines)
	}
	if h1 > h0 && h1-h0 > maxHeap {
		t.Errorf("heap+stacks grew by %d bytes under the flood, bound %d", h1-h0, maxHeap)
	}
	for i := range 5 {
		if err := check(); err != nil {
			t.Fatalf("normal client, call %d during the flood: %v", i, err)
		}
	}
	if time.Since(start) > firstMessage {
		t.Fatalf("the flood took longer than the first-message deadline; the test cannot tell the two apart")
	}

	// Streams otpd keeps end at the first-message deadline: as many as a
	// client's share holds (the flood's connection is closed by now).
	kept := config.DefaultRequestBudgetPerClient * 6 / 10 / membudget.StreamCost
	f = dialFloodFrom(t, "127.0.0.3", e.grpcAddr)
	start = time.Now()
	f.open(kept, "/otp.v1.OtpEmail/SignUpOrIn")
	if !waitFor(firstMessage+5*time.Second, func() bool { return f.ended.Load() >= int64(kept) }) {
		t.Fatalf("%d of the %d kept streams were closed after the first-message deadline", f.ended.Load(), kept)
	}
	if time.Since(start) < firstMessage-time.Second {
		t.Fatalf("the kept streams ended after %v, before the first-message deadline", time.Since(start))
	}
	// Their slots are free again: as many new streams are admitted, none
	// refused. (The client sees a stream's RST before the server's
	// transport has released its slot; give that bookkeeping a moment on a
	// loaded machine.)
	time.Sleep(time.Second)
	refused := f.refused.Load()
	ended := f.ended.Load()
	f.open(kept, "/otp.v1.OtpEmail/SignUpOrIn")
	time.Sleep(500 * time.Millisecond)
	if n := f.refused.Load() - refused + f.ended.Load() - ended; n != 0 || f.isClosed() {
		t.Errorf("%d of %d new streams refused after the deadline freed the old ones (connection closed: %v)", n, kept, f.isClosed())
	}
	g2, h2 := runtime.NumGoroutine(), memInUse()
	t.Logf("after the deadline: goroutines %d, heap+stacks %.1f MB", g2, float64(h2)/(1<<20))
	// The connection is still usable: a stream that sends its message is served.
	if err := check(); err != nil {
		t.Fatal(err)
	}
}

// TestFirstMessageDeadlineSparesStartedStreams: a streaming call that sent
// its request (health Watch) outlives the first-message deadline.
func TestFirstMessageDeadlineSparesStartedStreams(t *testing.T) {
	t.Parallel()
	// 1 s, and a client deadline of 4 s: on a loaded machine under -race a
	// request can take a few hundred ms to arrive (300 ms failed 1 in 30).
	const firstMessage = time.Second
	e := newEnv(t, false, withServer(func(o *server.Options) { o.FirstMessageTimeout = firstMessage }))
	ctx, cancel := context.WithTimeout(context.Background(), 4*firstMessage)
	defer cancel()
	w, err := grpc_health_v1.NewHealthClient(e.conn).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch answer: %v %v", r, err)
	}
	// The next Recv blocks until the client's own deadline, not the server's.
	_, err = w.Recv()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Watch ended with %v, want the client's DeadlineExceeded", err)
	}
}

// TestGRPCConnectionsPerIP: on the default configuration one client IP
// keeps at most 16 gRPC connections; the next is dropped at accept and
// counted, while another IP still connects and is served.
func TestGRPCConnectionsPerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", e.grpcAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// Speak HTTP/2, so the handshake deadline does not close it.
		_, _ = c.Write([]byte(http2.ClientPreface))
		_ = http2.NewFramer(c, c).WriteSettings()
		return c
	}
	dropped := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return !errors.Is(err, os.ErrDeadlineExceeded)
			}
		}
	}
	for range config.DefaultGRPCMaxConnsPerIP {
		dialFrom("127.0.0.5")
	}
	if !dropped(dialFrom("127.0.0.5")) {
		t.Fatalf("connection %d from one IP was kept", config.DefaultGRPCMaxConnsPerIP+1)
	}
	if dropped(dialFrom("127.0.0.6")) {
		t.Fatal("another IP's connection was dropped")
	}
	if _, err := grpc_health_v1.NewHealthClient(e.conn).Check(context.Background(), &grpc_health_v1.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if m := e.metrics(); !strings.Contains(m, `otpd_grpc_connections_refused_total{reason="per_ip"} 1`) {
		t.Errorf("the refusal was not counted:\n%s", grepLines(m, "otpd_grpc_connections"))
	}
}
