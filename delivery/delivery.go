// Package delivery gets a code to a person: message rendering, providers and
// (later) the durable outbox. Today it has the message type, the Sender
// interface the flow engine uses, and the development `log` provider.
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
}

// Sender hands a message to a provider. Implementations must not block the
// caller for long: the start RPC waits on Send.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// LogSender is the development provider: it writes each message, code
// included, as one JSON line. It exists so that `make run` works with no
// provider account; never use it in production.
type LogSender struct {
	log *slog.Logger
}

var _ Sender = (*LogSender)(nil)

// NewLogSender writes messages as JSON lines to w.
func NewLogSender(w io.Writer) *LogSender {
	return &LogSender{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// Warn logs the loud startup warning that codes are being logged.
func (s *LogSender) Warn(l *slog.Logger) {
	l.Warn("DELIVERY PROVIDER IS 'log': one-time codes are written to the log in clear text. " +
		"This is for local development only; configure a real provider for production.")
}

// LogProvider is the development provider behind the queue: it writes
// each delivery, code included, as one JSON line. Never use it in
// production.
type LogProvider struct {
	log *slog.Logger
}

var _ Provider = (*LogProvider)(nil)

// NewLogProvider writes deliveries as JSON lines to w.
func NewLogProvider(w io.Writer) *LogProvider {
	return &LogProvider{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// Send logs the delivery.
func (p *LogProvider) Send(ctx context.Context, o Outgoing) error {
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

// Send logs the message.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	s.log.LogAttrs(ctx, slog.LevelInfo, "otp message",
		slog.String("provider", "log"),
		slog.String("project", m.Project),
		slog.String("channel", m.Channel),
		slog.String("to", m.To),
		slog.String("code", m.Code),
		slog.String("purpose", m.Purpose),
		slog.Time("expiresAt", m.ExpiresAt),
	)
	return nil
}
