// Package status records what happened to each delivered message after a
// provider accepted it (queued, sent, delivered, undelivered, failed, with
// the provider's error code), from Twilio status callbacks and otpd's own
// signed webhook callbacks, and keeps the per-job provider state that
// failover needs (which providers were given the code, which accepted it).
// See docs/delivery.md.
package status

import (
	"github.com/otpd/otpd/delivery"
)

// Statuses (delivery.Status*), short names for this package.
const (
	Queued      = delivery.StatusQueued
	Sent        = delivery.StatusSent
	Delivered   = delivery.StatusDelivered
	Undelivered = delivery.StatusUndelivered
	Failed      = delivery.StatusFailed
)

// Rank orders statuses: a status never replaces one of a higher rank (a
// late "sent" does not undo "delivered"). 0 is not a status.
func Rank(s string) int {
	switch s {
	case Queued:
		return 1
	case Sent:
		return 2
	case Delivered, Undelivered, Failed:
		return 3
	}
	return 0
}

// SafeCode keeps a provider error code that is safe to store and show:
// up to 16 ASCII letters and digits; anything else is dropped.
func SafeCode(s string) string {
	if len(s) > 16 {
		return ""
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return ""
		}
	}
	return s
}

// Outcomes hears about undelivered and failed messages: the conversion
// guard (issue 23 §1) counts them against the destination's prefix.
// DeliveryOutcome is called once per status change (a repeated callback
// does not call it again); it must be quick and safe for concurrent use.
type Outcomes interface {
	DeliveryOutcome(project, channel, to, status string)
}

// NoOutcomes ignores every outcome: the default until the conversion guard
// plugs in (server.Options.Outcomes).
type NoOutcomes struct{}

// DeliveryOutcome does nothing.
func (NoOutcomes) DeliveryOutcome(string, string, string, string) {}
