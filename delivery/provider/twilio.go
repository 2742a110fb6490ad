package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otpd/otpd/delivery"
)

const (
	twilioDefaultBaseURL = "https://api.twilio.com"
	twilioAPIVersion     = "2010-04-01"
	whatsappPrefix       = "whatsapp:"
)

// TwilioConfig configures the Twilio provider.
type TwilioConfig struct {
	// AccountSID and AuthToken are required; requests use HTTP basic auth
	// AccountSID:AuthToken.
	AccountSID, AuthToken string
	// From is the E.164 sender number for SMS and voice, and for WhatsApp
	// (sent as "whatsapp:+1…"). It is required for voice, and for SMS and
	// WhatsApp unless MessagingServiceSID is set.
	From string
	// MessagingServiceSID, when set, is sent as MessagingServiceSid instead
	// of From for SMS and WhatsApp.
	MessagingServiceSID string
	// BaseURL defaults to "https://api.twilio.com".
	BaseURL string
	// VoiceLanguage, when set, maps a template locale to the <Say
	// language="…"> value, read by Twilio's default voice. When nil,
	// DefaultSayVoice picks the language and the voice of every shipped
	// locale.
	VoiceLanguage func(locale string) string
	// Now is the clock used to read an HTTP-date Retry-After; it defaults
	// to time.Now.
	Now func() time.Time
}

// Twilio sends SMS, voice calls and WhatsApp messages through Twilio's REST
// API. Every request carries Outgoing.ID as I-Twilio-Idempotency-Token, so a
// retried job is not sent twice when Twilio already accepted it.
type Twilio struct {
	cfg      TwilioConfig
	hc       *http.Client
	messages string // URL of Messages.json
	calls    string // URL of Calls.json
}

var _ delivery.Provider = (*Twilio)(nil)

// NewTwilio checks c and returns the provider. A nil hc means an
// *http.Client with a 15s timeout.
func NewTwilio(c TwilioConfig, hc *http.Client) (*Twilio, error) {
	if c.AccountSID == "" {
		return nil, errors.New("twilio: AccountSID is required")
	}
	if c.AuthToken == "" {
		return nil, errors.New("twilio: AuthToken is required")
	}
	if c.From == "" && c.MessagingServiceSID == "" {
		return nil, errors.New("twilio: From or MessagingServiceSID is required")
	}
	if c.BaseURL == "" {
		c.BaseURL = twilioDefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("twilio: BaseURL %q is not an absolute http(s) URL", c.BaseURL)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	base := strings.TrimRight(c.BaseURL, "/") + "/" + twilioAPIVersion + "/Accounts/" + url.PathEscape(c.AccountSID)
	return &Twilio{
		cfg:      c,
		hc:       defaultClient(hc),
		messages: base + "/Messages.json",
		calls:    base + "/Calls.json",
	}, nil
}

// sayVoice is the <Say> language and voice for a template locale.
func (t *Twilio) sayVoice(locale string) SayVoice {
	if t.cfg.VoiceLanguage != nil {
		return SayVoice{Language: t.cfg.VoiceLanguage(locale)}
	}
	return DefaultSayVoice(locale)
}

// Send dispatches on o.Channel: sms, whatsapp or voice. Any other channel is
// a permanent error.
func (t *Twilio) Send(ctx context.Context, o delivery.Outgoing) error {
	_, err := t.SendReceipt(ctx, o)
	return err
}

// SendReceipt is Send that returns the SID Twilio gave the message or
// call (SM…, MM… or CA…), which its status callbacks name.
func (t *Twilio) SendReceipt(ctx context.Context, o delivery.Outgoing) (string, error) {
	form := url.Values{}
	endpoint, op := t.messages, "Messages"
	switch o.Channel {
	case channelSMS:
		form.Set("To", o.To)
		t.setSender(form, "")
		form.Set("Body", o.Text)
	case channelWhatsApp:
		form.Set("To", withPrefix(whatsappPrefix, o.To))
		t.setSender(form, whatsappPrefix)
		form.Set("Body", o.Text)
	case channelVoice:
		if t.cfg.From == "" {
			return "", delivery.Permanent(errors.New("twilio: voice needs From (a MessagingServiceSID cannot place calls)"))
		}
		twiml, err := voiceTwiML(t.sayVoice(o.Locale), o.Text)
		if err != nil {
			return "", delivery.Permanent(err)
		}
		form.Set("To", o.To)
		form.Set("From", t.cfg.From)
		form.Set("Twiml", twiml)
		endpoint, op = t.calls, "Calls"
	default:
		return "", delivery.Permanent(fmt.Errorf("twilio: unsupported channel %q", o.Channel))
	}
	if o.StatusCallback != "" {
		form.Set("StatusCallback", o.StatusCallback)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", delivery.Permanent(fmt.Errorf("twilio: building request: %w", err))
	}
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if o.ID != "" {
		req.Header.Set("I-Twilio-Idempotency-Token", o.ID)
	}
	body, err := postHTTPBody(t.hc, req, "twilio", "POST "+op, t.cfg.Now, twilioErrorCode)
	if err != nil {
		return "", err
	}
	var r struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(body, &r)
	if !validSID(r.SID) {
		r.SID = ""
	}
	return r.SID, nil
}

// setSender sets MessagingServiceSid when configured, else From (prefixed).
func (t *Twilio) setSender(form url.Values, prefix string) {
	if t.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
		return
	}
	form.Set("From", withPrefix(prefix, t.cfg.From))
}

func withPrefix(prefix, s string) string {
	if prefix == "" || strings.HasPrefix(s, prefix) {
		return s
	}
	return prefix + s
}

// voiceTwiML is the TwiML that reads text once in v's language and voice.
// The voice template already repeats the code, so nothing is added here.
func voiceTwiML(v SayVoice, text string) (string, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Say language="`)
	if err := xml.EscapeText(&b, []byte(v.Language)); err != nil {
		return "", fmt.Errorf("twilio: escaping voice language: %w", err)
	}
	if v.Voice != "" {
		b.WriteString(`" voice="`)
		if err := xml.EscapeText(&b, []byte(v.Voice)); err != nil {
			return "", fmt.Errorf("twilio: escaping voice: %w", err)
		}
	}
	b.WriteString(`">`)
	if err := xml.EscapeText(&b, []byte(text)); err != nil {
		return "", fmt.Errorf("twilio: escaping voice text: %w", err)
	}
	b.WriteString(`</Say></Response>`)
	return b.String(), nil
}

// twilioErrorCode reads Twilio's numeric error code from an error body
// ({"code":21211,"message":…}). The message is never used: it may echo the
// phone number.
func twilioErrorCode(body []byte) string {
	var e struct {
		Code json.Number `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return safeCode(e.Code.String())
}
