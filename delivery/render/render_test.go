package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

var channels = []string{"email", "sms", "whatsapp", "voice"}

// writeTree writes files (slash-separated path -> content) under a new
// temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustNew(t *testing.T, o Options) *Renderer {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	return r
}

func msg(channel, locale, templateID string) delivery.Message {
	return delivery.Message{Project: "P1", Channel: channel, To: "ada@example.com", Code: "123456",
		Purpose: "signin", Locale: locale, TemplateID: templateID}
}

func mustRender(t *testing.T, r *Renderer, m delivery.Message) delivery.Rendered {
	t.Helper()
	got, err := r.Render(m, 5*time.Minute)
	if err != nil {
		t.Fatalf("Render(%+v): %v", m, err)
	}
	return got
}

func TestLocaleFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, defaultLocale, locale, want string
	}{
		{"exact", "", "fr", "fr"},
		{"region falls back to language", "", "fr-CA", "fr"},
		{"underscore and case", "", "FR_ca", "fr"},
		{"numeric region", "", "es-419", "es"},
		{"unknown falls back to project default", "es", "sw-KE", "es"},
		{"project default with region", "es_MX", "sw-KE", "es"},
		{"empty uses project default", "fr", "", "fr"},
		{"empty without project default", "", "", "en"},
		{"unknown without project default", "", "sw", "en"},
		{"unknown project default", "sw-TZ", "zz", "en"},
		{"garbage", "", "../../etc", "en"},
		{"Taiwan reads Traditional", "", "zh-TW", "zh-hant"},
		{"mainland reads Simplified", "zh-TW", "zh-CN", "zh"},
		{"request before project default", "ja", "ko-KR", "ko"},
		{"project default's script", "zh-HK", "sw", "zh-hant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustNew(t, Options{DefaultLocale: tt.defaultLocale})
			for _, ch := range channels {
				if got := mustRender(t, r, msg(ch, tt.locale, "")); got.Locale != tt.want {
					t.Errorf("%s: Locale = %q, want %q", ch, got.Locale, tt.want)
				}
			}
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		defaultLocale, locale string
		want                  []string
	}{
		{"", "", []string{"en"}},
		{"", "pt-BR", []string{"pt-br", "pt", "en"}},
		{"en-GB", "en_US", []string{"en-us", "en", "en-gb"}},
		{"pt_BR", "zh-Hant-TW", []string{"zh-hant-tw", "zh-hant", "zh", "pt-br", "pt", "en"}},
		{"", "zh-hant-x-a", []string{"zh-hant-x-a", "zh-hant", "zh", "en"}},
		{"", "zh-TW", []string{"zh-tw", "zh-hant", "zh", "en"}},
		{"zh_HK", "pt-BR", []string{"pt-br", "pt", "zh-hk", "zh-hant", "zh", "en"}},
		{"", "zh-CN", []string{"zh-cn", "zh", "en"}},
	}
	for _, tt := range tests {
		r := mustNew(t, Options{DefaultLocale: tt.defaultLocale})
		if diff := cmp.Diff(tt.want, r.chain(tt.locale)); diff != "" {
			t.Errorf("chain(%q) with default %q (-want +got):\n%s", tt.locale, tt.defaultLocale, diff)
		}
	}
}

func TestDirOverride(t *testing.T) {
	t.Parallel()
	plain := mustNew(t, Options{ProductName: "Acme"})
	dir := writeTree(t, map[string]string{
		"default/en/sms.txt":           "OVERRIDE {{.Code}}\n",
		"default/sw/voice.txt":         "Nambari yako ni {{.CodeSpelled}}.",
		"welcome/en/email.subject.txt": "Welcome to {{.ProductName}}\n",
	})
	r := mustNew(t, Options{ProductName: "Acme", Dir: dir})

	tests := []struct {
		name       string
		m          delivery.Message
		want       func(plain delivery.Rendered) delivery.Rendered
		wantLocale string
	}{
		{"overridden file", msg("sms", "en", ""), func(delivery.Rendered) delivery.Rendered {
			return delivery.Rendered{Text: "OVERRIDE 123456", Locale: "en"}
		}, "en"},
		{"override reached by fallback", msg("sms", "sw", ""), func(delivery.Rendered) delivery.Rendered {
			return delivery.Rendered{Text: "OVERRIDE 123456", Locale: "en"}
		}, "en"},
		{"other locale untouched", msg("sms", "fr", ""), nil, "fr"},
		{"other channels untouched", msg("email", "en", ""), nil, "en"},
		{"whatsapp untouched", msg("whatsapp", "en", ""), nil, "en"},
		{"new locale", msg("voice", "sw-KE", ""), func(delivery.Rendered) delivery.Rendered {
			return delivery.Rendered{Text: "Nambari yako ni 1, 2, 3, 4, 5, 6.", Locale: "sw"}
		}, "sw"},
		{"custom id uses default for other files", msg("email", "en", "welcome"), func(p delivery.Rendered) delivery.Rendered {
			p.Subject = "Welcome to Acme"
			return p
		}, "en"},
		{"custom id subject in chain before default body", msg("email", "fr", "welcome"), func(p delivery.Rendered) delivery.Rendered {
			p.Subject = "Welcome to Acme"
			return p
		}, "fr"},
		{"custom id without the channel", msg("sms", "es", "welcome"), nil, "es"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := tt.m
			base.TemplateID = ""
			p := mustRender(t, plain, base)
			want := p
			if tt.want != nil {
				want = tt.want(p)
			}
			got := mustRender(t, r, tt.m)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Locale != tt.wantLocale {
				t.Errorf("Locale = %q, want %q", got.Locale, tt.wantLocale)
			}
		})
	}

	if diff := cmp.Diff(slices.Sorted(slices.Values(append(plain.Locales(""), "sw"))), r.Locales("")); diff != "" {
		t.Errorf("Locales(\"\") (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"en"}, r.Locales("welcome")); diff != "" {
		t.Errorf("Locales(welcome) (-want +got):\n%s", diff)
	}
	if got := r.Locales("nope"); got != nil {
		t.Errorf("Locales(nope) = %v, want nil", got)
	}
	_, err := r.Render(msg("sms", "en", "nope"), time.Minute)
	if !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown template id: err = %v, want ErrUnknownTemplate naming \"nope\"", err)
	}
	// The embedded renderer does not know "welcome".
	if _, err := plain.Render(msg("sms", "en", "welcome"), time.Minute); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("welcome without Dir: err = %v, want ErrUnknownTemplate", err)
	}
}

// rtl are the shipped right-to-left locales.
var rtl = map[string]bool{"ar": true, "he": true}

var lifetime7 = regexp.MustCompile(`(^|[^0-9])7([^0-9]|$)`)

// TestShippedInvariants checks every shipped message for every purpose:
// the code is in the body and never in the subject, the lifetime is stated,
// and nothing renders as "<no value>".
func TestShippedInvariants(t *testing.T) {
	t.Parallel()
	r := mustNew(t, Options{ProductName: "Acme"})
	for _, locale := range r.Locales("") {
		subjects := map[string]string{}
		for _, purpose := range []string{"signup", "signin", "signup-in", "update"} {
			for _, ch := range channels {
				m := delivery.Message{Channel: ch, To: "ada@example.com", Code: "908172",
					Purpose: purpose, Locale: locale}
				got, err := r.Render(m, 7*time.Minute)
				if err != nil {
					t.Fatalf("%s %s %s: %v", locale, purpose, ch, err)
				}
				where := locale + "/" + purpose + "/" + ch
				code := "908172"
				if ch == "voice" {
					code = "9, 0, 8, 1, 7, 2"
					if n := strings.Count(got.Text, code); n != 2 {
						t.Errorf("%s: spelled code said %d times, want 2: %q", where, n, got.Text)
					}
				}
				parts := []string{got.Text}
				if ch == "email" {
					parts = append(parts, got.HTML)
				}
				for _, part := range parts {
					// The lifetime is the number 7 outside the code ("7 min",
					// "7분", "ל-7").
					if !strings.Contains(part, code) || !lifetime7.MatchString(strings.ReplaceAll(part, code, "")) {
						t.Errorf("%s: want the code and the lifetime in %q", where, part)
					}
					if strings.Contains(part, "<no value>") {
						t.Errorf("%s: <no value> in %q", where, part)
					}
				}
				if ch != "email" {
					continue
				}
				subjects[purpose] = got.Subject
				if got.Subject == "" || strings.Contains(got.Subject, "908172") {
					t.Errorf("%s: subject %q is empty or has the code", where, got.Subject)
				}
				wantHTML := `<html lang="` + locale + `">`
				if rtl[locale] {
					wantHTML = `<html lang="` + locale + `" dir="rtl">`
				}
				if !strings.Contains(got.HTML, wantHTML) {
					t.Errorf("%s: HTML has no %s", where, wantHTML)
				}
			}
		}
		if subjects["signup"] == subjects["signin"] || subjects["update"] == subjects["signin"] {
			t.Errorf("%s: subjects do not depend on the purpose: %v", locale, subjects)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	r := mustNew(t, Options{})
	tests := []struct {
		name     string
		m        delivery.Message
		lifetime time.Duration
		is       error
	}{
		{"unknown channel", msg("fax", "en", ""), time.Minute, ErrUnknownChannel},
		{"unknown template", msg("sms", "en", "Default"), time.Minute, ErrUnknownTemplate},
		{"empty code", delivery.Message{Channel: "sms"}, time.Minute, nil},
		{"zero lifetime", msg("sms", "en", ""), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := r.Render(tt.m, tt.lifetime)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("err = %v, want an error (is %v)", err, tt.is)
			}
		})
	}
}

func TestData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code             string
		lifetime         time.Duration
		spelled          string
		minutes, seconds int
	}{
		{"123456", 5 * time.Minute, "1, 2, 3, 4, 5, 6", 5, 300},
		{"42", 5*time.Minute + time.Second, "4, 2", 6, 301},
		{"7", 30 * time.Second, "7", 1, 30},
		{"AB9", 1500 * time.Millisecond, "A, B, 9", 1, 2},
		{"0", time.Nanosecond, "0", 1, 1},
	}
	for _, tt := range tests {
		d := newData(tt.code, "voice", "signin", "", "p", tt.lifetime, nil)
		if d.CodeSpelled != tt.spelled || d.ExpiresMinutes != tt.minutes || d.ExpiresSeconds != tt.seconds || d.Options == nil {
			t.Errorf("newData(%q, %v) = %+v, want spelled %q, %d min, %d s", tt.code, tt.lifetime, d, tt.spelled, tt.minutes, tt.seconds)
		}
	}
}

func TestProductNameDefault(t *testing.T) {
	t.Parallel()
	r := mustNew(t, Options{})
	if got := mustRender(t, r, msg("sms", "en", "")).Text; !strings.Contains(got, "otpd") {
		t.Errorf("sms = %q, want the default product name otpd", got)
	}
}

func TestConcurrentRender(t *testing.T) {
	t.Parallel()
	r := mustNew(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				m := msg(channels[(i+j)%len(channels)], []string{"en", "fr", "es"}[j%3], "")
				if _, err := r.Render(m, time.Minute); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestCachedRenderingMatchesFresh: the output cache (cache.go) gives the
// same text as executing the templates, for many codes and shapes, and
// templates that transform the code are never cached.
func TestCachedRenderingMatchesFresh(t *testing.T) {
	t.Parallel()
	cached, err := New(Options{ProductName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := New(Options{ProductName: "Acme"})
	fresh.cache = nil
	for i := range 200 {
		m := delivery.Message{Code: fmt.Sprintf("%06d", i*7919%1000000), Channel: []string{"email", "sms", "whatsapp", "voice"}[i%4],
			Purpose: []string{"signup", "signin", "update"}[i%3], Locale: []string{"en", "fr", "es"}[i%3],
			To: fmt.Sprintf("u%d@example.com", i), TemplateOptions: map[string]string{"app": fmt.Sprint("A", i%5)}}
		a, err := cached.Render(m, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := fresh.Render(m, 5*time.Minute)
		if a != b {
			t.Fatalf("message %d: cached\n%+v\nfresh\n%+v", i, a, b)
		}
		if !strings.Contains(a.Text, m.Code) && m.Channel != "voice" || strings.Contains(a.Text+a.HTML+a.Subject, cached.marks.code) ||
			strings.Contains(a.Text+a.HTML+a.Subject, cached.marks.spell) {
			t.Fatalf("message %d: code missing or a placeholder leaked: %+v", i, a)
		}
	}
	for k, f := range cached.files {
		if !f.shape.cacheable {
			t.Errorf("shipped template %v is not cacheable", k)
		}
	}
	for src, want := range map[string]bool{
		"Your code is {{.Code}}. Again: {{ .CodeSpelled -}}": true,
		"{{printf \"%s\" .Code}}":                            false,
		"{{if .Code}}x{{end}}{{.Code}}":                      false,
		"Ihr Code für {{.ProductName}}: {{.Code}}":           true, // the word "Code" in the text is no use of it
		"{{.Code | len}}":                                    false,
		"{{.Code}} {{.}}":                                    false,
		"{{.Code}} {{printf \"%v\" $}}":                      false,
		"{{.Code}} {{template \"t\" .}}":                     false,
		"{{.Code}} {{$.To}} {{ .Option \"app\" }} 1. 2.":     true,
	} {
		if got := shapeOf(src).cacheable; got != want {
			t.Errorf("shapeOf(%q).cacheable = %v, want %v", src, got, want)
		}
	}
}
