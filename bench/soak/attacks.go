package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// attack is one flood, run by its own loopback address.
type attack struct {
	name, from, what string
	run              func(ctx context.Context, t *target, a *attackStats)
}

// attackStats count what one attack did and how otpd answered.
type attackStats struct {
	attack
	conns   atomic.Int64 // connections opened
	dropped atomic.Int64 // connections otpd closed
	sent    atomic.Int64 // streams, requests or calls sent
	refused atomic.Int64 // calls refused (RESOURCE_EXHAUSTED, 503, 429)
}

var attacks = []attack{
	{"streams", "127.0.0.2", "gRPC stream flood: 16 connections × 100 streams of headers only, reopened as they end", streamFlood},
	{"tinyframes", "127.0.0.3", "partial gRPC messages in 1-byte DATA frames: 16 connections × 100 streams announcing 60 KB", tinyFrames},
	{"grpcheaders", "127.0.0.4", "gRPC header flood: 16 connections × 100 streams of 30 KB metadata (CONTINUATION frames), no message", grpcHeaders},
	{"restbodies", "127.0.0.5", "partial REST bodies: 64 connections each sending 59 KB of a 60 KB body, then nothing", restBodies},
	{"slowloris", "127.0.0.6", "slowloris: 64 REST connections sending one header line a second, never ending", slowloris},
	{"restheaders", "127.0.0.7", "REST header flood: 64 connections each sending 200 KB of headers, never ending", restHeaders},
	{"refresh", "127.0.0.8", "refresh storm: 16 workers calling Refresh back to back with a valid refresh token", refreshStorm},
	{"start", "127.0.0.9", "start flood: 16 workers calling SignUpOrIn back to back for new login ids", startFlood},
}

type running struct {
	all []*attackStats
	wg  sync.WaitGroup
}

// count is one attack's counts, as the attackers' process reports them.
type count struct {
	Name, From, What              string
	Conns, Dropped, Sent, Refused int64
}

// attackerMain runs the attacks until ctx ends, then prints their counts.
func attackerMain(ctx context.Context, t *target, which string) {
	r := startAttacks(ctx, t, which)
	r.wg.Wait()
	var out []count
	for _, s := range r.all {
		out = append(out, count{s.name, s.from, s.what, s.conns.Load(), s.dropped.Load(), s.sent.Load(), s.refused.Load()})
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// attackers is the attackers' process: nice 19, so that the attackers'
// own CPU (which a real attacker spends on its own machines) does not
// come out of otpd's share of this machine's cores.
type attackers struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startAttackers(ctx context.Context, t *target, which string) (*attackers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a := &attackers{}
	a.cmd = exec.Command("nice", "-n", "19", self, "-attacker", "-attacks", which, "-grpc", t.grpc, "-http", t.http, "-project", t.project)
	a.cmd.Stdout, a.cmd.Stderr = &a.out, os.Stderr
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}()
	return a, nil
}

// wait waits for the attackers' process to stop and returns its counts.
func (a *attackers) wait() ([]count, error) {
	if err := a.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("attackers: %w", err)
	}
	var out []count
	if err := json.Unmarshal(a.out.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("attackers' counts: %w (%q)", err, a.out.String())
	}
	return out, nil
}

func startAttacks(ctx context.Context, t *target, which string) *running {
	r := &running{}
	for _, a := range attacks {
		if which != "all" && !slices.Contains(strings.Split(which, ","), a.name) {
			continue
		}
		s := &attackStats{attack: a}
		r.all = append(r.all, s)
		r.wg.Go(func() { a.run(ctx, t, s) })
	}
	return r
}

func dialFrom(ctx context.Context, from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// repeat runs n copies of f until ctx ends, pausing briefly between runs
// (a copy returns when otpd closed its connection).
func repeat(ctx context.Context, n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
}

// h2 is a raw HTTP/2 client connection.
type h2 struct {
	conn net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	mu   sync.Mutex
	next uint32
	gone chan struct{}
	// ended counts streams otpd ended (trailers or RST_STREAM).
	ended atomic.Int64
}

func dialH2(ctx context.Context, t *target, s *attackStats) (*h2, error) {
	c, err := dialFrom(ctx, s.from, t.grpc)
	if err != nil {
		return nil, err
	}
	s.conns.Add(1)
	h := &h2{conn: c, bw: bufio.NewWriterSize(c, 64<<10), next: 1, gone: make(chan struct{})}
	h.fr = http2.NewFramer(h.bw, c)
	_, _ = h.bw.WriteString(http2.ClientPreface)
	_ = h.fr.WriteSettings()
	_ = h.bw.Flush()
	go func() {
		defer close(h.gone)
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				s.dropped.Add(1)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					h.mu.Lock()
					_ = h.fr.WriteSettingsAck()
					_ = h.bw.Flush()
					h.mu.Unlock()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					h.mu.Lock()
					_ = h.fr.WritePing(true, f.Data)
					_ = h.bw.Flush()
					h.mu.Unlock()
				}
			case *http2.RSTStreamFrame:
				h.ended.Add(1)
				if f.ErrCode == http2.ErrCodeRefusedStream {
					s.refused.Add(1)
				}
			case *http2.HeadersFrame:
				if f.StreamEnded() {
					h.ended.Add(1)
					// A trailers-only answer to a stream that sent no
					// message is a refusal (RESOURCE_EXHAUSTED) or the
					// first-message deadline.
					s.refused.Add(1)
				}
			}
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-h.gone:
		}
		_ = c.Close()
	}()
	return h, nil
}

func (h *h2) closed() bool {
	select {
	case <-h.gone:
		return true
	default:
		return false
	}
}

// blocks caches header blocks: a block from a fresh HPACK encoder refers
// to no dynamic-table entry, so the same bytes are valid on every
// connection, and the attacker spends no CPU encoding them again.
var blocks sync.Map

func headerBlock(project string, extra ...string) []byte {
	key := project + "\x00" + strings.Join(extra, "\x00")
	if b, ok := blocks.Load(key); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	fields := append([]string{":method", "POST", ":scheme", "http", ":path", "/otp.v1.OtpEmail/SignUpOrIn", ":authority", "otpd",
		"content-type", "application/grpc", "te", "trailers", "authorization", "Bearer " + project}, extra...)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	blocks.Store(key, buf.Bytes())
	return buf.Bytes()
}

// open writes a stream's headers (extra: more name, value pairs) without
// flushing; the caller flushes.
func (h *h2) open(project string, extra ...string) uint32 {
	id := h.next
	h.next += 2
	block := headerBlock(project, extra...)
	const max = 16 << 10
	first := block[:min(len(block), max)]
	_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) <= max})
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), max)
		_ = h.fr.WriteContinuation(id, n == len(rest), rest[:n])
		rest = rest[n:]
	}
	return id
}

func (h *h2) flush() error {
	_ = h.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return h.bw.Flush()
}

func msgHeader(n int) []byte {
	b := make([]byte, 5)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// streamOpener keeps 100 header-only (or header-heavy) streams open on
// each of 16 connections, opening as many as otpd ended every 200 ms.
func streamOpener(ctx context.Context, t *target, s *attackStats, extra ...string) {
	repeat(ctx, 16, func() {
		h, err := dialH2(ctx, t, s)
		if err != nil {
			return
		}
		open := int64(0)
		for ctx.Err() == nil && !h.closed() {
			h.mu.Lock()
			for ; open-h.ended.Load() < 100; open++ {
				h.open(t.project, extra...)
				s.sent.Add(1)
			}
			err := h.flush()
			h.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-h.gone:
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

func streamFlood(ctx context.Context, t *target, s *attackStats) { streamOpener(ctx, t, s) }

func grpcHeaders(ctx context.Context, t *target, s *attackStats) {
	streamOpener(ctx, t, s, "x-pad", strings.Repeat("h", 30<<10))
}

func tinyFrames(ctx context.Context, t *target, s *attackStats) {
	one := []byte{1}
	repeat(ctx, 16, func() {
		h, err := dialH2(ctx, t, s)
		if err != nil {
			return
		}
		var ids []uint32
		h.mu.Lock()
		for range 100 {
			id := h.open(t.project)
			_ = h.fr.WriteData(id, false, msgHeader(60000))
			ids = append(ids, id)
			s.sent.Add(1)
		}
		h.mu.Unlock()
		// 1,000 one-byte frames every 50 ms per connection, round robin
		// over the streams.
		for i := 0; ctx.Err() == nil && !h.closed(); {
			h.mu.Lock()
			for range 1000 {
				_ = h.fr.WriteData(ids[i%len(ids)], false, one)
				i++
			}
			err := h.flush()
			h.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-h.gone:
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// restHold opens 64 REST connections that each write head, then hold
// (calling more, if set, every second) until otpd answers or closes.
func restHold(ctx context.Context, t *target, s *attackStats, head string, more func(net.Conn) error) {
	repeat(ctx, 64, func() {
		c, err := dialFrom(ctx, s.from, t.http)
		if err != nil {
			return
		}
		defer c.Close()
		s.conns.Add(1)
		s.sent.Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			b := make([]byte, 512)
			n, err := c.Read(b)
			switch {
			case n > 0 && bytes.HasPrefix(b, []byte("HTTP/1.1 ")):
				if !bytes.HasPrefix(b[9:], []byte("2")) {
					s.refused.Add(1)
				}
			case err != nil:
				s.dropped.Add(1)
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-answered:
				return
			case <-time.After(time.Second):
				if more != nil {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if more(c) != nil {
						return
					}
				}
			}
		}
	})
}

func restBodies(ctx context.Context, t *target, s *attackStats) {
	head := "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\nAuthorization: Bearer " + t.project +
		"\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"loginId\":\"" + strings.Repeat("a", 59000)
	restHold(ctx, t, s, head, nil)
}

func slowloris(ctx context.Context, t *target, s *attackStats) {
	n := 0
	restHold(ctx, t, s, "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\n", func(c net.Conn) error {
		n++
		_, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", n, n)
		return err
	})
}

func restHeaders(ctx context.Context, t *target, s *attackStats) {
	var b strings.Builder
	b.WriteString("POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\n")
	for i := 0; b.Len() < 200<<10; i++ {
		fmt.Fprintf(&b, "X-Flood-%d: %s\r\n", i, strings.Repeat("f", 1000))
	}
	restHold(ctx, t, s, b.String(), nil)
}

// grpcFrom is a gRPC client whose connections come from s.from.
func grpcFrom(s *attackStats, t *target) (*grpc.ClientConn, error) {
	return grpc.NewClient(t.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			s.conns.Add(1)
			return dialFrom(ctx, s.from, addr)
		}))
}

// backToBack runs 16 workers calling call until ctx ends.
func backToBack(ctx context.Context, s *attackStats, call func(ctx context.Context, n int) error) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := call(cctx, int(n.Add(1)))
				cancel()
				s.sent.Add(1)
				if err != nil && ctx.Err() == nil {
					s.refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

func refreshStorm(ctx context.Context, t *target, s *attackStats) {
	cc, err := grpcFrom(s, t)
	if err != nil {
		return
	}
	defer cc.Close()
	auth := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.project)
	id := "storm@soak.test"
	if _, err := otpv1.NewOtpEmailClient(cc).SignUpOrIn(auth, &otpv1.StartRequest{LoginId: id}); err != nil {
		fmt.Printf("refresh storm: its own login failed: %v\n", err)
		return
	}
	r, err := otpv1.NewOtpEmailClient(cc).Verify(auth, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
	if err != nil {
		fmt.Printf("refresh storm: its own login failed: %v\n", err)
		return
	}
	sess := otpv1.NewSessionClient(cc)
	bearer := "Bearer " + t.project + ":" + r.GetRefreshJwt()
	backToBack(ctx, s, func(c context.Context, _ int) error {
		_, err := sess.Refresh(metadata.AppendToOutgoingContext(c, "authorization", bearer), &otpv1.RefreshRequest{})
		return err
	})
}

func startFlood(ctx context.Context, t *target, s *attackStats) {
	cc, err := grpcFrom(s, t)
	if err != nil {
		return
	}
	defer cc.Close()
	email := otpv1.NewOtpEmailClient(cc)
	backToBack(ctx, s, func(c context.Context, n int) error {
		_, err := email.SignUpOrIn(metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+t.project),
			&otpv1.StartRequest{LoginId: fmt.Sprintf("flood%d@soak.test", n)})
		return err
	})
}
