package server_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/otpd/otpd/config"
)

// withBudget sets the request budget (total and per client) and keeps the
// other defaults.
func withBudget(total, perClient int) envOption {
	return func(s *envSetup) { s.cfg.RequestBudget, s.cfg.RequestBudgetPerClient = total, perClient }
}

// withConfig changes the configuration before the server starts.
func withConfig(f func(*config.Config)) envOption { return func(s *envSetup) { f(s.cfg) } }

// h2Attacker is a raw HTTP/2 connection from a chosen loopback address that
// sends whatever frames a test asks for, and notes how the server answers.
type h2Attacker struct {
	t       testing.TB
	conn    net.Conn
	fr      *http2.Framer
	wmu     sync.Mutex
	next    uint32
	closed  atomic.Bool  // the server closed the connection
	refused atomic.Int64 // RST_STREAM REFUSED_STREAM
	ended   atomic.Int64 // streams the server ended otherwise
	// statuses counts grpc-status values in trailers.
	smu      sync.Mutex
	statuses map[string]int
	done     chan struct{}
}

func dialH2From(t testing.TB, from, addr string) *h2Attacker {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	a := &h2Attacker{t: t, conn: conn, fr: http2.NewFramer(conn, conn), next: 1, done: make(chan struct{}), statuses: map[string]int{}}
	a.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_, _ = conn.Write([]byte(http2.ClientPreface))
	_ = a.fr.WriteSettings()
	go a.read()
	t.Cleanup(func() { _ = conn.Close(); <-a.done })
	return a
}

func (a *h2Attacker) read() {
	defer close(a.done)
	defer a.closed.Store(true)
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				a.wmu.Lock()
				_ = a.fr.WriteSettingsAck()
				a.wmu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				a.wmu.Lock()
				_ = a.fr.WritePing(true, f.Data)
				a.wmu.Unlock()
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				a.refused.Add(1)
			} else {
				a.ended.Add(1)
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				a.ended.Add(1)
				a.smu.Lock()
				a.statuses[f.PseudoValue("status")+"/"+headerValue(f, "grpc-status")]++
				a.smu.Unlock()
			}
		}
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, h := range f.Fields {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// statusCounts is a copy of statuses.
func (a *h2Attacker) statusCounts() map[string]int {
	a.smu.Lock()
	defer a.smu.Unlock()
	out := make(map[string]int, len(a.statuses))
	for k, v := range a.statuses {
		out[k] = v
	}
	return out
}

// status returns how many streams ended with grpc-status code.
func (a *h2Attacker) status(code int) int {
	a.smu.Lock()
	defer a.smu.Unlock()
	n := 0
	for k, v := range a.statuses {
		if strings.HasSuffix(k, "/"+strconv.Itoa(code)) {
			n += v
		}
	}
	return n
}

// open starts a stream on method with extra metadata (name, value pairs)
// and returns its id; its HEADERS frame does not end the stream.
func (a *h2Attacker) open(method string, extra ...string) uint32 {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	fields := []string{":method", "POST", ":scheme", "http", ":path", method, ":authority", "otpd",
		"content-type", "application/grpc", "te", "trailers"}
	fields = append(fields, extra...)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	id := a.next
	a.next += 2
	block := hbuf.Bytes()
	a.wmu.Lock()
	defer a.wmu.Unlock()
	// Split a large block into CONTINUATION frames of 16 KiB.
	const max = 16 << 10
	first := block[:min(len(block), max)]
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) <= max}); err != nil {
		return id
	}
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), max)
		if err := a.fr.WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
			return id
		}
		rest = rest[n:]
	}
	return id
}

// data sends one DATA frame; false once the connection is gone.
func (a *h2Attacker) data(id uint32, p []byte, end bool) bool {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	_ = a.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return a.fr.WriteData(id, end, p) == nil
}

// msgHeader is the 5-byte gRPC message prefix announcing n bytes.
func msgHeader(n int) []byte {
	b := make([]byte, 5)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// metricValue is the value of the first metric line starting with name
// (labels included), or -1.
func metricValue(metrics, name string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
