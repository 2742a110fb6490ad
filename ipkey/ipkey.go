// Package ipkey turns a client address into the key its per-IP limits are
// counted under: an IPv4 address as itself, an IPv6 address as its prefix
// (default /64, the smallest block one subscriber normally gets), so one
// host cannot mint unlimited buckets by walking the addresses of its own
// network.
package ipkey

import "net/netip"

// DefaultIPv6Bits is the IPv6 prefix length a client is keyed by.
const DefaultIPv6Bits = 64

// Of returns a's bucket key: "203.0.113.7" for IPv4 (IPv4-mapped IPv6
// included), "2001:db8:1:2::/64" for IPv6 with v6Bits = 64. v6Bits outside
// 1..127 keys IPv6 by the full address. The zero Addr gives "".
func Of(a netip.Addr, v6Bits int) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is4() || v6Bits <= 0 || v6Bits >= 128 {
		return a.String()
	}
	p, err := a.Prefix(v6Bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
