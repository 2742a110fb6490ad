package render

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/autofill"
)

// DefaultTemplateID is the template ID used when a message names none.
const DefaultTemplateID = "default"

// Template file names.
const (
	fileEmailSubject = "email.subject.txt"
	fileEmailText    = "email.txt"
	fileEmailHTML    = "email.html"
	fileSMS          = "sms.txt"
	fileWhatsApp     = "whatsapp.txt"
	fileVoice        = "voice.txt"
)

// knownFiles maps each template file name to the channel it belongs to.
var knownFiles = map[string]string{
	fileEmailSubject: "email",
	fileEmailText:    "email",
	fileEmailHTML:    "email",
	fileSMS:          "sms",
	fileWhatsApp:     "whatsapp",
	fileVoice:        "voice",
	// Security notices (notice.go).
	fileNoticeSubject: "email",
	fileNoticeEmail:   "email",
	fileNoticeSMS:     "sms",
	fileNoticeVoice:   "voice",
}

var (
	// ErrUnknownTemplate is returned (wrapped, with the ID) by Render for a
	// template ID that exists neither in Options.Dir nor embedded.
	ErrUnknownTemplate = errors.New("unknown template id")
	// ErrUnknownChannel is returned (wrapped) by Render for a channel other
	// than email, sms, whatsapp and voice.
	ErrUnknownChannel = errors.New("unknown channel")
)

// Options configure a Renderer.
type Options struct {
	// Dir, when set, holds custom templates that override and extend the
	// embedded defaults, in the same <templateID>/<locale>/<file> layout.
	Dir string
	// DefaultLocale is the project's default locale ("en" if empty).
	DefaultLocale string
	// ProductName is shown in messages as .ProductName ("otpd" if empty).
	ProductName string
	// Autofill adds the WebOTP origin-bound line and the Android SMS
	// Retriever app hash to every SMS with a code (package autofill). New
	// refuses settings that autofill.Settings.Validate refuses.
	Autofill autofill.Settings
}

// Renderer renders messages from parsed templates. It is immutable and safe
// for concurrent use.
type Renderer struct {
	productName   string
	defaultLocale string
	files         map[fileKey]*file
	locales       map[string][]string // template ID -> sorted locales
	cache         *outputCache
	marks         marks
	autofill      autofill.Settings
}

type fileKey struct{ id, locale, name string }

// file is one parsed template.
type file struct {
	source string // where it was read from, for errors
	locale string
	shape  shape // what the output depends on (cache.go)
	tmpl   interface {
		Execute(w io.Writer, data any) error
	}
}

// New reads and parses the embedded templates and those in o.Dir, and
// test-executes each with sample data. It fails, naming the file, on any
// unreadable, misplaced, unknown, unparsable or unexecutable template.
func New(o Options) (*Renderer, error) {
	r := &Renderer{
		productName:   o.ProductName,
		defaultLocale: normLocale(o.DefaultLocale),
		files:         map[fileKey]*file{},
		locales:       map[string][]string{},
		cache:         &outputCache{},
		marks:         newMarks(),
		autofill:      o.Autofill,
	}
	if errs := o.Autofill.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("render: %w", errors.Join(errs...))
	}
	if r.productName == "" {
		r.productName = "otpd"
	}
	if r.defaultLocale == "" {
		r.defaultLocale = "en"
	}
	shipped, err := embeddedFS()
	if err != nil {
		return nil, fmt.Errorf("render: embedded templates: %w", err)
	}
	if err := r.load(shipped, "embedded:templates"); err != nil {
		return nil, err
	}
	if o.Dir != "" {
		if err := r.load(dirFS(o.Dir), o.Dir); err != nil {
			return nil, err
		}
	}
	for k, f := range r.files {
		if err := r.dryRun(k, f); err != nil {
			return nil, err
		}
		if !slices.Contains(r.locales[k.id], k.locale) {
			r.locales[k.id] = append(r.locales[k.id], k.locale)
		}
	}
	for _, l := range r.locales {
		slices.Sort(l)
	}
	return r, nil
}

// dryRun executes f with sample data so that errors only seen at execution
// (unknown fields, html/template context errors) surface in New.
func (r *Renderer) dryRun(k fileKey, f *file) error {
	d := newData("123456", knownFiles[k.name], "signin", "someone@example.com", r.productName, 5*time.Minute, nil)
	d.Locale = f.locale
	if err := f.tmpl.Execute(io.Discard, d); err != nil {
		return fmt.Errorf("render: template %s: %w", f.source, err)
	}
	return nil
}

// Locales returns the sorted locales in which templateID ("" for
// "default") has at least one file, or nil for an unknown template ID.
func (r *Renderer) Locales(templateID string) []string {
	if templateID == "" {
		templateID = DefaultTemplateID
	}
	return slices.Clone(r.locales[templateID])
}

// Render renders m for its channel. lifetime is the code's lifetime, from
// which .ExpiresMinutes and .ExpiresSeconds are computed; it must be
// positive.
func (r *Renderer) Render(m delivery.Message, lifetime time.Duration) (delivery.Rendered, error) {
	id := m.TemplateID
	if id == "" {
		id = DefaultTemplateID
	}
	if _, ok := r.locales[id]; !ok {
		return delivery.Rendered{}, fmt.Errorf("render: %w %q", ErrUnknownTemplate, id)
	}
	if m.Purpose == delivery.PurposeContactChanged {
		return r.renderNotice(m, id)
	}
	if m.Code == "" {
		return delivery.Rendered{}, errors.New("render: empty code")
	}
	if lifetime <= 0 {
		return delivery.Rendered{}, fmt.Errorf("render: code lifetime %v is not positive", lifetime)
	}
	chain := r.chain(m.Locale)
	d := newData(m.Code, m.Channel, m.Purpose, m.To, r.productName, lifetime, m.TemplateOptions)
	var out delivery.Rendered
	var err error
	switch m.Channel {
	case "email":
		if out.Subject, _, err = r.exec(id, fileEmailSubject, chain, d); err != nil {
			return delivery.Rendered{}, err
		}
		out.Subject = oneLine(out.Subject)
		if out.Text, out.Locale, err = r.exec(id, fileEmailText, chain, d); err != nil {
			return delivery.Rendered{}, err
		}
		if out.HTML, _, err = r.exec(id, fileEmailHTML, chain, d); err != nil {
			return delivery.Rendered{}, err
		}
	case "sms":
		out.Text, out.Locale, err = r.exec(id, fileSMS, chain, d)
		out.Text = r.autofill.Append(out.Text, m.Code)
	case "whatsapp":
		out.Text, out.Locale, err = r.exec(id, fileWhatsApp, chain, d)
	case "voice":
		out.Text, out.Locale, err = r.exec(id, fileVoice, chain, d)
	default:
		return delivery.Rendered{}, fmt.Errorf("render: %w %q", ErrUnknownChannel, m.Channel)
	}
	if err != nil {
		return delivery.Rendered{}, err
	}
	return out, nil
}

// exec finds file name for template id along the locale chain and executes
// it, returning the trimmed output and the locale of the file used.
func (r *Renderer) exec(id, name string, chain []string, d Data) (string, string, error) {
	f := r.find(id, name, chain)
	if f == nil && id != DefaultTemplateID {
		f = r.find(DefaultTemplateID, name, chain)
	}
	if f == nil {
		return "", "", fmt.Errorf("render: no %s template for %q in locales %v", name, id, chain)
	}
	d.Locale = f.locale
	var (
		keyBuf [256]byte
		key    []byte
	)
	orig := d
	if f.shape.cacheable && r.cache != nil {
		key = f.key(keyBuf[:0], d)
		if out, ok := r.cache.get(key); ok {
			return withCode(out, orig, r.marks), f.locale, nil
		}
		d.Code, d.CodeSpelled = r.marks.code, r.marks.spell
	}
	var b strings.Builder
	if err := f.tmpl.Execute(&b, d); err != nil {
		return "", "", fmt.Errorf("render: template %s: %w", f.source, err)
	}
	out := strings.TrimSpace(b.String())
	if key == nil {
		return out, f.locale, nil
	}
	r.cache.put(string(key), out)
	return withCode(out, orig, r.marks), f.locale, nil
}

// find returns the first file named name for id along chain, or nil.
func (r *Renderer) find(id, name string, chain []string) *file {
	for _, l := range chain {
		if f := r.files[fileKey{id, l, name}]; f != nil {
			return f
		}
	}
	return nil
}

// chain is the locale lookup order for a message locale: the locale and
// its prefixes, the default locale and its prefixes, then "en".
func (r *Renderer) chain(locale string) []string {
	var out []string
	for _, tag := range []string{normLocale(locale), r.defaultLocale, "en"} {
		script := scriptTag(tag)
		for tag != "" {
			if !slices.Contains(out, tag) {
				out = append(out, tag)
			}
			tag = truncate(tag)
			if script != "" && tag != "" && !strings.Contains(tag, "-") {
				// "zh-tw", then "zh-hant", before "zh" (Simplified).
				if !slices.Contains(out, script) {
					out = append(out, script)
				}
				script = ""
			}
		}
	}
	return out
}

// scriptByRegion are the languages CLDR writes in another script in some
// regions (zh: Hans/Hant; sr, bs, uz, az, pa, ...). Other tags skip the
// x/text lookup, which costs a microsecond and 8 allocations.
var scriptByRegion = map[string]bool{"zh": true, "sr": true, "bs": true, "uz": true, "az": true,
	"pa": true, "mn": true, "ms": true, "ha": true, "ks": true, "sd": true, "ff": true}

// scriptTag is "<language>-<script>" (lower case) for a tag that names no
// script and whose region writes its language in another script than the
// language alone does: "zh-tw" and "zh-hk" give "zh-hant" (zh alone is
// Simplified, zh-hans), so Taiwan and Hong Kong get Traditional Chinese
// before falling back to "zh". Otherwise "".
func scriptTag(tag string) string {
	lang, _, ok := strings.Cut(tag, "-")
	if !ok || !scriptByRegion[lang] {
		return ""
	}
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	base, _ := t.Base()
	if s, conf := t.Script(); conf != language.Exact {
		bs, _ := language.Make(base.String()).Script()
		if s != bs {
			return strings.ToLower(base.String() + "-" + s.String())
		}
	}
	return ""
}

// truncate drops tag's last subtag, and a single-letter subtag left before
// it ("zh-hant-x-a" -> "zh-hant"), as RFC 4647 lookup does; "" when none is
// left.
func truncate(tag string) string {
	i := strings.LastIndexByte(tag, '-')
	if i < 0 {
		return ""
	}
	tag = tag[:i]
	if j := strings.LastIndexByte(tag, '-'); j >= 0 && len(tag)-j == 2 {
		tag = tag[:j]
	}
	return tag
}

// normLocale trims, lower-cases and turns '_' into '-': "pt_BR" -> "pt-br".
func normLocale(l string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(l)), "_", "-")
}

// oneLine folds a subject onto one line: CR, LF and tabs become spaces.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '\t', '\v', '\f', '\u0085', '\u2028', '\u2029':
			return ' '
		}
		return r
	}, s))
}
