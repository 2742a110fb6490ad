package provider

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/delivery/render"
)

// TestEveryShippedLocaleHasItsVoice: a voice call in any shipped locale
// is read by a voice of that locale's language, never by the English
// default (which would read "1, 2, 3" in English inside a Japanese
// sentence).
func TestEveryShippedLocaleHasItsVoice(t *testing.T) {
	r, err := render.New(render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Locales("") {
		v, ok := sayVoices[l]
		if !ok {
			t.Errorf("locale %s has no <Say> voice", l)
			continue
		}
		lang, _, _ := strings.Cut(l, "-")
		if l != "en" && strings.HasPrefix(v.Language, "en") {
			t.Errorf("locale %s is read in %s", l, v.Language)
		}
		if !strings.HasPrefix(strings.ToLower(v.Language), lang) && !(lang == "zh" && strings.HasPrefix(v.Language, "cmn-")) {
			t.Errorf("locale %s is read in %s", l, v.Language)
		}
		if v.Voice != "" && !strings.Contains(v.Voice, v.Language) {
			t.Errorf("locale %s: voice %s does not speak %s", l, v.Voice, v.Language)
		}
	}
}
