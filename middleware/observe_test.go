package middleware

import (
	"net"
	"testing"
)

// TestAddrStringMatchesNet: the log line's peer reads as net.TCPAddr.String
// would write it.
func TestAddrStringMatchesNet(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 4000},
		&net.TCPAddr{IP: net.ParseIP("203.0.113.5").To4(), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 65535},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"},
		&net.TCPAddr{Port: 80},
		&net.UnixAddr{Name: "/run/otpd.sock", Net: "unix"},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
}
