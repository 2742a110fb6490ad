package flow

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalizeLoginID: the loginId is the caller's and becomes a Redis key
// and a user's identity. A normalised id is never empty, stays within
// maxLoginIDLen, holds no control character, and is a fixed point:
// normalising it again gives the same id of the same kind, so one person
// cannot reach two users by spelling the id two ways. The id is the
// channel's address exactly when its kind is the channel's contact type.
func FuzzNormalizeLoginID(f *testing.F) {
	for _, s := range []string{
		"Ada@Example.com", " ada@example.com ", "+1 (415) 555-0123", "415.555.0123", "Ada Lovelace", "ADA  lovelace",
		"ａｄａ", "a\u200bda", "ß", "İstanbul", "Å", "A\u030a", "\u212b", "admin\u00a0", "x@y", "@", "+", "123456", "\xff",
		strings.Repeat("a", 256), strings.Repeat("é", 200),
	} {
		f.Add(s, uint8(0), "US")
		f.Add(s, uint8(1), "")
	}
	chans := []Channel{Email, SMS, Voice, WhatsApp}
	f.Fuzz(func(t *testing.T, raw string, ch uint8, region string) {
		c := chans[int(ch)%len(chans)]
		id, err := normalizeLoginID(raw, c, region)
		if err != nil {
			if id != (loginID{}) {
				t.Fatalf("refused %q but returned %+v", raw, id)
			}
			return
		}
		if id.ID == "" || len(id.ID) > maxLoginIDLen || !utf8.ValidString(id.ID) || strings.IndexFunc(id.ID, unicode.IsControl) >= 0 {
			t.Fatalf("%q -> %q", raw, id.ID)
		}
		again, err := normalizeLoginID(id.ID, c, region)
		if err != nil || again != id {
			t.Fatalf("%q -> %+v, which normalises to %+v (%v)", raw, id, again, err)
		}
		if (id.Addr != "") != (id.Kind.contact() == c.Contact()) || (id.Addr != "" && id.Addr != id.ID) {
			t.Fatalf("%q on %s: %+v", raw, c, id)
		}
	})
}
