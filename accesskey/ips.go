package accesskey

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePermitted validates permitted IPs and CIDRs and returns them in
// canonical form: an address as itself ("10.1.2.3", "2001:db8::1"), a
// CIDR as its masked prefix ("10.0.0.0/8"). IPv4-mapped IPv6 is read as
// IPv4; zones are refused. It refuses more than max entries.
func ParsePermitted(in []string, max int) ([]string, error) {
	if len(in) > max {
		return nil, fmt.Errorf("more than %d entries", max)
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		p, err := parseOne(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out, nil
}

func parseOne(v string) (netip.Prefix, error) {
	if len(v) > 64 || v == "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", v)
	}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", v)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", v)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Permitted reports whether addr may use a key with these permitted IPs
// (canonical, from ParsePermitted): every address when there are none;
// otherwise addr must be known and inside one of them.
func Permitted(permitted []string, addr netip.Addr) bool {
	if len(permitted) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, s := range permitted {
		p, err := parseOne(s)
		if err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}
