package render

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otpd/otpd/delivery"
)

// fuzzTemplates print the request's templateOptions and the address in
// every channel and context (text, HTML body, attribute, URL), as custom
// templates may.
var fuzzTemplates = map[string]string{
	"opts/en/email.subject.txt": `{{.Option "app"}} code for {{.To}}`,
	"opts/en/email.txt":         "{{.Code}}\n{{.Option \"app\"}} {{.Option \"link\"}}\n{{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}",
	"opts/en/email.html":        `<p>{{.Code}}</p><a href="{{.Option "link"}}" title="{{.Option "app"}}">{{.Option "app"}}</a>{{range $k, $v := .Options}}<i>{{$k}}={{$v}}</i>{{end}}<b>{{.To}}</b>`,
	"opts/en/sms.txt":           `{{.Code}} {{.Option "app"}} {{.Option "link"}} {{.To}}`,
	"opts/en/whatsapp.txt":      `*{{.Code}}* {{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}`,
	"opts/en/voice.txt":         `{{.CodeSpelled}}. {{.Option "app"}}`,
}

func fuzzRenderers(f *testing.F) (cached, fresh *Renderer) {
	dir := f.TempDir()
	for p, src := range fuzzTemplates {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(src), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	var err error
	if cached, err = New(Options{Dir: dir, ProductName: "Acme"}); err != nil {
		f.Fatal(err)
	}
	if fresh, err = New(Options{Dir: dir, ProductName: "Acme"}); err != nil {
		f.Fatal(err)
	}
	fresh.cache = nil
	return cached, fresh
}

// fuzzCode makes a code of 4 to 10 digits from n.
func fuzzCode(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for len(s) < 4 {
		s = "0" + s
	}
	return s[:min(len(s), 4+int(n%7))]
}

// FuzzRenderOptions: templateOptions, locale and purpose are the caller's;
// the code goes to someone else (an attacker may start a sign-in for any
// address). Whatever they hold, rendering never panics or fails for a
// valid channel; the output is exactly what executing the templates gives
// (the output cache never serves another message's text, nor lets an
// option decide where the code lands); the code is in the message; HTML
// escapes what the caller sent; a subject stays on one line.
func FuzzRenderOptions(f *testing.F) {
	cached, fresh := fuzzRenderers(f)
	type opts struct{ k1, v1, k2, v2 string }
	seeds := []struct {
		prev, cur opts
		to        string
	}{
		{opts{"app", "Acme", "", ""}, opts{"app", "Acme", "link", "https://example.com"}, "ada@example.com"},
		{opts{"app", "<script>alert(1)</script>", "link", "javascript:alert(1)"}, opts{"app", "\"><img src=x>", "", ""}, "a@b.c"},
		{opts{"app", "line\r\nBcc: x@evil.example", "", ""}, opts{"app", "\u2028\u0085\t", "", ""}, "+14155550123"},
		// Cache key collision: one option holding the key's separators
		// against two options.
		{opts{"app", "b\x00link\x01d", "", ""}, opts{"app", "b", "link", "d"}, "x@y.z"},
		// An option spelling the cache's code placeholder.
		{opts{"", "", "", ""}, opts{"link", "https://evil.example/?c=zQx9otpdCODE7kPw", "app", "zQx9otpdSPELL7kPw"}, "v@x.y"},
		{opts{"", "", "", ""}, opts{"\xff", "\xfe", "{{.Code}}", "{{.To}}"}, ""},
	}
	for i, s := range seeds {
		f.Add(s.prev.k1, s.prev.v1, s.prev.k2, s.prev.v2, s.cur.k1, s.cur.v1, s.cur.k2, s.cur.v2, s.to,
			"en", "signin", uint8(i), uint64(123456+i))
	}
	f.Fuzz(func(t *testing.T, pk1, pv1, pk2, pv2, k1, v1, k2, v2, to, locale, purpose string, ch uint8, n uint64) {
		mk := func(k1, v1, k2, v2 string) map[string]string {
			o := map[string]string{}
			if k1 != "" || v1 != "" {
				o[k1] = v1
			}
			if k2 != "" || v2 != "" {
				o[k2] = v2
			}
			return o
		}
		channel := channels[int(ch)%len(channels)]
		code := fuzzCode(n)
		m := delivery.Message{Project: "P1", Channel: channel, To: to, Code: code, Purpose: purpose,
			Locale: locale, TemplateID: "opts", TemplateOptions: mk(k1, v1, k2, v2)}
		prev := m
		prev.Code, prev.TemplateOptions = fuzzCode(n+1), mk(pk1, pv1, pk2, pv2)
		if _, err := cached.Render(prev, 5*time.Minute); err != nil {
			t.Fatalf("previous message: %v", err)
		}
		got, err := cached.Render(m, 5*time.Minute)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		want, err := fresh.Render(m, 5*time.Minute)
		if err != nil {
			t.Fatalf("fresh render: %v", err)
		}
		if got != want {
			t.Fatalf("cached output differs from the templates'\ncached %+v\nfresh  %+v", got, want)
		}
		body := got.Text
		if channel == "voice" {
			code = spell(code)
		}
		if !strings.Contains(body, code) || (channel == "email" && !strings.Contains(got.HTML, code)) {
			t.Fatalf("code %q missing from %+v", code, got)
		}
		if strings.ContainsAny(got.Subject, "\r\n") {
			t.Fatalf("subject on several lines: %q", got.Subject)
		}
		if channel == "email" {
			// The HTML has the template's structure and no more: p, a, b
			// and one i per option; two quoted attributes. Anything the
			// caller sent is escaped.
			n := len(m.TemplateOptions)
			if strings.Count(got.HTML, "<") != 6+2*n || strings.Count(got.HTML, ">") != 6+2*n || strings.Count(got.HTML, `"`) != 4 {
				t.Fatalf("HTML structure changed by %q, %q: %s", m.TemplateOptions, to, got.HTML)
			}
		}
	})
}

// FuzzRenderTemplate: a custom template is the operator's, but the output
// cache must not change what it says, whatever it does with the data: two
// messages to different people, with different options, render exactly as
// executing the template gives (the second never shows the first one's
// address, options or code).
func FuzzRenderTemplate(f *testing.F) {
	for _, s := range []string{
		"{{.Code}} is your code", "{{.Code}} {{.}}", `{{.Code}} {{printf "%v" .}}`, "{{.Code}} {{$}}",
		"{{.Code}} {{with $x := .}}{{$x.To}}{{end}}", "{{.Code}} {{template \"t\" .}}{{define \"t\"}}{{.To}}{{end}}",
		`{{.Code}} {{range $k, $v := .Options}}{{$k}}{{end}}`, `{{.CodeSpelled}} {{.Option "app"}}`,
		"{{.Code}} {{.To}} {{len .Options}}", "{{printf \"%s\" .Code}}", "{{.Code}}{{/* . */}}",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, html bool) {
		name := fileSMS
		if html {
			name = fileEmailHTML
		}
		fsys := fstest.MapFS{"custom/en/" + name: {Data: []byte(src)}}
		fl, err := parse(fsys, "custom/en/"+name, name, "fuzz:"+name, "en")
		if err != nil {
			return // New refuses it
		}
		build := func(cache *outputCache) *Renderer {
			return &Renderer{productName: "Acme", defaultLocale: "en", cache: cache, marks: newMarks(),
				files:   map[fileKey]*file{{"custom", "en", name}: fl},
				locales: map[string][]string{"custom": {"en"}}}
		}
		cached, fresh := build(&outputCache{}), build(nil)
		if cached.dryRun(fileKey{"custom", "en", name}, fl) != nil {
			return // New refuses it
		}
		channel := "sms"
		if html {
			// Only the HTML part is compared; the other parts are the
			// embedded defaults, which this renderer does not hold.
			channel = "email"
		}
		for i, m := range []delivery.Message{
			{Channel: channel, To: "alice@example.com", Code: "111111", Purpose: "signin", TemplateID: "custom",
				TemplateOptions: map[string]string{"app": "Alpha"}},
			{Channel: channel, To: "bob@example.com", Code: "222222", Purpose: "signin", TemplateID: "custom",
				TemplateOptions: map[string]string{"app": "Beta", "x": "y"}},
		} {
			d := newData(m.Code, m.Channel, m.Purpose, m.To, "Acme", 5*time.Minute, m.TemplateOptions)
			got, _, gerr := cached.exec("custom", name, []string{"en"}, d)
			want, _, werr := fresh.exec("custom", name, []string{"en"}, d)
			if (gerr == nil) != (werr == nil) || got != want {
				t.Fatalf("message %d: cached %q (%v), executed %q (%v)", i, got, gerr, want, werr)
			}
		}
	})
}
