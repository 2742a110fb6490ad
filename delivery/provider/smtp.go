package provider

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/otpd/otpd/delivery"
)

// SMTP TLS modes (SMTPConfig.TLS).
const (
	SMTPTLSStartTLS              = "starttls"
	SMTPTLSStartTLSOpportunistic = "starttls-opportunistic"
	SMTPTLSImplicit              = "implicit"
	SMTPTLSNone                  = "none"
)

const (
	defaultSMTPTimeout = 10 * time.Second
	// HeaderSMTPIdempotencyKey carries Outgoing.ID in every email.
	HeaderSMTPIdempotencyKey = "X-Otpd-Idempotency-Key"
	messageIDDomain          = "otpd"
)

// SMTPConfig configures the SMTP provider.
type SMTPConfig struct {
	// Host and Port of the submission server are required.
	Host string
	Port int
	// Username and Password, when set, turn on SMTP AUTH. The mechanism is
	// chosen from what the server offers (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN,
	// LOGIN, then go-mail's auto-discovery). PLAIN and LOGIN are only used
	// over TLS or to a localhost server: credentials never cross the network
	// in clear.
	Username, Password string
	// TLS is one of:
	//   "starttls" (default): STARTTLS is required; a server without it fails.
	//   "starttls-opportunistic": STARTTLS if offered, else clear text.
	//   "implicit": SMTPS, TLS from the first byte (usually port 465).
	//   "none": clear text. Insecure: for tests and local relays only.
	TLS string
	// InsecureSkipVerify skips certificate verification. Tests only.
	InsecureSkipVerify bool
	// From is required, e.g. "Acme <no-reply@acme.com>"; it is also the
	// envelope sender.
	From string
	// ReplyTo is optional.
	ReplyTo string
	// Timeout bounds connecting and each SMTP command; default 10s. The
	// context deadline, when sooner, wins.
	Timeout time.Duration
	// HeloName is the EHLO name; default the local host name.
	HeloName string
	// Now is the clock for the Date header; default time.Now.
	Now func() time.Time
}

// SMTP sends email through an SMTP submission server, one connection per
// message. The Message-ID is derived from Outgoing.ID, so retries of a job
// carry the same Message-ID, and X-Otpd-Idempotency-Key repeats the ID.
type SMTP struct {
	cfg  SMTPConfig
	tls  *tls.Config
	addr string
}

var _ delivery.Provider = (*SMTP)(nil)

// NewSMTP checks c and returns the provider.
func NewSMTP(c SMTPConfig) (*SMTP, error) {
	if c.Host == "" {
		return nil, errors.New("smtp: Host is required")
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, fmt.Errorf("smtp: Port %d is out of range 1-65535", c.Port)
	}
	if c.From == "" {
		return nil, errors.New("smtp: From is required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("smtp: From %q is not an email address: %w", c.From, err)
	}
	if c.ReplyTo != "" {
		if _, err := mail.ParseAddress(c.ReplyTo); err != nil {
			return nil, fmt.Errorf("smtp: ReplyTo %q is not an email address: %w", c.ReplyTo, err)
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return nil, errors.New("smtp: Username and Password must be set together")
	}
	if c.TLS == "" {
		c.TLS = SMTPTLSStartTLS
	}
	switch c.TLS {
	case SMTPTLSStartTLS, SMTPTLSStartTLSOpportunistic, SMTPTLSImplicit, SMTPTLSNone:
	default:
		return nil, fmt.Errorf("smtp: TLS %q is not one of starttls, starttls-opportunistic, implicit, none", c.TLS)
	}
	if c.Timeout < 0 {
		return nil, errors.New("smtp: Timeout must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = defaultSMTPTimeout
	}
	if strings.ContainsAny(c.HeloName, " \r\n") {
		return nil, errors.New("smtp: HeloName must be a host name")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &SMTP{
		cfg: c,
		tls: &tls.Config{
			ServerName:         c.Host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented as tests only
		},
		addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
	}, nil
}

// Send builds the email for o and submits it.
func (s *SMTP) Send(ctx context.Context, o delivery.Outgoing) error {
	if err := ctx.Err(); err != nil {
		return &cleanError{msg: "smtp: " + err.Error(), cause: err}
	}
	msg, err := s.message(o)
	if err != nil {
		return err
	}

	timeout := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return &cleanError{msg: "smtp: " + context.DeadlineExceeded.Error(), cause: context.DeadlineExceeded}
	}

	// The dialer ties the connection to ctx: cancelling ctx closes it, which
	// interrupts whatever command is in flight. A *tls.Conn is returned
	// unwrapped for implicit TLS so that go-mail sees the session encrypted.
	// The connection is also closed on return: go-mail leaves it open when
	// EHLO or STARTTLS fails.
	var conn net.Conn
	var stop func() bool
	defer func() {
		if conn != nil {
			stop()
			_ = conn.Close()
		}
	}()
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		d := &net.Dialer{}
		var c net.Conn
		var err error
		if s.cfg.TLS == SMTPTLSImplicit {
			c, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(dctx, network, s.addr)
		} else {
			c, err = d.DialContext(dctx, network, s.addr)
		}
		if err != nil {
			return nil, err
		}
		conn = c
		stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		return c, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSPolicy(s.tlsPolicy()),
	}
	if s.cfg.HeloName != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HeloName))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
			),
		)
	}
	// A client per message: go-mail clients keep per-session state.
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return delivery.Permanent(&cleanError{msg: "smtp: configuring client: " + err.Error(), cause: err})
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(ctx, err)
	}
	return nil
}

func (s *SMTP) tlsPolicy() gomail.TLSPolicy {
	switch s.cfg.TLS {
	case SMTPTLSStartTLS:
		return gomail.TLSMandatory
	case SMTPTLSStartTLSOpportunistic:
		return gomail.TLSOpportunistic
	default: // implicit: the dialer does TLS; none: clear text.
		return gomail.NoTLS
	}
}

// message builds the email. A bad recipient address is a permanent error.
func (s *SMTP) message(o delivery.Outgoing) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.cfg.From); err != nil {
		return nil, delivery.Permanent(&cleanError{msg: "smtp: invalid From address", cause: err})
	}
	if err := m.To(o.To); err != nil {
		return nil, delivery.Permanent(&cleanError{msg: "smtp: invalid recipient address", cause: err})
	}
	if s.cfg.ReplyTo != "" {
		if err := m.ReplyTo(s.cfg.ReplyTo); err != nil {
			return nil, delivery.Permanent(&cleanError{msg: "smtp: invalid ReplyTo address", cause: err})
		}
	}
	m.Subject(o.Subject)
	m.SetDateWithValue(s.cfg.Now())
	if id := messageIDPart(o.ID); id != "" {
		m.SetMessageIDWithValue(id + "@" + messageIDDomain)
	}
	if key := headerValue(o.ID); key != "" {
		m.SetGenHeader(gomail.Header(HeaderSMTPIdempotencyKey), key)
	}
	// Ask auto-responders (vacation replies) to stay quiet (RFC 3834).
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	m.SetGenHeader(gomail.HeaderUserAgent, userAgent)

	switch {
	case o.HTML == "":
		m.SetBodyString(gomail.TypeTextPlain, o.Text)
	case o.Text == "":
		m.SetBodyString(gomail.TypeTextHTML, o.HTML)
	default:
		m.SetBodyString(gomail.TypeTextPlain, o.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, o.HTML)
	}
	return m, nil
}

// messageIDPart makes id usable as the left part of a Message-ID: characters
// outside [A-Za-z0-9_-] become '-'. Typical ids (UUIDs, base64url) pass
// unchanged.
func messageIDPart(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, id)
}

// headerValue drops control characters, so that an id cannot inject headers.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}
