package otpcode

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
)

// words returns a reader yielding the given uint64 values, big-endian.
func words(vs ...uint64) io.Reader {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return bytes.NewReader(b)
}

func TestGeneratorLengthAndDigits(t *testing.T) {
	t.Parallel()
	g := NewGenerator(rand.Reader)
	for length := MinLength; length <= MaxLength; length++ {
		for range 200 {
			code, err := g.New(length)
			if err != nil {
				t.Fatalf("New(%d): %v", length, err)
			}
			if len(code) != length {
				t.Fatalf("New(%d) = %q: length %d", length, code, len(code))
			}
			if strings.Trim(code, "0123456789") != "" {
				t.Fatalf("New(%d) = %q: not all digits", length, code)
			}
		}
	}
}

func TestGeneratorNilReaderUsesCryptoRand(t *testing.T) {
	t.Parallel()
	code, err := NewGenerator(nil).New(DefaultLength)
	if err != nil || len(code) != DefaultLength {
		t.Fatalf("New(DefaultLength) = %q, %v", code, err)
	}
}

func TestGeneratorBadLength(t *testing.T) {
	t.Parallel()
	g := NewGenerator(rand.Reader)
	for _, length := range []int{-1, 0, 1, MinLength - 1, MaxLength + 1, 20, math.MaxInt} {
		code, err := g.New(length)
		if !errors.Is(err, ErrInvalidLength) {
			t.Errorf("New(%d) = %q, %v; want ErrInvalidLength", length, code, err)
		}
		if code != "" {
			t.Errorf("New(%d) returned %q alongside an error", length, code)
		}
	}
}

func TestGeneratorZeroPadding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		length int
		v      uint64
		want   string
	}{
		{6, 0, "000000"},
		{6, 7, "000007"},
		{6, 42, "000042"},
		{6, 1_000_000 + 123, "000123"}, // reduced mod 10^6
		{4, 5, "0005"},
		{10, 99, "0000000099"},
		{6, 999_999, "999999"},
	}
	for _, tt := range tests {
		code, err := NewGenerator(words(tt.v)).New(tt.length)
		if err != nil {
			t.Fatalf("New(%d) with value %d: %v", tt.length, tt.v, err)
		}
		if code != tt.want {
			t.Errorf("New(%d) with value %d = %q, want %q", tt.length, tt.v, code, tt.want)
		}
	}
}

func TestGeneratorRejectionSampling(t *testing.T) {
	t.Parallel()
	for length := MinLength; length <= MaxLength; length++ {
		n := uint64(1)
		for range length {
			n *= 10
		}
		limit := math.MaxUint64 - math.MaxUint64%n // first rejected value
		// MaxUint64 and limit itself lie in the biased tail and must be
		// skipped; limit-1 is the largest accepted value.
		r := words(math.MaxUint64, limit, 1234)
		code, err := NewGenerator(r).New(length)
		if err != nil {
			t.Fatalf("New(%d): %v", length, err)
		}
		want := strings.Repeat("0", length-4) + "1234"
		if code != want {
			t.Errorf("New(%d) = %q, want %q from the third value", length, code, want)
		}
		code, err = NewGenerator(words(limit - 1)).New(length)
		if err != nil {
			t.Fatalf("New(%d) at limit-1: %v", length, err)
		}
		if want := strings.Repeat("9", length); code != want {
			t.Errorf("New(%d) at limit-1 = %q, want %q", length, code, want)
		}
	}
}

func TestGeneratorReaderErrors(t *testing.T) {
	t.Parallel()
	// Short read.
	if code, err := NewGenerator(bytes.NewReader([]byte{1, 2, 3})).New(6); err == nil {
		t.Errorf("New with short reader = %q, want error", code)
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("New with short reader: %v, want wrapped io.ErrUnexpectedEOF", err)
	}
	// A source stuck in the rejected tail must not loop forever.
	stuck := bytes.NewReader(bytes.Repeat([]byte{0xFF}, 8*maxDraws))
	if code, err := NewGenerator(stuck).New(6); !errors.Is(err, ErrBadRandomness) {
		t.Errorf("New with stuck reader = %q, %v; want ErrBadRandomness", code, err)
	}
}

func TestGeneratorConcurrent(t *testing.T) {
	t.Parallel()
	g := NewGenerator(rand.Reader)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if code, err := g.New(DefaultLength); err != nil || len(code) != DefaultLength {
					t.Errorf("New = %q, %v", code, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestGeneratorUniformity is a smoke test, not a proof: a chi-square test on
// the first digit of 20,000 six-digit codes. With 9 degrees of freedom the
// statistic exceeds 27.88 with probability 0.001; 40 keeps flakes
// astronomically rare while still catching gross bias (e.g. a digit that is
// 10% over-represented gives a statistic around 200).
func TestGeneratorUniformity(t *testing.T) {
	t.Parallel()
	const samples = 20_000
	g := NewGenerator(rand.Reader)
	var counts [10]int
	for range samples {
		code, err := g.New(DefaultLength)
		if err != nil {
			t.Fatal(err)
		}
		counts[code[0]-'0']++
	}
	expected := float64(samples) / 10
	var chi2 float64
	for _, c := range counts {
		d := float64(c) - expected
		chi2 += d * d / expected
	}
	if chi2 > 40 {
		t.Fatalf("first-digit chi-square %.1f > 40 (counts %v)", chi2, counts)
	}
	t.Logf("first-digit chi-square %.2f, counts %v", chi2, counts)
}

func BenchmarkGeneratorNew(b *testing.B) {
	g := NewGenerator(rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.New(DefaultLength); err != nil {
			b.Fatal(err)
		}
	}
}
