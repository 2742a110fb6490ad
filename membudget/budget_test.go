package membudget

import (
	"net"
	"net/netip"
	"testing"
)

// TestShares: one client key cannot pass its share, several together
// cannot pass the total, and released bytes come back.
func TestShares(t *testing.T) {
	b, err := New(Limits{Total: 100, PerClient: 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := b.charge("a", 40); r != "" {
		t.Fatalf("a's share: %s", r)
	}
	if r := b.charge("a", 1); r != reasonClient {
		t.Fatalf("a past its share: %q", r)
	}
	if b.charge("b", 40) != "" || b.charge("c", 20) != "" {
		t.Fatal("b and c within their shares were refused")
	}
	if r := b.charge("d", 1); r != reasonTotal {
		t.Fatalf("past the total: %q", r)
	}
	b.release("a", 40)
	if b.Used() != 60 || b.ClientUsed("a") != 0 || b.charge("d", 30) != "" {
		t.Fatalf("after a's release: used %d", b.Used())
	}
	if _, err := New(Limits{Total: 10, PerClient: 20}, nil); err == nil {
		t.Fatal("a share larger than the total was accepted")
	}
}

// TestIPv6SiteIsOneClient: every /64 of a /56 (and of a /48) shares one
// key, so a holder of many /64s gets one share; other sites, IPv4
// addresses and trusted proxies are keyed apart (a proxy: the total only).
func TestIPv6SiteIsOneClient(t *testing.T) {
	proxy := netip.MustParseAddr("10.0.0.9")
	b, err := New(Limits{Total: 100, PerClient: 40, IPv6Bits: 48, Trusted: func(a netip.Addr) bool { return a == proxy }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := func(s string) string {
		return b.KeyOf(net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(s), 1)))
	}
	site := key("2001:db8:1:100::1")
	for _, s := range []string{"2001:db8:1:1ff::1", "2001:db8:1:ffff:1:2:3:4"} {
		if key(s) != site {
			t.Errorf("%s keyed %q, want the site's %q", s, key(s), site)
		}
	}
	if key("2001:db8:2::1") == site || key("192.0.2.1") == key("192.0.2.2") {
		t.Error("distinct sites share a key")
	}
	if key("10.0.0.9") != "" {
		t.Error("a trusted proxy has a client key")
	}
}

// TestFrameScanner: headers split across reads are found; payloads are
// skipped whatever their size.
func TestFrameScanner(t *testing.T) {
	frame := func(length int, typ, flags byte, id uint32) []byte {
		b := []byte{byte(length >> 16), byte(length >> 8), byte(length), typ, flags, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
		return append(b, make([]byte, length)...)
	}
	var stream []byte
	stream = append(stream, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	stream = append(stream, frame(5, frameHeaders, flagEndHeaders, 1)...)
	stream = append(stream, frame(70000, frameData, 0, 1)...)
	stream = append(stream, frame(0, frameData, flagEndStream, 1)...)
	stream = append(stream, frame(4, frameRSTStream, 0, 3)...)
	for _, step := range []int{1, 7, 4096} {
		s := frameScanner{skip: 24}
		var got []frameHeader
		for p := stream; len(p) > 0; {
			n := min(step, len(p))
			s.feed(p[:n], func(h frameHeader) bool { got = append(got, h); return true })
			p = p[n:]
		}
		want := []frameHeader{{5, frameHeaders, flagEndHeaders, 1}, {70000, frameData, 0, 1}, {0, frameData, flagEndStream, 1}, {4, frameRSTStream, 0, 3}}
		if len(got) != len(want) {
			t.Fatalf("step %d: %v", step, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("step %d frame %d: %+v, want %+v", step, i, got[i], want[i])
			}
		}
	}
}
