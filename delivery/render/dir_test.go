package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error; "" means New succeeds
	}{
		{"syntax error", map[string]string{"default/en/sms.txt": "{{.Code"}, filepath.Join("default", "en", "sms.txt")},
		{"html syntax error", map[string]string{"x/fr/email.html": "{{if .Code}}"}, filepath.Join("x", "fr", "email.html")},
		{"unknown field", map[string]string{"default/en/voice.txt": "{{.Cod}}"}, filepath.Join("default", "en", "voice.txt")},
		{"html context error", map[string]string{"default/en/email.html": "<script>{{.Code}}"}, "email.html"},
		{"unknown file name", map[string]string{"default/en/sms.text": "hi"}, "sms.text"},
		{"file at locale level", map[string]string{"default/sms.txt": "hi"}, filepath.Join("default", "sms.txt")},
		{"file at template level", map[string]string{"README.md": "hi"}, "README.md"},
		{"directory at file level", map[string]string{"default/en/sms.txt/x": "hi"}, "sms.txt"},
		{"bad locale", map[string]string{"default/en us/sms.txt": "hi"}, "en us"},
		{"bad template id", map[string]string{"a b/en/sms.txt": "hi"}, "a b"},
		{"same locale twice", map[string]string{"default/pt_BR/sms.txt": "a", "default/pt-br/sms.txt": "b"}, "same template"},
		{"invalid UTF-8", map[string]string{"default/en/sms.txt": "\xff"}, "UTF-8"},
		{"hidden entries ignored", map[string]string{
			".DS_Store": "x", "default/.gitkeep": "", "default/en/.sms.txt.swp": "x", "..data/x": "y",
		}, ""},
		{"empty dir", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTree(t, tt.files)
			_, err := New(Options{Dir: dir})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("New succeeded, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("New: %v, want error containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), dir):
				t.Fatalf("New: %v, want the directory %q in the error", err, dir)
			}
		})
	}
	if _, err := New(Options{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New with a missing Dir succeeded")
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	const probe = `[{{.Options.app}}|{{.Options.nope}}|{{index .Options "nope"}}|{{.Option "app"}}|{{.Option "nope"}}]`
	dir := writeTree(t, map[string]string{
		"opts/en/sms.txt":    probe,
		"opts/en/email.html": "<p>" + probe + "</p>",
	})
	r := mustNew(t, Options{Dir: dir})
	tests := []struct {
		name    string
		options map[string]string
		want    string
	}{
		{"set and missing", map[string]string{"app": "Acme Web"}, "[Acme Web|||Acme Web|]"},
		{"nil map", nil, "[||||]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := msg("sms", "en", "opts")
			m.TemplateOptions = tt.options
			if got := mustRender(t, r, m).Text; got != tt.want {
				t.Errorf("sms = %q, want %q", got, tt.want)
			}
			m.Channel = "email"
			if got, want := mustRender(t, r, m).HTML, "<p>"+tt.want+"</p>"; got != want {
				t.Errorf("html = %q, want %q", got, want)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"x/en/email.subject.txt": "Hi {{.Options.app}}",
		"x/en/email.txt":         "{{.Options.app}}",
		"x/en/email.html":        `<p title="{{.Options.app}}">{{.Options.app}}</p>`,
	})
	r := mustNew(t, Options{Dir: dir})
	m := msg("email", "en", "x")
	m.TemplateOptions = map[string]string{"app": `<script>alert("x")</script>`}
	got := mustRender(t, r, m)
	want := delivery.Rendered{
		Subject: `Hi <script>alert("x")</script>`,
		Text:    `<script>alert("x")</script>`,
		HTML:    `<p title="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>`,
		Locale:  "en",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// An option cannot break the subject onto a second header line.
	m.TemplateOptions = map[string]string{"app": "x\r\nBcc: eve@example.com\n"}
	if got := mustRender(t, r, m).Subject; got != "Hi x  Bcc: eve@example.com" {
		t.Errorf("subject = %q, want it on one line", got)
	}
}

// TestConfigMapLayout: a Kubernetes ConfigMap volume holds the files under
// a hidden ..data directory reached through symbolic links.
func TestConfigMapLayout(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"..2026_01_01/default/en/sms.txt": "CM {{.Code}}"})
	for _, l := range [][2]string{{"..2026_01_01", "..data"}, {filepath.Join("..data", "default"), "default"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	r := mustNew(t, Options{Dir: dir})
	if got := mustRender(t, r, msg("sms", "en", "")).Text; got != "CM 123456" {
		t.Errorf("sms = %q, want the ConfigMap template", got)
	}
}
