package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/otpd/otpd/delivery/autofill"
)

// Delivery is a project's message delivery: templates and providers.
type Delivery struct {
	// DefaultLocale is used when a request names none or an unknown one
	// (then English).
	DefaultLocale string `json:"defaultLocale,omitempty"`
	// ProductName appears in the shipped templates.
	ProductName string `json:"productName,omitempty"`
	// TemplatesDir holds custom templates (see README), overriding or
	// adding to the shipped ones.
	TemplatesDir string `json:"templatesDir,omitempty"`
	// WebOTPDomain, when set, ends every code SMS with the WebOTP
	// origin-bound line "@<domain> #<code>" (docs/delivery.md), and
	// WebOTPIframeDomain adds " @<iframe domain>" for a code entered in a
	// cross-origin iframe. AndroidAppHash, when set, adds the Android SMS
	// Retriever app hash on a line of its own; the code SMS must then fit
	// in 140 bytes in English and the default locale (checked at startup).
	WebOTPDomain       string `json:"webOtpDomain,omitempty"`
	WebOTPIframeDomain string `json:"webOtpIframeDomain,omitempty"`
	AndroidAppHash     string `json:"androidAppHash,omitempty"`
	// Providers deliver messages. Each serves its Channels by default
	// (several providers of one channel are tried in the order listed:
	// failover); a request's providerId picks one by ID. With none, embedded mode logs
	// codes (the dev `log` provider); otherwise this is required.
	Providers []Provider `json:"providers,omitempty"`
}

// Provider is one configured provider. Secrets come from *File or *Env,
// never from the config file itself.
type Provider struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"` // smtp, twilio, webhook, log, noop
	Channels []string `json:"channels,omitempty"`

	SMTP    *SMTPProvider    `json:"smtp,omitempty"`
	Twilio  *TwilioProvider  `json:"twilio,omitempty"`
	Webhook *WebhookProvider `json:"webhook,omitempty"`
}

// SMTPProvider configures email over SMTP.
type SMTPProvider struct {
	Host         string   `json:"host"`
	Port         int      `json:"port"`
	Username     string   `json:"username,omitempty"`
	PasswordFile string   `json:"passwordFile,omitempty"`
	PasswordEnv  string   `json:"passwordEnv,omitempty"`
	TLS          string   `json:"tls,omitempty"` // starttls (default), starttls-opportunistic, implicit, none
	From         string   `json:"from"`
	ReplyTo      string   `json:"replyTo,omitempty"`
	HeloName     string   `json:"heloName,omitempty"`
	Timeout      Duration `json:"timeout,omitempty"`
}

// TwilioProvider configures SMS, voice and WhatsApp through Twilio.
type TwilioProvider struct {
	AccountSID          string `json:"accountSid"`
	AuthTokenFile       string `json:"authTokenFile,omitempty"`
	AuthTokenEnv        string `json:"authTokenEnv,omitempty"`
	From                string `json:"from,omitempty"`
	MessagingServiceSID string `json:"messagingServiceSid,omitempty"`
	BaseURL             string `json:"baseUrl,omitempty"`
}

// WebhookProvider configures a signed HTTPS webhook.
type WebhookProvider struct {
	URL        string            `json:"url"`
	SecretFile string            `json:"secretFile,omitempty"`
	SecretEnv  string            `json:"secretEnv,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	AllowHTTP  bool              `json:"allowHttp,omitempty"`
}

var providerTypes = []string{"smtp", "twilio", "webhook", "log", "noop"}

func (d *Delivery) validate(embedded bool) []error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("delivery: "+f, a...)) }
	if len(d.Providers) == 0 && !embedded {
		bad("providers are required with OTPD_REDIS_URL (use type: log explicitly to log codes)")
	}
	for _, err := range d.Autofill().Validate() {
		bad("%v", err)
	}
	ids, served := map[string]bool{}, map[string]bool{}
	for i, p := range d.Providers {
		name := p.ID
		if name == "" {
			bad("provider %d has no id", i)
		}
		if ids[name] {
			bad("provider id %q is listed twice", name)
		}
		ids[name] = true
		known := false
		for _, t := range providerTypes {
			known = known || p.Type == t
		}
		if !known {
			bad("provider %q: type %q must be one of %s", name, p.Type, strings.Join(providerTypes, ", "))
		}
		for _, ch := range p.Channels {
			// Several providers may serve a channel: they are tried in
			// the order listed (failover, docs/delivery.md).
			if !isChannel(ch) {
				bad("provider %q: %q is not a channel", name, ch)
			} else if served[name+"\x00"+ch] {
				bad("provider %q lists channel %s twice", name, ch)
			} else {
				served[name+"\x00"+ch] = true
			}
		}
		switch {
		case p.Type == "smtp" && (p.SMTP == nil || p.SMTP.Host == "" || p.SMTP.Port == 0 || p.SMTP.From == ""):
			bad("provider %q: smtp needs host, port and from", name)
		case p.Type == "twilio" && (p.Twilio == nil || p.Twilio.AccountSID == "" || (p.Twilio.AuthTokenFile == "" && p.Twilio.AuthTokenEnv == "") || (p.Twilio.From == "" && p.Twilio.MessagingServiceSID == "")):
			bad("provider %q: twilio needs accountSid, authTokenFile or authTokenEnv, and from or messagingServiceSid", name)
		case p.Type == "webhook" && (p.Webhook == nil || p.Webhook.URL == "" || (p.Webhook.SecretFile == "" && p.Webhook.SecretEnv == "")):
			bad("provider %q: webhook needs url and secretFile or secretEnv", name)
		}
		if p.Type == "smtp" && p.SMTP != nil && p.SMTP.Username != "" && p.SMTP.PasswordFile == "" && p.SMTP.PasswordEnv == "" {
			bad("provider %q: smtp username needs passwordFile or passwordEnv", name)
		}
	}
	return errs
}

// Autofill is the SMS autofill settings (WebOTP line, app hash).
func (d *Delivery) Autofill() autofill.Settings {
	return autofill.Settings{WebOTPHost: d.WebOTPDomain, WebOTPIframeHost: d.WebOTPIframeDomain, AndroidAppHash: d.AndroidAppHash}
}

// Secret reads a secret from a file (trimmed) or an environment variable.
func Secret(file, env string, read ReadFile, lookup Env) (string, error) {
	switch {
	case file != "":
		b, err := read(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	case env != "":
		v, ok := lookup(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
		return v, nil
	}
	return "", nil
}

// loadSealKeys reads base64 AES-256 keys, newest first.
func loadSealKeys(inline, path string, read ReadFile) ([][]byte, error) {
	raw, err := secretList("OTPD_SEAL_KEYS", inline, path, read)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range raw {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			return nil, errors.New("OTPD_SEAL_KEYS: every key must be 32 bytes, base64-encoded (openssl rand -base64 32)")
		}
		out = append(out, k)
	}
	return out, nil
}
