package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/otpd/otpd/ipkey"
)

// Defaults of the listener and exposure settings (docs/hardening.md).
const (
	// DefaultAdminAddr serves /metrics and /debug/pprof/: loopback only.
	DefaultAdminAddr = "127.0.0.1:9090"
	// DefaultGRPCMaxConnsPerIP bounds the gRPC connections one client
	// (IPv4 address or IPv6 prefix) holds; trusted proxies are exempt.
	DefaultGRPCMaxConnsPerIP = 16
	// DefaultGRPCMaxConns bounds all gRPC connections.
	DefaultGRPCMaxConns = 4096
	// DefaultHTTPMaxConnsPerIP bounds the REST connections of one client
	// key: more than gRPC's 16 because browsers and SDK pools open one
	// connection per concurrent call, and a NAT carries several users.
	DefaultHTTPMaxConnsPerIP = 64
	// DefaultHTTPMaxConns bounds all REST connections.
	DefaultHTTPMaxConns = 4096
	// DefaultRequestBudget and DefaultRequestBudgetPerClient bound the
	// bytes held for requests not yet decoded (membudget.DefaultTotal,
	// DefaultPerClient; docs/hardening.md).
	DefaultRequestBudget          = 32 << 20
	DefaultRequestBudgetPerClient = 2 << 20
)

// loadListen reads the listener and exposure settings: the admin
// listener, gRPC reflection and connection caps, the IPv6 prefix clients
// are keyed by, and the CORS origins ("*" is refused outside embedded mode
// unless OTPD_CORS_ALLOW_ANY=true).
func (c *Config) loadListen(get func(k, def string) string, intVar func(name, def string, lo, hi int) int) []error {
	var errs []error
	c.AdminAddr = get("OTPD_ADMIN_ADDR", DefaultAdminAddr)
	if strings.EqualFold(c.AdminAddr, "off") {
		c.AdminAddr = ""
	}
	errs = append(errs, c.checkAddrs()...)
	reflection, err := boolVar(get, "OTPD_GRPC_REFLECTION", true)
	if err != nil {
		errs = append(errs, err)
	}
	c.GRPCReflection = reflection
	c.GRPCMaxConnsPerIP = intVar("OTPD_GRPC_MAX_CONNS_PER_IP", fmt.Sprint(DefaultGRPCMaxConnsPerIP), 0, 1<<20)
	c.GRPCMaxConns = intVar("OTPD_GRPC_MAX_CONNS", fmt.Sprint(DefaultGRPCMaxConns), 0, 1<<20)
	c.ClientIPv6Bits = intVar("OTPD_CLIENT_IPV6_PREFIX", fmt.Sprint(ipkey.DefaultIPv6Bits), 32, 128)
	c.HTTPMaxConnsPerIP = intVar("OTPD_HTTP_MAX_CONNS_PER_IP", fmt.Sprint(DefaultHTTPMaxConnsPerIP), 0, 1<<20)
	c.HTTPMaxConns = intVar("OTPD_HTTP_MAX_CONNS", fmt.Sprint(DefaultHTTPMaxConns), 0, 1<<20)
	// At least 1 MiB in all and 256 KiB per client: a client's share must
	// hold a few requests of the largest size (64 KiB) with their costs.
	c.RequestBudget = intVar("OTPD_REQUEST_BUDGET_BYTES", fmt.Sprint(DefaultRequestBudget), 1<<20, 1<<40)
	c.RequestBudgetPerClient = intVar("OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES", fmt.Sprint(DefaultRequestBudgetPerClient), 256<<10, 1<<40)
	if c.RequestBudgetPerClient > c.RequestBudget {
		errs = append(errs, fmt.Errorf("OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES: %d is more than OTPD_REQUEST_BUDGET_BYTES (%d)", c.RequestBudgetPerClient, c.RequestBudget))
	}

	def := ""
	if c.Embedded() {
		def = "*"
	}
	for _, o := range strings.Split(get("OTPD_CORS_ORIGINS", def), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	forced, err := boolVar(get, "OTPD_CORS_ALLOW_ANY", false)
	if err != nil {
		errs = append(errs, err)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" && !c.Embedded() && !forced {
			errs = append(errs, errors.New("OTPD_CORS_ORIGINS: \"*\" lets every web page call otpd with the user's cookies; list your origins, or set OTPD_CORS_ALLOW_ANY=true to force it"))
		}
	}
	return errs
}

// boolVar reads "true" or "false".
func boolVar(get func(k, def string) string, name string, def bool) (bool, error) {
	switch v := strings.ToLower(get(name, fmt.Sprint(def))); v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return def, fmt.Errorf("%s: must be true or false, not %q", name, v)
	}
}

// checkAddrs checks every listen address as startup will use it: host:port
// with a numeric port 0..65535 (0: any free port) and a host that is
// empty (every interface), an IP address or a host name; and no two
// listeners on the same port of overlapping hosts. What only binding can
// tell (the port is taken, the name does not resolve, no permission) is
// left to startup.
func (c *Config) checkAddrs() []error {
	type listener struct{ name, addr, host, port string }
	var errs []error
	var ls []listener
	for _, l := range []struct{ name, addr string }{
		{"OTPD_GRPC_ADDR", c.GRPCAddr}, {"OTPD_HTTP_ADDR", c.HTTPAddr},
		{"OTPD_ADMIN_ADDR", c.AdminAddr}, {"OTPD_WORKER_METRICS_ADDR", c.WorkerMetricsAddr},
	} {
		if l.addr == "" && (l.name == "OTPD_ADMIN_ADDR" || l.name == "OTPD_WORKER_METRICS_ADDR") {
			continue // off
		}
		host, port, err := checkAddr(l.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			continue
		}
		if l.name != "OTPD_WORKER_METRICS_ADDR" { // `otpd worker` runs alone
			ls = append(ls, listener{l.name, l.addr, host, port})
		}
	}
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if a.port != "0" && a.port == b.port && (a.host == b.host || wildcardHost(a.host) || wildcardHost(b.host)) {
				why := ""
				if a.name == "OTPD_HTTP_ADDR" && b.name == "OTPD_ADMIN_ADDR" {
					why = " (metrics and pprof must not share the public port)"
				}
				errs = append(errs, fmt.Errorf("%s: must differ from %s: %q and %q listen on the same port%s", b.name, a.name, b.addr, a.addr, why))
			}
		}
	}
	return errs
}

// checkAddr splits a listen address and checks its parts.
func checkAddr(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("%q is not host:port (for example 127.0.0.1:8080, [::1]:8080 or :8080 for every interface)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strconv.Itoa(n) != port {
		return "", "", fmt.Errorf("%q: the port must be a number 0..65535", addr)
	}
	if host == "" {
		return host, port, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.WithZone("").String(), port, nil
	}
	if !validHostName(host) {
		return "", "", fmt.Errorf("%q: %q is neither an IP address nor a host name", addr, host)
	}
	return strings.ToLower(host), port, nil
}

// wildcardHost reports whether host means every interface.
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

// validHostName: dot-separated labels of letters, digits and '-', at most
// 253 characters.
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
