package grpcbounds

import (
	"net"
	"net/netip"
	"sync"

	"github.com/otpd/otpd/ipkey"
)

// ConnLimits caps the connections a listener keeps open.
type ConnLimits struct {
	// PerIP caps the connections of one client key (an IPv4 address or an
	// IPv6 prefix of IPv6Bits); 0 = no cap. Trusted peers are exempt: a
	// proxy carries many users.
	PerIP int
	// Total caps all connections; 0 = no cap.
	Total int
	// IPv6Bits keys IPv6 peers by prefix (ipkey.Of).
	IPv6Bits int
	// Trusted reports whether a peer is a trusted proxy (nil: none is).
	Trusted func(netip.Addr) bool
	// Refused, when set, hears about every connection closed at accept
	// ("per_ip" or "total"), for metrics.
	Refused func(reason string)
}

// Listen wraps l so that a connection beyond a cap is closed as soon as it
// is accepted (the client sees the connection drop and retries with
// backoff); the others are counted until they close.
func Listen(l net.Listener, c ConnLimits) net.Listener {
	if c.PerIP <= 0 && c.Total <= 0 {
		return l
	}
	return &capped{Listener: l, c: c, perIP: map[string]int{}}
}

type capped struct {
	net.Listener
	c     ConnLimits
	mu    sync.Mutex
	total int
	perIP map[string]int
}

func (l *capped) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, reason := l.admit(conn.RemoteAddr())
		if reason != "" {
			_ = conn.Close()
			if l.c.Refused != nil {
				l.c.Refused(reason)
			}
			continue
		}
		return &countedConn{Conn: conn, release: func() { l.release(key) }}, nil
	}
}

// admit counts a new connection, or says which cap refuses it.
func (l *capped) admit(addr net.Addr) (key, refused string) {
	if ta, ok := addr.(*net.TCPAddr); ok {
		a := ta.AddrPort().Addr().Unmap()
		if l.c.Trusted == nil || !l.c.Trusted(a) {
			key = ipkey.Of(a, l.c.IPv6Bits)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c.Total > 0 && l.total >= l.c.Total {
		return "", "total"
	}
	if key != "" && l.c.PerIP > 0 && l.perIP[key] >= l.c.PerIP {
		return "", "per_ip"
	}
	l.total++
	if key != "" {
		l.perIP[key]++
	}
	return key, ""
}

func (l *capped) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if key == "" {
		return
	}
	if l.perIP[key]--; l.perIP[key] <= 0 {
		delete(l.perIP, key)
	}
}

// countedConn releases its slot on its first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
