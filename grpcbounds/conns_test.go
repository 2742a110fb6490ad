package grpcbounds

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// TestConnLimits: a client key beyond PerIP and anyone beyond Total is
// dropped at accept; trusted proxies are exempt from PerIP; a slot comes
// back when its connection closes.
func TestConnLimits(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	l := Listen(raw, ConnLimits{PerIP: 2, Total: 4, IPv6Bits: 64,
		Trusted: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.9") },
		Refused: func(r string) { mu.Lock(); refused[r]++; mu.Unlock() }})
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Hold the connection until the client closes it.
			go func() {
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
			}()
		}
	}()
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// kept reports whether the server kept c open (a dropped one reads EOF).
	kept := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, os.ErrDeadlineExceeded)
	}
	a1, a2, a3 := dial("127.0.0.1"), dial("127.0.0.1"), dial("127.0.0.1")
	if !kept(a1) || !kept(a2) || kept(a3) {
		t.Fatal("the third connection from one IP was not the one dropped")
	}
	p1, p2, p3 := dial("127.0.0.9"), dial("127.0.0.9"), dial("127.0.0.9")
	if !kept(p1) || !kept(p2) || kept(p3) {
		// Trusted: no per-IP cap, but the total (4) is reached with p2.
		t.Fatal("trusted peer: want two kept (total cap), the third dropped")
	}
	if b := dial("127.0.0.2"); kept(b) {
		t.Fatal("a connection beyond the total cap was kept")
	}
	_ = a1.Close()
	time.Sleep(100 * time.Millisecond)
	if a4 := dial("127.0.0.1"); !kept(a4) {
		t.Fatal("a closed connection's slot did not come back")
	}
	mu.Lock()
	defer mu.Unlock()
	if refused["per_ip"] != 1 || refused["total"] != 2 {
		t.Fatalf("refusals counted: %v", refused)
	}
}
