// Package clock is the time source every constructor takes, so that tests
// can move time (code expiry, token lifetimes) without sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Fake is a settable clock for tests. The zero value is not usable; use NewFake.
type Fake struct {
	mu  sync.Mutex
	now time.Time
	// OnAdvance, when set, is called with each Add's duration after the
	// clock moved (tests use it to fast-forward an embedded Redis too).
	onAdvance []func(time.Duration)
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Add moves the clock forward by d and runs the advance hooks.
func (f *Fake) Add(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	hooks := append([]func(time.Duration){}, f.onAdvance...)
	f.mu.Unlock()
	for _, h := range hooks {
		h(d)
	}
}

// OnAdvance registers a hook run after every Add.
func (f *Fake) OnAdvance(h func(time.Duration)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onAdvance = append(f.onAdvance, h)
}
