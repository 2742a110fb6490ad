// Package membudget bounds the memory otpd holds for requests that have
// not been decoded yet: bytes read from a connection (gRPC frames, REST
// headers and bodies) count against one process-wide budget and against
// the share of the client that sent them, from the moment they are read
// until the request is decoded or its stream ends. A connection whose next
// bytes do not fit is closed; new work is refused (RESOURCE_EXHAUSTED on
// gRPC, 503 with Retry-After on REST) once the budget or the client's share
// is nearly spent, so requests already decoded finish undisturbed.
//
// The accounting is in "cost" bytes: what was read plus what otpd
// allocates around it (a pooled buffer per HTTP/2 DATA frame, a stream's
// state, a connection's read buffer). The constants below were measured;
// see docs/hardening.md.
package membudget

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/ipkey"
)

// Defaults (docs/hardening.md).
const (
	// DefaultTotal is the process-wide budget: with Go's default GC target
	// (twice the live heap) and otpd's ~35 MB baseline, a full budget
	// keeps the process near 100 MB.
	DefaultTotal = 32 << 20
	// DefaultPerClient is one client's share: 1/16 of the total, so at
	// least 16 client keys must each spend their whole share before the
	// others are refused. A legitimate client holds a few KB at a time
	// (its requests arrive whole and are decoded at once).
	DefaultPerClient = 2 << 20
	// IPv6Bits keys an IPv6 client's share by its /48, the largest block
	// a site is normally given: a holder of a /56 (256 /64s) or a /48
	// gets one share, not one per /64. The rate limits and connection
	// caps keep their own, finer key (OTPD_CLIENT_IPV6_PREFIX).
	IPv6Bits = 48
	// Penalty is how long a client whose connection was closed for
	// passing its share has its new connections closed at accept: without
	// it an attacker reconnects at once and otpd spends its CPU (and the
	// garbage collector's) on setting up connections that will be closed
	// again; the same as the Retry-After of a refusal.
	Penalty = RetryAfter * time.Second
)

// Limits configure a Budget.
type Limits struct {
	// Total bounds the cost held for all clients together (> 0).
	Total int64
	// PerClient bounds one client key's cost (0 < PerClient <= Total).
	PerClient int64
	// IPv6Bits keys IPv6 clients (0: IPv6Bits); a smaller value of the
	// operator's OTPD_CLIENT_IPV6_PREFIX wins.
	IPv6Bits int
	// Trusted reports whether a peer is a trusted proxy: its connections
	// count against Total only (a proxy carries many users).
	Trusted func(netip.Addr) bool
	// Now is the clock of the penalties (nil: time.Now).
	Now func() time.Time
}

// Budget is the process-wide account.
type Budget struct {
	l       Limits
	mu      sync.Mutex
	used    int64
	clients map[string]int64
	// penalized holds, per client key, until when its new connections are
	// closed at accept.
	penalized map[string]time.Time
	refused   *prometheus.CounterVec
}

// New returns a Budget whose metrics are registered on reg:
// otpd_request_budget_bytes{kind="in_use"|"limit"} and
// otpd_request_budget_refused_total{transport, reason}.
func New(l Limits, reg prometheus.Registerer) (*Budget, error) {
	if l.Total <= 0 || l.PerClient <= 0 || l.PerClient > l.Total {
		return nil, errors.New("membudget: need 0 < PerClient <= Total")
	}
	if l.IPv6Bits <= 0 {
		l.IPv6Bits = IPv6Bits
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	b := &Budget{l: l, clients: map[string]int64{}, penalized: map[string]time.Time{}}
	b.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_request_budget_refused_total",
		Help: "Work refused because the budget for undecoded request bytes was spent: transport grpc|rest; reason client (the client's share) or total; stage admit (new call refused), read (connection closed) or accept (a new connection of a client penalized for passing its share).",
	}, []string{"transport", "reason", "stage"})
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "otpd_request_budget_in_use_bytes",
		Help: "Bytes (with their buffers' overhead) held for requests not yet decoded, gRPC and REST together.",
	}, func() float64 { return float64(b.Used()) })
	limit := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "otpd_request_budget_limit_bytes",
		Help: "The budget for undecoded request bytes (OTPD_REQUEST_BUDGET_BYTES).",
	})
	limit.Set(float64(l.Total))
	if reg != nil {
		for _, c := range []prometheus.Collector{b.refused, inUse, limit} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// Used is the cost held now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// ClientUsed is the cost held for key now.
func (b *Budget) ClientUsed(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clients[key]
}

// KeyOf is the client key of a peer address: "" for a trusted proxy (or an
// address that is not TCP), whose cost counts against Total only.
func (b *Budget) KeyOf(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	a := ta.AddrPort().Addr().Unmap()
	if b.l.Trusted != nil && b.l.Trusted(a) {
		return ""
	}
	return ipkey.Of(a, b.l.IPv6Bits)
}

// Refusal reasons.
const (
	reasonClient = "client"
	reasonTotal  = "total"
)

// charge adds n to key's and the total cost, or refuses (and changes
// nothing) when either limit would be passed; it returns the refusal
// reason, "" when charged.
func (b *Budget) charge(key string, n int64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.l.Total {
		return reasonTotal
	}
	if key != "" {
		if b.clients[key]+n > b.l.PerClient {
			return reasonClient
		}
		b.clients[key] += n
	}
	b.used += n
	return ""
}

func (b *Budget) release(key string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if key != "" {
		if b.clients[key] -= n; b.clients[key] <= 0 {
			delete(b.clients, key)
		}
	}
}

// admit reports why new work from key is refused ("" when admitted): new
// work needs need bytes below seven eighths of the total and of the
// client's share, so that the calls already admitted can finish arriving
// within the limits. need is the work's own cost when it may already have
// been released (a gRPC request that arrived whole).
func (b *Budget) admit(key string, need int64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+need > b.l.Total-b.l.Total/8 {
		return reasonTotal
	}
	if key != "" && b.clients[key]+need > b.l.PerClient-b.l.PerClient/8 {
		return reasonClient
	}
	return ""
}

// penalize closes key's new connections for Penalty.
func (b *Budget) penalize(key string) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.l.Now()
	if len(b.penalized) >= 4096 {
		for k, until := range b.penalized {
			if !now.Before(until) {
				delete(b.penalized, k)
			}
		}
	}
	b.penalized[key] = now.Add(Penalty)
}

// isPenalized reports whether key's new connections are closed now.
func (b *Budget) isPenalized(key string) bool {
	if key == "" {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.penalized[key]
	if ok && !b.l.Now().Before(until) {
		delete(b.penalized, key)
		return false
	}
	return ok
}

// accept reports whether a new connection from addr is kept (counting a
// refusal), and returns its account.
func (b *Budget) accept(addr net.Addr, transport string) (*account, bool) {
	key := b.KeyOf(addr)
	if b.isPenalized(key) {
		b.count(transport, reasonClient, "accept")
		return nil, false
	}
	return &account{b: b, key: key, transport: transport}, true
}

func (b *Budget) count(transport, reason, stage string) {
	b.refused.WithLabelValues(transport, reason, stage).Inc()
}

// ErrOverBudget is the read error of a connection whose next bytes did not
// fit the budget; the connection is then closed.
var ErrOverBudget = errors.New("membudget: request bytes over budget")

// account is one connection's cost, charged to its client key.
type account struct {
	b         *Budget
	key       string
	transport string
	mu        sync.Mutex
	held      int64
	closed    bool
}

// charge adds n to the connection's cost; false (counted) when it does not
// fit or the connection is closed.
func (a *account) charge(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if r := a.b.charge(a.key, n); r != "" {
		a.b.count(a.transport, r, "read")
		if r == reasonClient {
			a.b.penalize(a.key)
		}
		return false
	}
	a.held += n
	return true
}

// release gives back n of the connection's cost (at most what it holds).
func (a *account) release(n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = min(n, a.held)
	a.held -= n
	a.b.release(a.key, n)
}

// releaseAll gives back everything the connection holds.
func (a *account) releaseAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.b.release(a.key, a.held)
	a.held = 0
}

// close gives back everything and refuses further charges.
func (a *account) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.b.release(a.key, a.held)
	a.held = 0
}

// admit reports whether new work (costing need beyond what is charged)
// on this connection is admitted, counting a refusal.
func (a *account) admit(need int64) bool {
	if r := a.b.admit(a.key, need); r != "" {
		a.b.count(a.transport, r, "admit")
		return false
	}
	return true
}
