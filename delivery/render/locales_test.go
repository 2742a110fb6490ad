package render

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/delivery"
)

var fieldUse = regexp.MustCompile(`\.(Code|CodeSpelled|ExpiresMinutes|ProductName|NewAddress|ChangedAt|Locale)\b`)

// fieldsOf is the sorted set of data fields a template source uses.
func fieldsOf(src string) []string {
	var out []string
	for _, m := range fieldUse.FindAllStringSubmatch(src, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryLocaleShipsEveryFileWithItsPlaceholders: every shipped locale
// has its own copy of every template file (none falls back to English),
// and each uses the same data fields as the English file: the code (or
// the spelled code), the product name, the lifetime, and the notice's new
// address and time are all there.
func TestEveryLocaleShipsEveryFileWithItsPlaceholders(t *testing.T) {
	t.Parallel()
	shipped, err := embeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, Options{})
	for _, l := range r.Locales("") {
		for name := range knownFiles {
			if r.files[fileKey{DefaultTemplateID, l, name}] == nil {
				t.Errorf("%s: no %s", l, name)
				continue
			}
			src, err := fs.ReadFile(shipped, DefaultTemplateID+"/"+l+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			en, err := fs.ReadFile(shipped, DefaultTemplateID+"/en/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fieldsOf(string(src)), fieldsOf(string(en)); !slices.Equal(got, want) {
				t.Errorf("%s/%s uses %v, English uses %v", l, name, got, want)
			}
		}
	}
}

// TestNoticesInEveryLocale: the security notice renders in every locale
// and channel with the masked new address (email, SMS) and the time.
func TestNoticesInEveryLocale(t *testing.T) {
	t.Parallel()
	r := mustNew(t, Options{ProductName: "Acme"})
	at := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	for _, l := range r.Locales("") {
		for _, ch := range channels {
			got, err := r.Render(delivery.Message{Channel: ch, Purpose: delivery.PurposeContactChanged, Locale: l,
				Notice: &delivery.Notice{Contact: "phone", NewMasked: "+*******9876", ChangedAt: at}}, time.Minute)
			if err != nil {
				t.Fatalf("%s/%s: %v", l, ch, err)
			}
			if got.Locale != l || !strings.Contains(got.Text, "2026-12-31 23:59 UTC") || !strings.Contains(got.Text, "Acme") ||
				(ch != "voice" && !strings.Contains(got.Text, "+*******9876")) || (ch == "email" && got.Subject == "") {
				t.Errorf("%s/%s: %+v", l, ch, got)
			}
		}
	}
}
