package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/otpd/otpd/delivery/seal"
)

func fuzzSealers(f *testing.F) (newest, rotated, other *seal.Sealer) {
	a, b, c := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	var err error
	if newest, err = seal.New([][]byte{a, b}); err != nil {
		f.Fatal(err)
	}
	if rotated, err = seal.New([][]byte{c, a}); err != nil {
		f.Fatal(err)
	}
	if other, err = seal.New([][]byte{c}); err != nil {
		f.Fatal(err)
	}
	return newest, rotated, other
}

// FuzzSealRoundTrip: a sealed value opens to its plaintext under its bound
// data, also after a key rotation; it opens under no other bound data, no
// sealer without its key, and with no byte changed, dropped or added.
func FuzzSealRoundTrip(f *testing.F) {
	newest, rotated, other := fuzzSealers(f)
	f.Add([]byte(`{"p":"P1","c":"sms","k":"123456","e":1700000000000}`), []byte("job-1"), uint16(0), byte(1))
	f.Add([]byte{}, []byte{}, uint16(4), byte(0x80))
	f.Add([]byte("x"), []byte("a\x00b"), uint16(20), byte(0xff))
	f.Fuzz(func(t *testing.T, pt, aad []byte, pos uint16, flip byte) {
		v, err := newest.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) >= 4 && bytes.Contains(v[1+4+12:], pt) {
			// 4+ bytes of plaintext in the ciphertext is not chance.
			t.Fatalf("plaintext %q shows through %x", pt, v)
		}
		for _, s := range []*seal.Sealer{newest, rotated} {
			got, err := s.Open(v, aad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("open: %q, %v; want %q", got, err, pt)
			}
		}
		mustNotOpen := func(what string, s *seal.Sealer, v, aad []byte) {
			t.Helper()
			if got, err := s.Open(v, aad); !errors.Is(err, seal.ErrOpen) || got != nil {
				t.Fatalf("%s opened: %q, %v", what, got, err)
			}
		}
		mustNotOpen("without its key", other, v, aad)
		mustNotOpen("other bound data", newest, v, append(bytes.Clone(aad), 'x'))
		i := int(pos) % len(v)
		if flip != 0 {
			tampered := bytes.Clone(v)
			tampered[i] ^= flip
			mustNotOpen("a changed byte", newest, tampered, aad)
		}
		mustNotOpen("a truncated value", newest, v[:i], aad)
		mustNotOpen("an extended value", newest, append(bytes.Clone(v), flip), aad)
	})
}

// FuzzOpen: opening attacker- or corruption-supplied bytes (a Redis entry
// is not trusted) never panics, never succeeds, and leaves its input alone.
func FuzzOpen(f *testing.F) {
	newest, _, _ := fuzzSealers(f)
	good, err := newest.Seal([]byte("123456"), []byte("job"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("job"))
	f.Add(good[:17], []byte("job"))
	f.Add([]byte{1, 0, 0, 0, 0}, []byte{})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, v, aad []byte) {
		orig := bytes.Clone(v)
		got, err := newest.Open(v, aad)
		if !bytes.Equal(v, orig) {
			t.Fatal("Open changed its input")
		}
		if bytes.Equal(v, good) && string(aad) == "job" && (err != nil || string(got) != "123456") {
			t.Fatalf("the good value: %q, %v", got, err)
		}
		if err == nil {
			// Only a value this sealer sealed opens: the seed (sealed with
			// a fresh nonce in each fuzzing process), under its bound data.
			if string(aad) != "job" || string(got) != "123456" {
				t.Fatalf("forged value %x opened to %q", v, got)
			}
			return
		}
		if !errors.Is(err, seal.ErrOpen) || got != nil {
			t.Fatalf("failure %v with %q, want ErrOpen and nothing", err, got)
		}
	})
}
