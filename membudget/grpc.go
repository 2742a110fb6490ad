package membudget

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/otpd/otpd/apierr"
)

// Costs charged on the gRPC listener (grpc-go 1.85, measured by
// server/budget_test.go:TestGRPCCostsCoverMemory over 600 streams: a
// header-only stream with an authorization header holds 14–23 KB, a
// 1-byte DATA frame ~90 bytes, a 10,000-byte frame ~18 KB: pooled buffers
// come in 4 KiB and 16 KiB sizes).
const (
	// StreamCost is a stream's state while its request arrives: grpc-go's
	// stream, its contexts and receive buffer, and the handler goroutine
	// waiting for the message.
	StreamCost = 32 << 10
	// FrameCost is what grpc-go allocates around each DATA or
	// CONTINUATION frame it buffers beyond its bytes (its reference and a
	// queue slot); a 1-byte frame costs this.
	FrameCost = 128
)

// dataCost is the cost of a DATA frame of n bytes: grpc-go holds it in a
// pooled buffer of the next size up (measured: 1.8 times n for 10,000
// bytes).
func dataCost(n uint32) int64 { return int64(n)*3 + FrameCost }

// headerCost is the cost of n bytes of header block: the decoded metadata
// is larger than its HPACK encoding.
func headerCost(n uint32) int64 { return 3 * int64(n) }

// GRPC accounts the bytes of a gRPC (HTTP/2) listener: Listen wraps its
// listener, and Tap is its grpc.InTapHandle (it must run first).
type GRPC struct {
	b     *Budget
	mu    sync.Mutex
	conns map[netip.AddrPort]*h2Conn // by remote address
}

// NewGRPC returns the gRPC accounting of b.
func NewGRPC(b *Budget) *GRPC { return &GRPC{b: b, conns: map[netip.AddrPort]*h2Conn{}} }

// Listen wraps l: every accepted connection's incoming frames are charged
// to the budget (see h2Conn).
func (g *GRPC) Listen(l net.Listener) net.Listener { return &h2Listener{Listener: l, g: g} }

type h2Listener struct {
	net.Listener
	g *GRPC
}

func (l *h2Listener) Accept() (net.Conn, error) {
	var c net.Conn
	var a *account
	for {
		var err error
		if c, err = l.Listener.Accept(); err != nil {
			return nil, err
		}
		var ok bool
		if a, ok = l.g.b.accept(c.RemoteAddr(), "grpc"); ok {
			break
		}
		_ = c.Close()
	}
	hc := &h2Conn{Conn: c, g: l.g, streams: map[uint32]int64{}, a: a,
		in: frameScanner{skip: len(http2.ClientPreface)}}
	if key := addrPort(c.RemoteAddr()); key.IsValid() {
		l.g.mu.Lock()
		l.g.conns[key] = hc
		l.g.mu.Unlock()
	}
	return hc, nil
}

// Tap refuses a new call with RESOURCE_EXHAUSTED (ErrorInfo E010529,
// RetryInfo) when the budget or its client's share is nearly spent: when
// a stream's cost would pass seven eighths of either. (A request that
// arrived whole has already been released when Tap runs.)
func (g *GRPC) Tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ctx, nil
	}
	g.mu.Lock()
	c := g.conns[addrPort(p.Addr)]
	g.mu.Unlock()
	if c != nil && !c.a.admit(StreamCost) {
		return ctx, overloaded()
	}
	return ctx, nil
}

// RetryAfter is the delay a refused client is asked to wait: about the
// time a partly sent request may hold its bytes before a deadline frees
// them (gRPC's first-message deadline is 10 s, REST's read timeout 30 s;
// most are freed much sooner).
const RetryAfter = 5

// addrPort is a TCP address as a map key without allocating (the zero
// value for other addresses: those connections are not tracked).
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

func overloaded() error {
	e := *apierr.ErrOverloaded
	e.RetryAfterSeconds = RetryAfter
	return apierr.ToStatus(&e).Err()
}

// h2Conn charges what a client sends on one HTTP/2 connection, frame by
// frame, to its stream:
//   - a new stream (HEADERS with a new id): StreamCost plus its header
//     block's headerCost; CONTINUATION frames add theirs plus FrameCost;
//   - DATA on an open stream: its dataCost;
//
// and releases a stream's cost when its request has fully arrived (the
// client's END_STREAM: its handler, already waiting, decodes it at once),
// when either side resets it, when the server ends it (trailers), or when
// the connection closes. Bytes that do not fit the budget are not handed
// to gRPC: the read fails and gRPC closes the connection, freeing all it
// held. DATA for a stream that is not open is not charged: gRPC drops it.
type h2Conn struct {
	net.Conn
	g *GRPC
	a *account

	in  frameScanner // Read side only
	out frameScanner // Write side only

	mu         sync.Mutex // streams, maxID, cont*
	streams    map[uint32]int64
	maxID      uint32
	contStream uint32 // awaiting CONTINUATION
	contEnds   bool   // its HEADERS had END_STREAM
	closeOnce  sync.Once
	failed     bool
}

func (c *h2Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		ok := !c.failed && c.in.feed(p[:n], c.incoming)
		if !ok {
			c.failed = true
		}
		c.mu.Unlock()
		if !ok {
			_ = c.Conn.Close()
			return 0, ErrOverBudget
		}
	}
	return n, err
}

// incoming charges one client frame; false when it does not fit.
func (c *h2Conn) incoming(h frameHeader) bool {
	id := h.streamID
	switch h.typ {
	case frameHeaders:
		cost := headerCost(h.length)
		if _, open := c.streams[id]; !open {
			if id <= c.maxID || id%2 == 0 {
				return true // not a new stream: gRPC refuses it
			}
			c.maxID = id
			cost += StreamCost
			c.streams[id] = 0
		}
		if !c.chargeStream(id, cost) {
			return false
		}
		if h.flags&flagEndHeaders == 0 {
			c.contStream, c.contEnds = id, h.flags&flagEndStream != 0
		} else if h.flags&flagEndStream != 0 {
			c.endStream(id)
		}
	case frameContinuation:
		if id != c.contStream {
			return true // gRPC treats it as a connection error
		}
		if !c.chargeStream(id, headerCost(h.length)+FrameCost) {
			return false
		}
		if h.flags&flagEndHeaders != 0 {
			c.contStream = 0
			if c.contEnds {
				c.endStream(id)
			}
		}
	case frameData:
		if _, open := c.streams[id]; !open {
			return true
		}
		if !c.chargeStream(id, dataCost(h.length)) {
			return false
		}
		if h.flags&flagEndStream != 0 {
			c.endStream(id)
		}
	case frameRSTStream:
		c.endStream(id)
	}
	return true
}

func (c *h2Conn) chargeStream(id uint32, n int64) bool {
	if !c.a.charge(n) {
		return false
	}
	c.streams[id] += n
	return true
}

// endStream releases a stream's cost (c.mu held).
func (c *h2Conn) endStream(id uint32) {
	if n, ok := c.streams[id]; ok {
		delete(c.streams, id)
		c.a.release(n)
	}
}

func (c *h2Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.feed(p, c.outgoing)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// outgoing releases a stream the server ends.
func (c *h2Conn) outgoing(h frameHeader) bool {
	if (h.typ == frameHeaders && h.flags&flagEndStream != 0) || h.typ == frameRSTStream {
		c.endStream(h.streamID)
	}
	return true
}

func (c *h2Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		key := addrPort(c.RemoteAddr())
		c.g.mu.Lock()
		if c.g.conns[key] == c {
			delete(c.g.conns, key)
		}
		c.g.mu.Unlock()
		c.mu.Lock()
		clear(c.streams)
		c.mu.Unlock()
		c.a.close()
	})
	return err
}
