package address

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhoneValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, region, want string
	}{
		{"us international spaced", "+1 415 555 0123", "", "+14155550123"},
		{"us e164", "+14155550123", "", "+14155550123"},
		{"us e164 with region", "+14155550123", "US", "+14155550123"},
		{"uk london", "+44 20 7946 0958", "", "+442079460958"},
		{"uk national with region", "020 7946 0958", "GB", "+442079460958"},
		{"us national parens", "(415) 555-0123", "US", "+14155550123"},
		{"us national lower-case region", "(415) 555-0123", "us", "+14155550123"},
		{"us national dots", "415.555.0123", "US", "+14155550123"},
		{"us national with trunk 1", "1 415 555 0123", "US", "+14155550123"},
		{"israel mobile", "+972 54-423-4544", "", "+972544234544"},
		{"israel national", "054-423-4544", "IL", "+972544234544"},
		{"plus number ignores region", "+972 54-423-4544", "US", "+972544234544"},
		{"surrounding space", "  +1 (415) 555-0123  ", "", "+14155550123"},
		{"german mobile", "+49 1512 3456789", "", "+4915123456789"},
		{"gb idd 00 in gb", "00 44 20 7946 0958", "GB", "+442079460958"},
		{"us idd 011 in us", "011 44 20 7946 0958", "US", "+442079460958"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizePhone(tt.in, tt.region)
			if err != nil {
				t.Fatalf("NormalizePhone(%q, %q) error: %v", tt.in, tt.region, err)
			}
			if got != tt.want {
				t.Fatalf("NormalizePhone(%q, %q) = %q, want %q", tt.in, tt.region, got, tt.want)
			}
			again, err := NormalizePhone(got, "")
			if err != nil || again != got {
				t.Fatalf("NormalizePhone(%q) = %q, %v; want idempotent", got, again, err)
			}
		})
	}
}

func TestNormalizePhoneInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, region string }{
		{"empty", "", "US"},
		{"spaces", "   ", "US"},
		{"no region no plus", "(415) 555-0123", ""},
		{"00 prefix not assumed without region", "0044 20 7946 0958", ""},
		{"too short", "+1 555", ""},
		// Descope's documentation example: well-formed and of possible length,
		// but 054-1xx is not an allocated Israeli mobile range in the
		// libphonenumber metadata, so IsValidNumber rejects it.
		{"israel unallocated range", "+972 54-123-4544", ""},
		{"letters", "+1 415 CALL NOW", ""},
		{"vanity number", "1-800-FLOWERS", "US"},
		{"letters only", "callme", "US"},
		{"extension", "+1 415 555 0123 ext 12", ""},
		{"x extension", "+14155550123x12", ""},
		{"tel uri", "tel:+1-415-555-0123", ""},
		{"plus in middle", "1+4155550123", "US"},
		{"double plus", "++14155550123", ""},
		{"only plus", "+", ""},
		{"only punctuation", "+ ( ) - .", ""},
		{"unknown country code", "+999 123 456 789", ""},
		{"unknown region", "415 555 0123", "XX"},
		{"invalid us area code", "+1 099 555 0123", ""},
		{"too long for cap", "+1 4 1 5 5 5 5 0 1 2 3 4 5 6 7 8 9", ""},
		{"33 chars", "+1 415 555 0123" + strings.Repeat(" ", 17) + "4", ""},
		{"33 chars of dashes", "+1-415-555-0123" + strings.Repeat("-", 18), ""},
		{"fullwidth digits", "+１４１５５５５０１２３", ""},
		{"email", "a@b.com", "US"},
		{"hash", "#123#", "US"},
		{"slash", "+1 415/555/0123", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizePhone(tt.in, tt.region)
			if err == nil {
				t.Fatalf("NormalizePhone(%q, %q) = %q, want error", tt.in, tt.region, got)
			}
			if !errors.Is(err, ErrInvalidPhone) {
				t.Fatalf("NormalizePhone(%q, %q) error %v does not wrap ErrInvalidPhone", tt.in, tt.region, err)
			}
			if got != "" {
				t.Fatalf("NormalizePhone(%q) returned %q alongside an error", tt.in, got)
			}
			assertNoLeak(t, err, tt.in)
		})
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+1 415 555 0123", "(415) 555-0123", "+972 54-123-4544", "00 44 20 7946 0958", "+", "1-800-FLOWERS"} {
		f.Add(s, "US")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		got, err := NormalizePhone(s, region)
		if err != nil {
			if !errors.Is(err, ErrInvalidPhone) {
				t.Fatalf("error does not wrap ErrInvalidPhone: %v", err)
			}
			return
		}
		if len(got) < 2 || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q, %q) = %q is not E.164", s, region, got)
		}
		if again, err := NormalizePhone(got, ""); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}
