package otpcode

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// Code length limits, in digits.
const (
	DefaultLength = 6
	MinLength     = 4
	MaxLength     = 10
)

// ErrInvalidLength is returned by Generator.New for a length outside
// [MinLength, MaxLength].
var ErrInvalidLength = errors.New("otpcode: code length out of range")

// ErrBadRandomness is returned when the random source keeps producing values
// in the rejected range, which a working source essentially never does
// (probability below 2^-1000); it indicates a broken reader.
var ErrBadRandomness = errors.New("otpcode: random source produced no usable value")

// maxDraws bounds rejection sampling. A draw is rejected with probability
// (2^64 mod 10^n)/2^64 < 2^-30, so reaching this bound means the source is broken.
const maxDraws = 32

// Generator makes numeric one-time codes. It draws uint64 values from its
// reader and uses rejection sampling so every code of the requested length is
// equally likely (no modulo bias). It is safe for concurrent use if its reader
// is (crypto/rand.Reader is).
type Generator struct {
	r    io.Reader
	bufs sync.Pool // of *[8]byte: keeps the read buffer off the heap per call
}

// NewGenerator returns a Generator reading from r. Pass crypto/rand.Reader in
// production (nil means crypto/rand.Reader); tests may inject a deterministic
// reader.
func NewGenerator(r io.Reader) *Generator {
	if r == nil {
		r = rand.Reader
	}
	g := &Generator{r: r}
	g.bufs.New = func() any { return new([8]byte) }
	return g
}

// New returns a code of exactly length decimal digits, zero-padded, chosen
// uniformly from the 10^length possibilities. It returns ErrInvalidLength if
// length is outside [MinLength, MaxLength], and wraps the reader's error if
// reading fails.
func (g *Generator) New(length int) (string, error) {
	if length < MinLength || length > MaxLength {
		return "", fmt.Errorf("%w: %d not in [%d, %d]", ErrInvalidLength, length, MinLength, MaxLength)
	}
	n := uint64(1)
	for range length {
		n *= 10
	}
	v, err := g.uniform(n)
	if err != nil {
		return "", err
	}
	var out [MaxLength]byte
	for i := length - 1; i >= 0; i-- {
		out[i] = '0' + byte(v%10)
		v /= 10
	}
	return string(out[:length]), nil
}

// uniform returns a uniformly distributed value in [0, n), n > 0. Values at
// or above the largest multiple of n that fits in 2^64 are rejected and
// redrawn, so every residue has the same number of preimages.
func (g *Generator) uniform(n uint64) (uint64, error) {
	// 2^64 mod n, computed without overflow; never 0 for n = 10^k, k >= 1,
	// but 0 (a power-of-two n) would mean nothing needs rejecting.
	rem := (math.MaxUint64%n + 1) % n
	limit := -rem // 2^64 - rem (mod 2^64): accept v < limit
	buf := g.bufs.Get().(*[8]byte)
	defer func() {
		clear(buf[:]) // do not leave code material in the pool
		g.bufs.Put(buf)
	}()
	for range maxDraws {
		if _, err := io.ReadFull(g.r, buf[:]); err != nil {
			return 0, fmt.Errorf("otpcode: reading random source: %w", err)
		}
		v := binary.BigEndian.Uint64(buf[:])
		if rem == 0 || v < limit {
			return v % n, nil
		}
	}
	return 0, ErrBadRandomness
}
