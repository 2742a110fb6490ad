package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/otpd/otpd/delivery/seal"
)

func TestSealOpenAndRotation(t *testing.T) {
	t.Parallel()
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, err := seal.New([][]byte{a})
	if err != nil {
		t.Fatal(err)
	}
	v, err := old.Seal([]byte("code 123456"), []byte("job-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v, []byte("123456")) {
		t.Fatal("the plaintext shows through")
	}
	rotated, _ := seal.New([][]byte{b, a})
	if pt, err := rotated.Open(v, []byte("job-1")); err != nil || string(pt) != "code 123456" {
		t.Fatalf("old value after rotation: %q %v", pt, err)
	}
	nv, _ := rotated.Seal([]byte("x"), []byte("job-2"))
	if _, err := old.Open(nv, []byte("job-2")); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("a value sealed by a newer key must not open without it")
	}
	bad := append([]byte{}, v...)
	bad[len(bad)-1] ^= 1
	for name, c := range map[string]struct{ v, aad []byte }{
		"tampered": {bad, []byte("job-1")}, "other job": {v, []byte("job-2")},
		"truncated": {v[:10], []byte("job-1")}, "empty": {nil, nil},
	} {
		if _, err := rotated.Open(c.v, c.aad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := seal.New([][]byte{[]byte("short")}); err == nil {
		t.Error("a short key must be refused")
	}
	if _, err := seal.New([][]byte{a, a}); err == nil {
		t.Error("a duplicate key must be refused")
	}
}

func BenchmarkSeal(b *testing.B) {
	s, _ := seal.New([][]byte{bytes.Repeat([]byte{1}, 32)})
	pt := bytes.Repeat([]byte("x"), 200)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Seal(pt, []byte("job"))
	}
}
