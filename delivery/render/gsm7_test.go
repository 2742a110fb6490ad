package render

import (
	"strings"
	"testing"
)

func TestGSM7Septets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		n    int
		ok   bool
	}{
		{"empty", "", 0, true},
		{"ascii", "Hello, World! 123", 17, true},
		{"newlines", "a\nb\rc", 5, true},
		{"basic accents", "éèùìòàÇÉñÑüÜöÖäÄåÅøØæÆß", 23, true},
		{"greek and symbols", "ΔΦΓΛΩΠΨΣΘΞ@£$¥¤§¡¿_", 19, true},
		{"extension chars count 2", "€{}[]~^\\|", 18, true},
		{"form feed is extension", "\f", 2, true},
		{"mixed", "Total: 5€ [ok]", 17, true},
		{"lower-case c cedilla", "ça", 0, false},
		{"e circumflex", "être", 0, false},
		{"spanish acute", "código", 0, false},
		{"backtick", "`", 0, false},
		{"tab", "\t", 0, false},
		{"escape code itself", "\x1b", 0, false},
		{"emoji", "ok 👍", 0, false},
		{"cyrillic", "код", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, ok := GSM7Septets(tt.s)
			if n != tt.n || ok != tt.ok {
				t.Errorf("GSM7Septets(%q) = %d, %v; want %d, %v", tt.s, n, ok, tt.n, tt.ok)
			}
		})
	}
}

func TestSMSSegments(t *testing.T) {
	t.Parallel()
	a, zh := strings.Repeat, "ж"
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"gsm 1", "a", 1},
		{"gsm 160", a("a", 160), 1},
		{"gsm 161", a("a", 161), 2},
		{"gsm 306", a("a", 306), 2},
		{"gsm 307", a("a", 307), 3},
		{"gsm 80 extension chars = 160 septets", a("€", 80), 1},
		{"gsm 81 extension chars = 162 septets", a("€", 81), 2},
		{"escape pair not split across parts", a("a", 152) + "€" + a("a", 152), 3},
		{"ucs2 70", a(zh, 70), 1},
		{"ucs2 71", a(zh, 71), 2},
		{"ucs2 134", a(zh, 134), 2},
		{"ucs2 135", a(zh, 135), 3},
		{"one non-gsm char forces ucs2", a("a", 70) + "ç", 2},
		{"emoji is two code units", a(zh, 69) + "👍", 2},
		{"surrogate pair not split across parts", a(zh, 66) + "👍" + a(zh, 66), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SMSSegments(tt.text); got != tt.want {
				t.Errorf("SMSSegments(%d runes) = %d, want %d", len([]rune(tt.text)), got, tt.want)
			}
		})
	}
}

// TestLongCustomSMSAllowed: one segment is a goal for shipped templates,
// not a rule: a longer custom SMS renders, and SMSSegments reports it.
func TestLongCustomSMSAllowed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Long message. ", 12) + "{{.Code}}" // 168 + 6 septets
	dir := writeTree(t, map[string]string{"default/en/sms.txt": long, "x/fr/sms.txt": "ça {{.Code}}"})
	r := mustNew(t, Options{Dir: dir})
	got := mustRender(t, r, msg("sms", "en", ""))
	if n := SMSSegments(got.Text); n != 2 {
		t.Errorf("SMSSegments(%q) = %d, want 2", got.Text, n)
	}
	got = mustRender(t, r, msg("sms", "fr", "x"))
	if _, ok := GSM7Septets(got.Text); ok || SMSSegments(got.Text) != 1 {
		t.Errorf("%q: want a one-segment UCS-2 message", got.Text)
	}
}
