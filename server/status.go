package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/callback"
	"github.com/otpd/otpd/delivery/failover"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/gateway"
)

// statusTracking is the per-job provider record, failover and the status
// callback endpoint.
type statusTracking struct {
	rec     *status.Recorder
	sender  *failover.Sender
	signer  *status.Signer
	rdb     redis.UniversalClient
	cfg     *config.Config
	clock   clock.Clock
	log     *slog.Logger
	refused *prometheus.CounterVec
}

// TrackStatus records each job's providers and statuses in rdb, sends
// jobs through their channel's providers in order (failover, with a
// circuit per provider), and asks providers for status callbacks when
// OTPD_STATUS_CALLBACK_URL is set. outcomes hears undelivered and failed
// statuses: it is where the conversion guard (issue 23 §1) plugs in; nil
// ignores them. The worker (`otpd worker`) and the server both call it.
func (d *Delivery) TrackStatus(cfg *config.Config, rdb redis.UniversalClient, clk clock.Clock, reg prometheus.Registerer, log *slog.Logger, outcomes status.Outcomes) (*status.Recorder, error) {
	rec, err := status.NewRecorder(rdb, clk, reg, outcomes)
	if err != nil {
		return nil, err
	}
	signer, err := status.NewSigner(d.sealKeys)
	if err != nil {
		return nil, err
	}
	opened := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_delivery_circuit_opened_total",
		Help: "Times a provider's circuit opened (too many transient failures in the window): jobs skip it for the channel's next provider.",
	}, []string{"project", "provider"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_delivery_callbacks_refused_total",
		Help: "Status callbacks refused, by reason: method, rate, size, token, signature, body, unknown, unavailable.",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{opened, refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	var url func(status.Binding) string
	if base := cfg.StatusCallbackURL; base != "" {
		url = func(b status.Binding) string { return callback.URL(base, signer, b) }
	}
	breaker := failover.NewBreaker(clk, cfg.CircuitFailures, cfg.CircuitWindow)
	sender := failover.NewSender(rec, breaker, url, log, func(project, provider string) {
		opened.WithLabelValues(project, provider).Inc()
	})
	d.status = &statusTracking{rec: rec, sender: sender, signer: signer, rdb: rdb, cfg: cfg, clock: clk, log: log, refused: refused}
	return rec, nil
}

// callbackHandler is POST /v1/delivery/status (nil before TrackStatus).
func (d *Delivery) callbackHandler() http.Handler {
	st := d.status
	if st == nil {
		return nil
	}
	return callback.New(callback.Options{
		Signer: st.signer, Recorder: st.rec, Providers: d, Resend: d.resend, BaseURL: st.cfg.StatusCallbackURL,
		Clock: st.clock, Rate: st.cfg.StatusCallbackRate, Log: st.log, WriteError: gateway.WriteError,
	}, func(reason string) { st.refused.WithLabelValues(reason).Inc() })
}

var _ callback.Providers = (*Delivery)(nil)

// Callbacks implements callback.Providers.
func (d *Delivery) Callbacks(project, provider string) (delivery.CallbackVerifier, bool) {
	pd, ok := d.projects[project]
	if !ok {
		return nil, false
	}
	p, err := pd.router.For("", provider)
	if err != nil {
		return nil, false
	}
	v, ok := p.(delivery.CallbackVerifier)
	return v, ok
}

// Order implements callback.Providers.
func (d *Delivery) Order(project, channel string) []string {
	var out []string
	for _, p := range d.projects[project].chains[channel] {
		out = append(out, p.ID)
	}
	return out
}

// resend queues a job again, on its shard, for the next provider.
func (d *Delivery) resend(ctx context.Context, r status.Resend) error {
	sh, ok := d.Layout.ForJob(r.Job.ID)
	if !ok {
		return errors.New("not a job id")
	}
	return queue.Enqueue(ctx, d.status.rdb, sh, queue.Sealed{ID: r.Job.ID, Payload: r.Job.Sealed, Expiry: r.Job.Expires},
		r.Job.To, d.Layout.PerShard(d.status.cfg.QueueMaxLen))
}
