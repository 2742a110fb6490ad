// Package delivery gets a code to a person. This package holds the shared
// types (Message, Outgoing, Rendered), the Provider contract and the
// development `log` provider; render (templates), provider (SMTP, Twilio,
// webhook), seal (encryption at rest) and queue (the durable Redis Stream
// queue and its workers) do the work.
package delivery

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Message is one code to deliver. It carries the code in clear, so it must
// never be logged (except by the log provider, on purpose) nor stored
// unsealed.
type Message struct {
	Project         string
	Channel         string // email, sms, voice, whatsapp
	To              string // normalised address
	Code            string
	Purpose         string // signup, signin, signup-in
	ExpiresAt       time.Time
	Locale          string
	TemplateID      string
	TemplateOptions map[string]string
	ProviderID      string
	// Notice, on a security notice (Purpose PurposeContactChanged), says
	// what changed; such a message has no Code.
	Notice *Notice
}

// PurposeContactChanged is the Purpose of a security notice sent to the
// old address after a verified email or phone changed.
const PurposeContactChanged = "contact-changed"

// Notice is what a security notice tells the old address.
type Notice struct {
	// Contact is "email" or "phone": what changed.
	Contact string
	// NewMasked is the new address, masked as the API masks it.
	NewMasked string
	// ChangedAt is when the change was made.
	ChangedAt time.Time
}

// Sender delivers a message inline, for engines built without a queue
// (tests). Implementations must not block for long: the start RPC waits.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// LogProvider is the development provider behind the queue: it writes
// each delivery, code included, as one JSON line. Never use it in
// production.
type LogProvider struct {
	log     *slog.Logger
	observe func(Outgoing)
}

var _ Provider = (*LogProvider)(nil)

// NewLogProvider writes deliveries as JSON lines to w.
func NewLogProvider(w io.Writer) *LogProvider {
	return &LogProvider{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// Observe makes the provider hand every delivery it logs to f as well
// (the development console's inbox). Call it before the first Send; f must
// be safe for concurrent use.
func (p *LogProvider) Observe(f func(Outgoing)) { p.observe = f }

// Send logs the delivery.
func (p *LogProvider) Send(ctx context.Context, o Outgoing) error {
	if p.observe != nil {
		p.observe(o)
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "otp message",
		slog.String("provider", "log"),
		slog.String("id", o.ID),
		slog.Int("attempt", o.Attempt),
		slog.String("project", o.Project),
		slog.String("channel", o.Channel),
		slog.String("to", o.To),
		slog.String("code", o.Code),
		slog.String("locale", o.Locale),
		slog.String("subject", o.Subject),
		slog.String("text", o.Text),
		slog.Time("expiresAt", o.ExpiresAt),
	)
	return nil
}
