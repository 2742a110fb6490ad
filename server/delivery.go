package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/failover"
	"github.com/otpd/otpd/delivery/provider"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/render"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/flow"
)

// projectDelivery is one project's templates and providers.
type projectDelivery struct {
	render *render.Renderer
	router *provider.Router
	// chains are each channel's providers in the order configured
	// (failover).
	chains map[string][]failover.Provider
	ttl    time.Duration
}

// chain is the providers a job goes through: the one it names, or its
// channel's in order.
func (pd projectDelivery) chain(channel, providerID string) ([]failover.Provider, error) {
	if providerID != "" {
		p, err := pd.router.For(channel, providerID)
		if err != nil {
			return nil, err
		}
		return []failover.Provider{{ID: providerID, Provider: p}}, nil
	}
	if c := pd.chains[channel]; len(c) > 0 {
		return c, nil
	}
	return nil, fmt.Errorf("provider: no provider for channel %q", channel)
}

// Delivery is everything the queue workers need.
type Delivery struct {
	Sealer   *seal.Sealer
	Handler  queue.Handler
	Producer *queue.Producer
	// Layout is the queue's shards (OTPD_QUEUE_SHARDS).
	Layout *queue.Layout
	// Log is the development log provider (whether or not a project uses
	// it); the development console observes it.
	Log      *delivery.LogProvider
	projects map[string]projectDelivery
	// status is set by TrackStatus: the per-job provider record, status
	// callbacks and failover.
	status   *statusTracking
	sealKeys [][]byte
}

var _ flow.DeliveryOptions = (*Delivery)(nil)

// HasTemplate implements flow.DeliveryOptions.
func (d *Delivery) HasTemplate(project, templateID string) bool {
	pd, ok := d.projects[project]
	return ok && pd.render.Locales(templateID) != nil
}

// HasProvider implements flow.DeliveryOptions.
func (d *Delivery) HasProvider(project, channel, providerID string) bool {
	pd, ok := d.projects[project]
	if !ok {
		return false
	}
	_, err := pd.router.For(channel, providerID)
	return err == nil
}

// BuildDelivery makes the sealer, each project's renderer and providers,
// and the handler the workers run. codeLog receives the dev log provider's
// lines.
func BuildDelivery(cfg *config.Config, read config.ReadFile, env config.Env, codeLog io.Writer, clk func() time.Time, log *slog.Logger) (*Delivery, error) {
	keys := cfg.SealKeys
	if len(keys) == 0 {
		// Embedded mode only (config refuses this otherwise).
		k := make([]byte, seal.KeySize)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		keys = [][]byte{k}
	}
	s, err := seal.New(keys)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	logProvider := delivery.NewLogProvider(codeLog)
	byProject := map[string]projectDelivery{}
	for _, p := range cfg.Projects {
		pd, errs := buildProjectDelivery(p, read, env, hc, clk, logProvider)
		if len(errs) > 0 {
			return nil, fmt.Errorf("project %s: %w", p.ID, errors.Join(errs...))
		}
		for _, pc := range p.Delivery.Providers {
			if pc.Type == "log" {
				log.Warn("DELIVERY PROVIDER IS 'log': one-time codes are written to the log in clear text; never use it in production", "project", p.ID, "provider", pc.ID)
			}
		}
		if len(p.Delivery.Providers) == 0 {
			log.Warn("DELIVERY PROVIDER IS 'log': one-time codes are written to the log in clear text. "+
				"This is for local development only; configure providers for production.", "project", p.ID)
		}
		byProject[p.ID] = pd
	}
	layout, err := queue.NewLayout(cmp.Or(cfg.QueueShards, queue.DefaultShards))
	if err != nil {
		return nil, err
	}
	d := &Delivery{Sealer: s, Producer: queue.NewProducer(s, cfg.QueueMaxLen, rand.Reader, layout),
		Layout: layout, projects: byProject, Log: logProvider, sealKeys: keys}
	d.Handler = d.handle
	return d, nil
}

// handle renders a job and hands it to its provider: through the
// channel's providers in order once TrackStatus ran, else to the first.
func (d *Delivery) handle(ctx context.Context, j queue.Job) error {
	pd, ok := d.projects[j.Project]
	if !ok {
		return delivery.Permanent(fmt.Errorf("unknown project %q", j.Project))
	}
	rendered, err := pd.render.Render(j.Message, pd.ttl)
	if err != nil {
		return delivery.Permanent(err)
	}
	chain, err := pd.chain(j.Channel, j.ProviderID)
	if err != nil {
		return delivery.Permanent(err)
	}
	o := delivery.Outgoing{ID: j.ID, Attempt: j.Attempt, Project: j.Project, Channel: j.Channel,
		To: j.To, Code: j.Code, ExpiresAt: j.ExpiresAt, Rendered: rendered}
	if d.status == nil {
		return chain[0].Send(ctx, o)
	}
	return d.status.sender.Send(ctx, status.Job{ID: j.ID, Project: j.Project, Channel: j.Channel, To: j.To,
		Sealed: j.Sealed, Expires: j.ExpiresAt}, o, chain, j.ProviderID != "")
}

// buildProjectDelivery parses a project's templates and builds its
// providers (reading their secrets), returning every problem.
func buildProjectDelivery(p config.Project, read config.ReadFile, env config.Env, hc *http.Client, clk func() time.Time, logProvider delivery.Provider) (projectDelivery, []error) {
	var errs []error
	d := p.Delivery
	r, err := render.New(render.Options{Dir: d.TemplatesDir, DefaultLocale: d.DefaultLocale, ProductName: d.ProductName, Autofill: d.Autofill()})
	if err != nil {
		errs = append(errs, fmt.Errorf("templates: %w", err))
	} else if err := r.CheckSMSFit([]string{d.DefaultLocale, "en"}, p.CodeLength, p.CodeTTL.D()); err != nil {
		errs = append(errs, fmt.Errorf("delivery: %w", err))
	}
	byChannel, byID := map[string]delivery.Provider{}, map[string]delivery.Provider{}
	chains := map[string][]failover.Provider{}
	for _, pc := range d.Providers {
		prov, err := newProvider(pc, read, env, hc, clk, logProvider)
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", pc.ID, err))
			continue
		}
		byID[pc.ID] = prov
		for _, ch := range pc.Channels {
			if byChannel[ch] == nil {
				byChannel[ch] = prov
			}
			chains[ch] = append(chains[ch], failover.Provider{ID: pc.ID, Provider: prov})
		}
	}
	if len(d.Providers) == 0 {
		for _, ch := range []string{"email", "sms", "voice", "whatsapp"} {
			byChannel[ch] = logProvider
			chains[ch] = []failover.Provider{{ID: "log", Provider: logProvider}}
		}
	}
	return projectDelivery{render: r, router: provider.NewRouter(byChannel, byID), chains: chains, ttl: p.CodeTTL.D()}, errs
}

// CheckDelivery is the delivery part of the one validation startup and
// `otpd config check` run (config.Check): a project's templates parse
// and test-render and its providers build, their secrets readable. It
// builds exactly what BuildDelivery builds, and sends nothing.
func CheckDelivery(read config.ReadFile, env config.Env) config.ProjectCheck {
	hc := &http.Client{Timeout: 15 * time.Second}
	logProvider := delivery.NewLogProvider(io.Discard)
	return func(p *config.Project) []error {
		_, errs := buildProjectDelivery(*p, read, env, hc, time.Now, logProvider)
		return errs
	}
}

func newProvider(pc config.Provider, read config.ReadFile, env config.Env, hc *http.Client, clk func() time.Time, logp delivery.Provider) (delivery.Provider, error) {
	if read == nil {
		read = os.ReadFile
	}
	if env == nil {
		env = os.LookupEnv
	}
	switch pc.Type {
	case "log":
		return logp, nil
	case "noop":
		return provider.Noop{}, nil
	case "smtp":
		c := pc.SMTP
		pw, err := config.Secret(c.PasswordFile, c.PasswordEnv, read, env)
		if err != nil {
			return nil, err
		}
		return provider.NewSMTP(provider.SMTPConfig{Host: c.Host, Port: c.Port, Username: c.Username, Password: pw,
			TLS: c.TLS, From: c.From, ReplyTo: c.ReplyTo, Timeout: c.Timeout.D(), HeloName: c.HeloName, Now: clk})
	case "twilio":
		c := pc.Twilio
		tok, err := config.Secret(c.AuthTokenFile, c.AuthTokenEnv, read, env)
		if err != nil {
			return nil, err
		}
		return provider.NewTwilio(provider.TwilioConfig{AccountSID: c.AccountSID, AuthToken: tok, From: c.From,
			MessagingServiceSID: c.MessagingServiceSID, BaseURL: c.BaseURL, Now: clk}, hc)
	case "webhook":
		c := pc.Webhook
		sec, err := config.Secret(c.SecretFile, c.SecretEnv, read, env)
		if err != nil {
			return nil, err
		}
		return provider.NewWebhook(provider.WebhookConfig{URL: c.URL, AllowHTTP: c.AllowHTTP, Secret: []byte(sec), Headers: c.Headers}, hc, clk)
	}
	return nil, fmt.Errorf("unknown provider type %q", pc.Type)
}
