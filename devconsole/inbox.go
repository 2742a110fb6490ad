package devconsole

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/render"
)

// Limits of the inbox.
const (
	// InboxSize is how many messages the inbox keeps; older ones are
	// dropped first.
	InboxSize = 200
	// MaxPartBytes bounds each stored part (subject, text, HTML) of a
	// message; longer parts are cut and the message marked truncated. With
	// InboxSize this bounds the inbox to about 40 MiB in the worst case.
	MaxPartBytes = 64 << 10
)

// Message is one delivery the log provider made, as the console shows it.
// Every string field may be attacker-controlled (addresses, locales,
// template options rendered into the parts): the pages only ever insert
// them as text, and the HTML part is served sandboxed.
type Message struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"time"`
	JobID   string    `json:"jobId"`
	Attempt int       `json:"attempt"`
	Project string    `json:"project"`
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Locale  string    `json:"locale"`
	Code    string    `json:"code"`
	Expires time.Time `json:"expiresAt"`
	Subject string    `json:"subject,omitempty"`
	Text    string    `json:"text"`
	HTML    string    `json:"-"`
	HasHTML bool      `json:"hasHtml"`
	// Encoding and Segments describe an SMS or WhatsApp body: GSM-7 or
	// UCS-2, and the number of SMS segments it takes.
	Encoding  string `json:"encoding,omitempty"`
	Segments  int    `json:"segments,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Inbox keeps the last InboxSize messages in a ring buffer. It is safe for
// concurrent use.
type Inbox struct {
	mu      sync.Mutex
	ring    []Message
	next    int    // ring index of the next write
	lastID  uint64 // id of the newest message (ids start at 1)
	changed chan struct{}
	now     func() time.Time
	size    int
}

// NewInbox returns an empty inbox of size messages (InboxSize when <= 0);
// now stamps messages.
func NewInbox(size int, now func() time.Time) *Inbox {
	if size <= 0 {
		size = InboxSize
	}
	return &Inbox{ring: make([]Message, 0, size), changed: make(chan struct{}), now: now, size: size}
}

// Add records a delivery. It has the log provider's Observe signature.
func (b *Inbox) Add(o delivery.Outgoing) {
	m := Message{
		Time: b.now().UTC(), JobID: o.ID, Attempt: o.Attempt, Project: o.Project, Channel: o.Channel,
		To: o.To, Locale: o.Locale, Code: o.Code, Expires: o.ExpiresAt.UTC(),
	}
	var cut bool
	m.Subject, cut = clip(o.Subject)
	m.Truncated = m.Truncated || cut
	m.Text, cut = clip(o.Text)
	m.Truncated = m.Truncated || cut
	m.HTML, cut = clip(o.HTML)
	m.Truncated = m.Truncated || cut
	m.HasHTML = m.HTML != ""
	if o.Channel == "sms" || o.Channel == "whatsapp" {
		m.Encoding = "UCS-2"
		if _, ok := render.GSM7Septets(o.Text); ok {
			m.Encoding = "GSM-7"
		}
		m.Segments = render.SMSSegments(o.Text)
	}
	b.mu.Lock()
	b.lastID++
	m.ID = b.lastID
	if len(b.ring) < b.size {
		b.ring = append(b.ring, m)
	} else {
		b.ring[b.next] = m
	}
	b.next = (b.next + 1) % b.size
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// After returns the kept messages with an id above after, newest first, and
// a channel closed at the next Add. An id above the newest one was seen
// from an earlier process (otpd restarted, ids began again at 1): every
// kept message is then new to that client.
func (b *Inbox) After(after uint64) ([]Message, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if after > b.lastID {
		after = 0
	}
	out := make([]Message, 0, len(b.ring))
	for i := 1; i <= len(b.ring); i++ {
		m := b.ring[(b.next-i+len(b.ring))%len(b.ring)]
		if m.ID <= after {
			break
		}
		out = append(out, m)
	}
	return out, b.changed
}

// Get returns a kept message by id.
func (b *Inbox) Get(id uint64) (Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.ring {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// clip cuts s to MaxPartBytes on a rune boundary.
func clip(s string) (string, bool) {
	if len(s) <= MaxPartBytes {
		return s, false
	}
	n := MaxPartBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
