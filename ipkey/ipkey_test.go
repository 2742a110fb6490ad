package ipkey

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	for _, c := range []struct {
		in   string
		bits int
		want string
	}{
		{"203.0.113.7", 64, "203.0.113.7"},
		{"::ffff:203.0.113.7", 64, "203.0.113.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
		{"2001:db8:1:2::1", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2::1", 128, "2001:db8:1:2::1"},
		{"fe80::1%eth0", 64, "fe80::/64"},
	} {
		if got := Of(netip.MustParseAddr(c.in), c.bits); got != c.want {
			t.Errorf("Of(%s, %d) = %q, want %q", c.in, c.bits, got, c.want)
		}
	}
	if got := Of(netip.Addr{}, 64); got != "" {
		t.Errorf("zero address: %q", got)
	}
}
