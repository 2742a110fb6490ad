// Package failover hands a delivery job to the providers of its channel in
// order: a transient failure or an open circuit moves the job to the next
// provider, a provider that accepted the job never gets it again, and an
// undelivered status (reported by a status callback) may hand it to the
// next provider once. The per-job state is in Redis (package status), so
// every worker and replica agrees on it. See docs/delivery.md.
package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/status"
)

// Provider is one provider of a channel, under its configured id.
type Provider struct {
	ID string
	delivery.Provider
}

// Sender sends jobs through a channel's providers.
type Sender struct {
	rec     *status.Recorder
	breaker *Breaker
	// callback returns the status callback URL for a binding ("" when
	// otpd asks for none).
	callback func(status.Binding) string
	log      *slog.Logger
	opened   func(project, provider string)
}

// NewSender returns a Sender. callback may be nil (no status callbacks);
// opened, when set, hears each circuit that opens (a metric).
func NewSender(rec *status.Recorder, b *Breaker, callback func(status.Binding) string, log *slog.Logger, opened func(project, provider string)) *Sender {
	return &Sender{rec: rec, breaker: b, callback: callback, log: log, opened: opened}
}

// Send delivers o (the job j, rendered) through chain, the providers in
// order. It returns nil once a provider accepted it (or every provider
// already had), a permanent error when the chosen provider refused it for
// good, and a transient error when every provider tried failed
// transiently or has an open circuit: the queue retries later, and the
// next attempt starts with a provider that has not failed this job.
func (s *Sender) Send(ctx context.Context, j status.Job, o delivery.Outgoing, chain []Provider, pinned bool) error {
	if len(chain) == 0 {
		return delivery.Permanent(errors.New("failover: no provider for the channel"))
	}
	if len(chain) == 1 && s.callback == nil {
		return s.sendSingle(ctx, j, o, chain[0])
	}
	byID := make(map[string]delivery.Provider, len(chain))
	cands := make([]status.Candidate, len(chain))
	tried := map[string]bool{}
	var last error
	for {
		for i, p := range chain {
			byID[p.ID] = p.Provider
			cands[i] = status.Candidate{ID: p.ID, Open: s.breaker.Open(j.Project + "/" + p.ID)}
		}
		id, err := s.rec.Pick(ctx, j, cands)
		switch {
		case errors.Is(err, status.ErrNoneLeft):
			return nil
		case errors.Is(err, status.ErrAllOpen):
			if last != nil {
				return last
			}
			return errors.New("failover: every provider of the channel has an open circuit")
		case errors.Is(err, status.ErrOtherProject):
			return delivery.Permanent(err)
		case err != nil:
			// The job's record is out of reach (its Redis node is failing
			// over): the code is sent without it, as before records
			// existed, rather than held until the record's slot answers.
			// The cost is that a job run twice in such a window may reach
			// its provider twice; a code that never arrives costs more.
			return s.sendUnrecorded(ctx, j, o, chain, err)
		}
		if tried[id] {
			return last // every provider left failed during this attempt
		}
		tried[id] = true
		out := o
		if s.callback != nil {
			out.StatusCallback = s.callback(status.Binding{Job: j.ID, Project: j.Project, Provider: id, Channel: j.Channel,
				Pinned: pinned, Expires: j.Expires.Add(status.Retention).Unix()})
		}
		mid, err := send(ctx, byID[id], out)
		key := j.Project + "/" + id
		// Recorded even when the send used up the attempt's time.
		rctx := context.WithoutCancel(ctx)
		switch {
		case err == nil:
			s.breaker.Success(key)
			if rerr := s.rec.Accepted(rctx, j, id, mid); rerr != nil {
				s.log.Warn("could not record a delivery's acceptance", "job", j.ID, "provider", id, "error", rerr)
			}
			return nil
		case delivery.IsPermanent(err):
			if rerr := s.rec.PermanentFailure(rctx, j, id, ""); rerr != nil {
				s.log.Warn("could not record a delivery's failure", "job", j.ID, "provider", id, "error", rerr)
			}
			return err
		}
		last = fmt.Errorf("provider %s: %w", id, err)
		if s.breaker.Failure(key) {
			s.log.Warn("provider circuit opened: jobs go to the channel's next provider", "project", j.Project, "provider", id)
			if s.opened != nil {
				s.opened(j.Project, id)
			}
		}
		if rerr := s.rec.TransientFailure(rctx, j, id); rerr != nil {
			return last
		}
		if ctx.Err() != nil || len(chain) == 1 {
			return last
		}
		s.log.Info("delivery failed; trying the channel's next provider", "job", j.ID, "provider", id, "error", err.Error())
	}
}

// sendSingle sends o to p, the only provider of the job's channel, when
// no status callback is asked for: nothing can fail the job over or hear
// an undelivered status, so an accepted job has no record in Redis (its
// status still reaches the metric and the console), and a refused one
// gets a small one for otpd deadletters (status.Single). The trade-off:
// a job run again after its provider accepted it (a reclaim, when the
// worker stopped before its acknowledgement reached Redis: AckDelay) is
// sent again. See docs/delivery.md.
func (s *Sender) sendSingle(ctx context.Context, j status.Job, o delivery.Outgoing, p Provider) error {
	key := j.Project + "/" + p.ID
	if s.breaker.Open(key) {
		return errors.New("failover: every provider of the channel has an open circuit")
	}
	_, err := send(ctx, p.Provider, o)
	switch {
	case err == nil:
		s.breaker.Success(key)
		s.rec.Unrecorded(j, p.ID, status.Queued)
		return nil
	case delivery.IsPermanent(err):
		if rerr := s.rec.Single(context.WithoutCancel(ctx), j, p.ID, status.Failed, "", ""); rerr != nil {
			s.log.Warn("could not record a delivery's failure", "job", j.ID, "provider", p.ID, "error", rerr)
		}
		return err
	}
	if s.breaker.Failure(key) {
		s.log.Warn("provider circuit opened", "project", j.Project, "provider", p.ID)
		if s.opened != nil {
			s.opened(j.Project, p.ID)
		}
	}
	return fmt.Errorf("provider %s: %w", p.ID, err)
}

// sendUnrecorded sends o to the first provider of chain whose circuit is
// closed (the first one when all are open), without the job's record:
// pickErr said the record cannot be read or written.
func (s *Sender) sendUnrecorded(ctx context.Context, j status.Job, o delivery.Outgoing, chain []Provider, pickErr error) error {
	p := chain[0]
	for _, c := range chain {
		if !s.breaker.Open(j.Project + "/" + c.ID) {
			p = c
			break
		}
	}
	s.log.Warn("delivery record unavailable; sending without it", "job", j.ID, "provider", p.ID, "error", pickErr)
	_, err := send(ctx, p.Provider, o)
	key := j.Project + "/" + p.ID
	switch {
	case err == nil:
		s.breaker.Success(key)
		return nil
	case delivery.IsPermanent(err):
		return err
	}
	if s.breaker.Failure(key) && s.opened != nil {
		s.opened(j.Project, p.ID)
	}
	return fmt.Errorf("provider %s: %w", p.ID, err)
}

// send hands o to p, reading the message id when p reports one; for any
// other provider the message id is the job id (what otpd's webhook
// receivers name in their callbacks).
func send(ctx context.Context, p delivery.Provider, o delivery.Outgoing) (string, error) {
	if r, ok := p.(delivery.Receipter); ok {
		return r.SendReceipt(ctx, o)
	}
	return o.ID, p.Send(ctx, o)
}
