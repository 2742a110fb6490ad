package render

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otpd/otpd/delivery"
)

// Security notice files: what the old address is told after its verified
// email or phone was changed (delivery.PurposeContactChanged). WhatsApp
// uses the SMS text.
const (
	fileNoticeSubject = "notice.email.subject.txt"
	fileNoticeEmail   = "notice.email.txt"
	fileNoticeSMS     = "notice.sms.txt"
	fileNoticeVoice   = "notice.voice.txt"
)

// NoticeTimeLayout is how ChangedAt is written in a notice (UTC).
const NoticeTimeLayout = "2006-01-02 15:04 UTC"

// renderNotice renders a security notice. It has no code, so the output
// cache (which substitutes the code into cached output) is not used: the
// data of each notice differs anyway.
func (r *Renderer) renderNotice(m delivery.Message, id string) (delivery.Rendered, error) {
	n := m.Notice
	if n == nil {
		return delivery.Rendered{}, errors.New("render: a contact-changed notice without its notice data")
	}
	d := newData("", m.Channel, m.Purpose, m.To, r.productName, time.Minute, m.TemplateOptions)
	d.Contact, d.NewAddress, d.ChangedAt = n.Contact, n.NewMasked, n.ChangedAt.UTC().Format(NoticeTimeLayout)
	chain := r.chain(m.Locale)
	var out delivery.Rendered
	var err error
	switch m.Channel {
	case "email":
		if out.Subject, _, err = r.execUncached(id, fileNoticeSubject, chain, d); err != nil {
			return delivery.Rendered{}, err
		}
		out.Subject = oneLine(out.Subject)
		out.Text, out.Locale, err = r.execUncached(id, fileNoticeEmail, chain, d)
	case "sms", "whatsapp":
		out.Text, out.Locale, err = r.execUncached(id, fileNoticeSMS, chain, d)
	case "voice":
		out.Text, out.Locale, err = r.execUncached(id, fileNoticeVoice, chain, d)
	default:
		return delivery.Rendered{}, fmt.Errorf("render: %w %q", ErrUnknownChannel, m.Channel)
	}
	if err != nil {
		return delivery.Rendered{}, err
	}
	return out, nil
}

// execUncached is exec without the output cache.
func (r *Renderer) execUncached(id, name string, chain []string, d Data) (string, string, error) {
	f := r.find(id, name, chain)
	if f == nil && id != DefaultTemplateID {
		f = r.find(DefaultTemplateID, name, chain)
	}
	if f == nil {
		return "", "", fmt.Errorf("render: no %s template for %q in locales %v", name, id, chain)
	}
	d.Locale = f.locale
	var b strings.Builder
	if err := f.tmpl.Execute(&b, d); err != nil {
		return "", "", fmt.Errorf("render: template %s: %w", f.source, err)
	}
	return strings.TrimSpace(b.String()), f.locale, nil
}
