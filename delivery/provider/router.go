package provider

import (
	"context"
	"fmt"
	"maps"

	"github.com/otpd/otpd/delivery"
)

// Func adapts a function to delivery.Provider.
type Func func(context.Context, delivery.Outgoing) error

var _ delivery.Provider = Func(nil)

// Send calls f.
func (f Func) Send(ctx context.Context, o delivery.Outgoing) error { return f(ctx, o) }

// Noop accepts every message and sends nothing. It is for benchmarks and
// load tests of the rest of the pipeline.
type Noop struct{}

var _ delivery.Provider = Noop{}

// Send returns nil.
func (Noop) Send(context.Context, delivery.Outgoing) error { return nil }

// Router picks the provider for a message: a configured provider id when the
// project or template names one, else the default provider of the channel.
type Router struct {
	byChannel map[string]delivery.Provider
	byID      map[string]delivery.Provider
}

var _ delivery.Provider = (*Router)(nil)

// NewRouter returns a router over copies of the two maps (either may be nil):
// byChannel maps a channel (email, sms, voice, whatsapp) to its default
// provider, byID maps a provider id to its provider.
func NewRouter(byChannel, byID map[string]delivery.Provider) *Router {
	return &Router{byChannel: maps.Clone(byChannel), byID: maps.Clone(byID)}
}

// For returns the provider for a channel and an optional provider id. A
// non-empty providerID must name a configured provider (whatever the
// channel); an empty one selects the channel's default.
func (r *Router) For(channel, providerID string) (delivery.Provider, error) {
	if providerID != "" {
		p, ok := r.byID[providerID]
		if !ok || p == nil {
			return nil, fmt.Errorf("provider: unknown provider %q", providerID)
		}
		return p, nil
	}
	p, ok := r.byChannel[channel]
	if !ok || p == nil {
		return nil, fmt.Errorf("provider: no provider for channel %q", channel)
	}
	return p, nil
}

// Send sends o with the default provider of o.Channel. A channel with no
// provider is a permanent error.
func (r *Router) Send(ctx context.Context, o delivery.Outgoing) error {
	p, err := r.For(o.Channel, "")
	if err != nil {
		return delivery.Permanent(err)
	}
	return p.Send(ctx, o)
}
