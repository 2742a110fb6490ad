package render

import (
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/delivery"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the shipped templates")

// goldenDir holds one rendered file per shipped template file.
const goldenDir = "testdata/golden"

// channelFiles maps each channel to the template files it renders, and how
// to read each one's output from a Rendered.
var channelFiles = map[string]map[string]func(delivery.Rendered) string{
	"email": {
		fileEmailSubject: func(r delivery.Rendered) string { return r.Subject },
		fileEmailText:    func(r delivery.Rendered) string { return r.Text },
		fileEmailHTML:    func(r delivery.Rendered) string { return r.HTML },
	},
	"sms":      {fileSMS: func(r delivery.Rendered) string { return r.Text }},
	"whatsapp": {fileWhatsApp: func(r delivery.Rendered) string { return r.Text }},
	"voice":    {fileVoice: func(r delivery.Rendered) string { return r.Text }},
}

// shippedFiles lists the embedded template files as id/locale/file paths.
func shippedFiles(t *testing.T) []string {
	t.Helper()
	fsys, err := embeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGolden renders every shipped template file in every locale with fixed
// data and compares it with testdata/golden/<id>/<locale>/<file>. Run with
// -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	r, err := New(Options{ProductName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	shipped := shippedFiles(t)
	var covered []string
	for _, locale := range r.Locales(DefaultTemplateID) {
		for channel, files := range channelFiles {
			to := "+14155550123"
			if channel == "email" {
				to = "ada@example.com"
			}
			m := delivery.Message{
				Project: "P1", Channel: channel, To: to, Code: "123456",
				Purpose: "signin", Locale: locale, TemplateOptions: map[string]string{"app": "Acme Web"},
			}
			got, err := r.Render(m, 5*time.Minute)
			if err != nil {
				t.Fatalf("Render(%s, %s): %v", locale, channel, err)
			}
			if got.Locale != locale {
				t.Errorf("Render(%s, %s).Locale = %q, want %q", locale, channel, got.Locale, locale)
			}
			for name, part := range files {
				rel := path.Join(DefaultTemplateID, locale, name)
				covered = append(covered, rel)
				checkGolden(t, rel, part(got)+"\n")
			}
		}
	}
	covered = append(covered, goldenNotices(t, r)...)
	slices.Sort(shipped)
	slices.Sort(covered)
	if diff := cmp.Diff(shipped, covered); diff != "" {
		t.Errorf("shipped files (-) not covered by golden renders (+):\n%s", diff)
	}
	if *update {
		return
	}
	var goldens []string
	err = filepath.WalkDir(goldenDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(goldenDir, p)
			goldens = append(goldens, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(goldens)
	if diff := cmp.Diff(shipped, goldens); diff != "" {
		t.Errorf("golden files (+) without a shipped template (-), delete them:\n%s", diff)
	}
}

// noticeFiles maps each channel to the security-notice files it renders.
var noticeFiles = map[string]map[string]func(delivery.Rendered) string{
	"email": {
		fileNoticeSubject: func(r delivery.Rendered) string { return r.Subject },
		fileNoticeEmail:   func(r delivery.Rendered) string { return r.Text },
	},
	"sms":   {fileNoticeSMS: func(r delivery.Rendered) string { return r.Text }},
	"voice": {fileNoticeVoice: func(r delivery.Rendered) string { return r.Text }},
}

// goldenNotices renders the security notice in every locale and channel
// and returns the files it covered.
func goldenNotices(t *testing.T, r *Renderer) []string {
	t.Helper()
	var covered []string
	at := time.Date(2026, 12, 7, 22, 51, 30, 0, time.UTC)
	for _, locale := range r.Locales(DefaultTemplateID) {
		for channel, files := range noticeFiles {
			n := &delivery.Notice{Contact: "phone", NewMasked: "+*******9876", ChangedAt: at}
			to := "+14155550123"
			if channel == "email" {
				n.Contact, n.NewMasked, to = "email", "e***@evil.test", "ada@example.com"
			}
			got, err := r.Render(delivery.Message{Project: "P1", Channel: channel, To: to, Purpose: delivery.PurposeContactChanged,
				Locale: locale, Notice: n}, 5*time.Minute)
			if err != nil {
				t.Fatalf("Render notice (%s, %s): %v", locale, channel, err)
			}
			if got.Locale != locale {
				t.Errorf("notice (%s, %s).Locale = %q", locale, channel, got.Locale)
			}
			for name, part := range files {
				rel := path.Join(DefaultTemplateID, locale, name)
				covered = append(covered, rel)
				checkGolden(t, rel, part(got)+"\n")
			}
		}
	}
	return covered
}

func checkGolden(t *testing.T, rel, got string) {
	t.Helper()
	p := filepath.Join(goldenDir, filepath.FromSlash(rel))
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-golden +rendered); run go test -update if intended:\n%s", rel, diff)
	}
}
