package store

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
)

// Embedded is the in-process Redis (miniredis) that `make run` and fast
// tests use. miniredis only expires keys when told time has passed, so a
// pump keeps its clock in step with the service clock.
type Embedded struct {
	Server *miniredis.Miniredis
	Client *redis.Client
	clock  clock.Clock
	mu     sync.Mutex
	last   time.Time
	stop   chan struct{}
	done   chan struct{}
}

// StartEmbedded starts miniredis on a loopback port, a client for it, and
// a pump that advances its clock every interval (1s when 0).
func StartEmbedded(clk clock.Clock, interval time.Duration) (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, err
	}
	now := clk.Now()
	m.SetTime(now)
	e := &Embedded{
		Server: m,
		Client: redis.NewClient(&redis.Options{Addr: m.Addr()}),
		clock:  clk,
		last:   now,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if interval <= 0 {
		interval = time.Second
	}
	go e.pump(interval)
	return e, nil
}

func (e *Embedded) pump(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Sync()
		}
	}
}

// Sync moves miniredis's clock to the service clock now, expiring keys
// whose TTL has passed.
func (e *Embedded) Sync() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	if d := now.Sub(e.last); d > 0 {
		e.Server.SetTime(now)
		e.Server.FastForward(d)
		e.last = now
	}
}

// Close stops the pump, the client and the server.
func (e *Embedded) Close() {
	close(e.stop)
	<-e.done
	_ = e.Client.Close()
	e.Server.Close()
}
