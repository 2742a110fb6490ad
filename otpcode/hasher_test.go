package otpcode

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func secret(c byte) []byte { return bytes.Repeat([]byte{c}, 32) }

func mustHasher(t testing.TB, secrets ...[]byte) *Hasher {
	t.Helper()
	h, err := NewHasher(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// referenceMAC computes the expected hash independently of encode.
func referenceMAC(key []byte, fields ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, f := range fields {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

var sample = Input{Project: "P2abc", Channel: "email", LoginID: "test@email.com", Purpose: "signin", Code: "123456"}

func TestHasherKnownAnswer(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	h := mustHasher(t, key)
	want := referenceMAC(key, "P2abc", "email", "test@email.com", "signin", "123456")
	got := h.Sum(sample)
	if len(got) != Size || !bytes.Equal(got, want) {
		t.Fatalf("Sum = %x, want %x", got, want)
	}
	// Hand-built encoding of a tiny input, as a second, fully explicit check.
	msg := []byte{0, 0, 0, 1, 'p', 0, 0, 0, 1, 'c', 0, 0, 0, 1, 'l', 0, 0, 0, 0, 0, 0, 0, 4, '1', '2', '3', '4'}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	if got, want := h.Sum(Input{Project: "p", Channel: "c", LoginID: "l", Code: "1234"}), m.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("Sum(tiny) = %x, want %x", got, want)
	}
	// Repeated calls reuse pooled state and must not drift.
	for range 3 {
		if again := h.Sum(sample); !bytes.Equal(again, want) {
			t.Fatalf("repeated Sum = %x, want %x", again, want)
		}
	}
	// Only secrets[0] is used by Sum.
	h2 := mustHasher(t, key, secret('z'))
	if got := h2.Sum(sample); !bytes.Equal(got, want) {
		t.Fatalf("Sum with extra old secret = %x, want %x", got, want)
	}
}

func TestHasherRotation(t *testing.T) {
	t.Parallel()
	a, b := secret('A'), secret('B')
	old := mustHasher(t, a)
	stored := old.Sum(sample)

	rotated := mustHasher(t, b, a)
	purposes := []string{"signup", "signin", "update"}
	cands := rotated.Candidates(sample, purposes)
	if len(cands) != 2*len(purposes) {
		t.Fatalf("len(Candidates) = %d, want %d", len(cands), 2*len(purposes))
	}
	var matches []int
	for i, c := range cands {
		if Equal(c, stored) {
			matches = append(matches, i)
		}
	}
	// Secret-major: secret A (index 1) x purpose "signin" (index 1) -> 1*3+1.
	if len(matches) != 1 || matches[0] != 4 {
		t.Fatalf("stored hash matched candidates %v, want [4]", matches)
	}
	// New codes use the new secret.
	if Equal(rotated.Sum(sample), stored) {
		t.Fatal("rotated Sum still uses the old secret")
	}
	// A wrong code matches nothing.
	wrong := sample
	wrong.Code = "654321"
	for _, c := range rotated.Candidates(wrong, purposes) {
		if Equal(c, stored) {
			t.Fatal("wrong code matched a candidate")
		}
	}
}

func TestHasherCandidatesLayout(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{secret('1'), secret('2')}
	h := mustHasher(t, secrets...)
	purposes := []string{"signin", "signup", "signup-or-in", "update"}
	in := sample
	in.Purpose = "ignored"
	cands := h.Candidates(in, purposes)
	if len(cands) != len(secrets)*len(purposes) {
		t.Fatalf("len = %d", len(cands))
	}
	for si, s := range secrets {
		for pi, p := range purposes {
			want := referenceMAC(s, in.Project, in.Channel, in.LoginID, p, in.Code)
			got := cands[si*len(purposes)+pi]
			if !bytes.Equal(got, want) || len(got) != Size || cap(got) != Size {
				t.Errorf("candidate[%d][%d] = %x (cap %d), want %x", si, pi, got, cap(got), want)
			}
		}
	}
	if got := h.Candidates(in, nil); len(got) != 0 {
		t.Errorf("Candidates with no purposes = %d entries, want 0", len(got))
	}
}

func TestHasherFieldBoundaries(t *testing.T) {
	t.Parallel()
	h := mustHasher(t, secret('k'))
	pairs := [][2]Input{
		{{Project: "ab", Channel: "c"}, {Project: "a", Channel: "bc"}},
		{{LoginID: "a@b.com", Purpose: "x"}, {LoginID: "a@b.co", Purpose: "mx"}},
		{{Purpose: "signin1", Code: "23456"}, {Purpose: "signin", Code: "123456"}},
		{{Project: "p", Code: "1234"}, {Channel: "p", Code: "1234"}},
		{{Project: "", Channel: "x"}, {Project: "x", Channel: ""}},
		// A field containing something that looks like a length prefix.
		{{Project: "a\x00\x00\x00\x01b"}, {Project: "a", Channel: "b"}},
	}
	for _, p := range pairs {
		if Equal(h.Sum(p[0]), h.Sum(p[1])) {
			t.Errorf("%+v and %+v hash the same", p[0], p[1])
		}
	}
}

func TestHasherEveryFieldMatters(t *testing.T) {
	t.Parallel()
	h := mustHasher(t, secret('k'))
	base := h.Sum(sample)
	mutations := map[string]func(*Input){
		"project":  func(in *Input) { in.Project = "P2other" },
		"channel":  func(in *Input) { in.Channel = "sms" },
		"login id": func(in *Input) { in.LoginID = "other@email.com" },
		"purpose":  func(in *Input) { in.Purpose = "signup" },
		"code":     func(in *Input) { in.Code = "123457" },
	}
	for name, mutate := range mutations {
		in := sample
		mutate(&in)
		if Equal(h.Sum(in), base) {
			t.Errorf("changing the %s does not change the hash", name)
		}
	}
	if Equal(mustHasher(t, secret('j')).Sum(sample), base) {
		t.Error("changing the secret does not change the hash")
	}
}

func TestNewHasherErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets [][]byte
		want    error
	}{
		{"nil", nil, ErrNoSecrets},
		{"empty", [][]byte{}, ErrNoSecrets},
		{"short", [][]byte{make([]byte, 31)}, ErrShortSecret},
		{"empty secret", [][]byte{{}}, ErrShortSecret},
		{"nil secret", [][]byte{nil}, ErrShortSecret},
		{"short old secret", [][]byte{secret('a'), make([]byte, 16)}, ErrShortSecret},
	}
	for _, tt := range tests {
		h, err := NewHasher(tt.secrets)
		if !errors.Is(err, tt.want) || h != nil {
			t.Errorf("%s: NewHasher = %v, %v; want nil, %v", tt.name, h, err, tt.want)
		}
	}
	if _, err := NewHasher([][]byte{make([]byte, 32), make([]byte, 64)}); err != nil {
		t.Errorf("NewHasher with 32- and 64-byte secrets: %v", err)
	}
}

func TestNewHasherCopiesSecrets(t *testing.T) {
	t.Parallel()
	s := secret('c')
	h := mustHasher(t, s)
	want := referenceMAC(secret('c'), sample.Project, sample.Channel, sample.LoginID, sample.Purpose, sample.Code)
	s[0] ^= 0xFF
	if got := h.Sum(sample); !bytes.Equal(got, want) {
		t.Fatal("Hasher is affected by the caller mutating its secret")
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	a := bytes.Repeat([]byte{1}, Size)
	b := bytes.Repeat([]byte{1}, Size)
	c := bytes.Repeat([]byte{1}, Size)
	c[Size-1] = 2
	tests := []struct {
		name string
		x, y []byte
		want bool
	}{
		{"equal", a, b, true},
		{"last byte differs", a, c, false},
		{"length differs", a, a[:Size-1], false},
		{"both nil", nil, nil, false},
		{"both empty", []byte{}, []byte{}, false},
		{"one nil", a, nil, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHasherConcurrent(t *testing.T) {
	t.Parallel()
	h := mustHasher(t, secret('x'), secret('y'))
	want := h.Sum(sample)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if !Equal(h.Sum(sample), want) {
					t.Error("concurrent Sum mismatch")
					return
				}
				if c := h.Candidates(sample, []string{"a", "signin"}); !Equal(c[1], want) {
					t.Error("concurrent Candidates mismatch")
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func BenchmarkHasherSum(b *testing.B) {
	h := mustHasher(b, secret('s'))
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(sample)
	}
}

func BenchmarkHasherCandidates(b *testing.B) {
	h := mustHasher(b, secret('n'), secret('o'))
	purposes := []string{"signin", "signup", "signup-or-in", "update"}
	b.ReportAllocs()
	for b.Loop() {
		h.Candidates(sample, purposes)
	}
}

// BenchmarkHMACNew is the baseline the pooling avoids: a fresh hmac.New per hash.
func BenchmarkHMACNew(b *testing.B) {
	key := secret('s')
	msg := encode(nil, sample)
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		m.Sum(nil)
	}
}
