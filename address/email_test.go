package address

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmailValid(t *testing.T) {
	t.Parallel()
	local64 := strings.Repeat("a", 64)
	// 64 + 1 + 189 = 254 bytes: the longest accepted address.
	domain189 := strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	tests := []struct {
		name, in, want string
	}{
		{"simple", "test@email.com", "test@email.com"},
		{"case folding", "Test.User@Example.COM", "test.user@example.com"},
		{"surrounding space", "  a@b.co \t\n", "a@b.co"},
		{"plus tag", "john+otp@gmail.com", "john+otp@gmail.com"},
		{"all atext", "a!#$%&'*+/=?^_`{|}~-z@x.io", "a!#$%&'*+/=?^_`{|}~-z@x.io"},
		{"inner dots", "first.middle.last@x.org", "first.middle.last@x.org"},
		{"subdomains", "a@mail.eu.example.co.uk", "a@mail.eu.example.co.uk"},
		{"digits and hyphen in domain", "a@my-host2.example9.net", "a@my-host2.example9.net"},
		{"digit label", "a@123.example.com", "a@123.example.com"},
		{"punycode label", "a@xn--bcher-kva.example", "a@xn--bcher-kva.example"},
		{"one-char local", "x@d.com", "x@d.com"},
		{"64-char local", local64 + "@e.com", local64 + "@e.com"},
		{"63-char label", "a@" + strings.Repeat("l", 63) + ".com", "a@" + strings.Repeat("l", 63) + ".com"},
		{"254 total", local64 + "@" + domain189, local64 + "@" + domain189},
		{"long tld", "a@b.technology", "a@b.technology"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeEmail(tt.in)
			if err != nil {
				t.Fatalf("NormalizeEmail(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Idempotent: the normal form normalises to itself.
			again, err := NormalizeEmail(got)
			if err != nil || again != got {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want idempotent", got, again, err)
			}
		})
	}
	if n := len(local64 + "@" + domain189); n != 254 {
		t.Fatalf("test setup: total length %d, want 254", n)
	}
}

func TestNormalizeEmailInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"spaces only", "   "},
		{"no at", "test.example.com"},
		{"two ats", "a@b@c.com"},
		{"no dot in domain", "a@b"},
		{"space in local", "a b@c.com"},
		{"tab in local", "a\tb@c.com"},
		{"space in domain", "a@c .com"},
		{"angle brackets", "<a@b.com>"},
		{"display name", "Name <a@b.com>"},
		{"quoted display name", `"Name" <a@b.com>`},
		{"comment", "a(comment)@b.com"},
		{"quoted local", `"a b"@c.com`},
		{"double dot local", "a..b@c.com"},
		{"leading dot local", ".a@c.com"},
		{"trailing dot local", "a.@c.com"},
		{"empty local", "@c.com"},
		{"empty domain", "a@"},
		{"leading hyphen label", "a@-c.com"},
		{"trailing hyphen label", "a@c-.com"},
		{"hyphen tld", "a@c.co-"},
		{"one-letter tld", "a@c.c"},
		{"numeric tld", "a@c.123"},
		{"mixed tld", "a@c.c0m"},
		{"ip literal", "a@[127.0.0.1]"},
		{"bare ip", "a@127.0.0.1"},
		{"empty label", "a@c..com"},
		{"leading dot domain", "a@.c.com"},
		{"trailing dot domain", "a@c.com."},
		{"underscore domain", "a@c_d.com"},
		{"comma", "a,b@c.com"},
		{"semicolon list", "a@b.com;c@d.com"},
		{"backslash", `a\b@c.com`},
		{"control char", "a\x00b@c.com"},
		{"unicode local", "jöhn@example.com"},
		{"unicode domain", "a@bücher.de"},
		{"unicode cyrillic", "тест@пример.рф"},
		{"fullwidth at", "a＠b.com"},
		{"65-char local", strings.Repeat("a", 65) + "@e.com"},
		{"64-char label", "a@" + strings.Repeat("l", 64) + ".com"},
		{"255 total", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) + ".com"},
		{"very long", strings.Repeat("a", 10000) + "@e.com"},
		{"mailto", "mailto:a@b.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeEmail(tt.in)
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) = %q, want error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalidEmail) {
				t.Fatalf("NormalizeEmail(%q) error %v does not wrap ErrInvalidEmail", tt.in, err)
			}
			if got != "" {
				t.Fatalf("NormalizeEmail(%q) returned %q alongside an error", tt.in, got)
			}
			assertNoLeak(t, err, tt.in)
		})
	}
}

// assertNoLeak fails if the error message contains the input (or a
// recognisable piece of it): inputs are personal data.
func assertNoLeak(t *testing.T, err error, in string) {
	t.Helper()
	msg := err.Error()
	for _, part := range strings.FieldsFunc(in, func(r rune) bool {
		return strings.ContainsRune(" @.<>\"()+-", r)
	}) {
		if len(part) >= 4 && strings.Contains(msg, part) {
			t.Fatalf("error %q leaks input fragment %q", msg, part)
		}
	}
}

func TestLooksLikeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"a@b.com", true},
		{"@", true},
		{"not an email but has @", true},
		{"+14155550123", false},
		{"", false},
		{"user.example.com", false},
	}
	for _, tt := range tests {
		if got := LooksLikeEmail(tt.in); got != tt.want {
			t.Errorf("LooksLikeEmail(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"test@email.com", "A@B.CO", "a..b@c.com", "a@b", "Name <a@b.com>", "jöhn@x.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidEmail) {
				t.Fatalf("error does not wrap ErrInvalidEmail: %v", err)
			}
			return
		}
		if got != strings.ToLower(got) || len(got) > maxEmailLen || strings.Count(got, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q breaks invariants", s, got)
		}
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}
