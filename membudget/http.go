package membudget

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/otpd/otpd/apierr"
)

// ConnCost is what the REST listener charges a connection while it reads
// a request, beyond the bytes: net/http's per-connection read and write
// buffers (4 KiB each) and its request state.
const ConnCost = 12 << 10

// HTTP accounts the bytes of the REST listener: Listen wraps the
// listener, ConnContext goes in http.Server.ConnContext, and Handler wraps
// the REST handler.
type HTTP struct {
	b *Budget
	// MaxBody is the largest body read ahead of the handler; a longer one
	// is passed on unread for the handler to refuse.
	MaxBody int64
	// Refuse writes a refusal (503 with Retry-After, Descope's body).
	Refuse func(http.ResponseWriter, *apierr.Error)
}

// NewHTTP returns the REST accounting of b.
func NewHTTP(b *Budget, maxBody int64, refuse func(http.ResponseWriter, *apierr.Error)) *HTTP {
	return &HTTP{b: b, MaxBody: maxBody, Refuse: refuse}
}

// Listen wraps l: what a connection reads is charged until its request is
// decoded (Handler releases it).
func (h *HTTP) Listen(l net.Listener) net.Listener { return &httpListener{Listener: l, h: h} }

type httpListener struct {
	net.Listener
	h *HTTP
}

func (l *httpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if a, ok := l.h.b.accept(c.RemoteAddr(), "rest"); ok {
			return &httpConn{Conn: c, a: a}, nil
		}
		_ = c.Close()
	}
}

// httpConn charges every byte it reads, plus ConnCost once per request,
// until done; bytes that do not fit fail the read, and net/http closes
// the connection.
type httpConn struct {
	net.Conn
	a         *account
	mu        sync.Mutex
	base      bool // ConnCost charged for the request being read
	closeOnce sync.Once
}

func (c *httpConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		cost := int64(n)
		if !c.base {
			cost += ConnCost
		}
		ok := c.a.charge(cost)
		if ok {
			c.base = true
		}
		c.mu.Unlock()
		if !ok {
			_ = c.Conn.Close()
			return 0, ErrOverBudget
		}
	}
	return n, err
}

// done releases what the connection holds: its request is decoded.
func (c *httpConn) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = false
	c.a.releaseAll()
}

func (c *httpConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.a.close)
	return err
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext: it lets Handler find the
// connection of a request.
func (h *HTTP) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*httpConn); ok {
		return context.WithValue(ctx, connKey{}, hc)
	}
	return ctx
}

// Handler refuses a request with 503 and Retry-After when the budget or
// its client's share is nearly spent; otherwise it reads the body (up to
// MaxBody+1 bytes) and releases the connection's cost before calling
// next: the request then lives in one buffer of its own size, which next
// decodes at once.
func (h *HTTP) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*httpConn)
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !c.a.admit(0) {
			c.done()
			h.refuse(w)
			return
		}
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength <= h.MaxBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, h.MaxBody+1))
			if errors.Is(err, ErrOverBudget) {
				c.done()
				h.refuse(w)
				return
			}
			if err != nil {
				c.done()
				// Timeouts and broken connections: the client is gone or
				// too slow; nothing was done.
				h.Refuse(w, apierr.ErrBadRequest.With("The request body could not be read"))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		c.done()
		next.ServeHTTP(w, r)
	})
}

func (h *HTTP) refuse(w http.ResponseWriter) {
	e := *apierr.ErrOverloaded
	e.RetryAfterSeconds = RetryAfter
	w.Header().Set("Connection", "close")
	h.Refuse(w, &e)
}
