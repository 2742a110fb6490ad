package failover

import (
	"sync"
	"time"

	"github.com/otpd/otpd/clock"
)

// Breaker is a circuit per provider (per project): Failures transient
// failures within Window open it for Window, during which jobs skip the
// provider for the next one of the channel. A success closes it and
// clears its count. Each process keeps its own circuits (a replica that
// has not seen the failures yet tries the provider, and opens its own
// circuit after as many): no Redis round trip per send. The keys are the
// configured providers, so the map is bounded by the configuration.
type Breaker struct {
	clock    clock.Clock
	failures int
	window   time.Duration
	mu       sync.Mutex
	circuits map[string]*circuit
}

type circuit struct {
	since     time.Time // start of the counting window
	count     int
	openUntil time.Time
}

// NewBreaker opens a provider's circuit after failures transient failures
// within window, for window.
func NewBreaker(clk clock.Clock, failures int, window time.Duration) *Breaker {
	return &Breaker{clock: clk, failures: max(failures, 1), window: max(window, time.Millisecond), circuits: map[string]*circuit{}}
}

// Open reports whether key's circuit is open now.
func (b *Breaker) Open(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.circuits[key]
	return c != nil && b.clock.Now().Before(c.openUntil)
}

// Failure counts a transient failure of key; it reports whether the
// circuit opened with it.
func (b *Breaker) Failure(key string) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	c := b.circuits[key]
	if c == nil {
		c = &circuit{}
		b.circuits[key] = c
	}
	if now.Sub(c.since) >= b.window {
		c.since, c.count = now, 0
	}
	c.count++
	if c.count >= b.failures && !now.Before(c.openUntil) {
		c.openUntil = now.Add(b.window)
		c.since, c.count = now, 0
		return true
	}
	return false
}

// Success closes key's circuit.
func (b *Breaker) Success(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.circuits, key)
}
