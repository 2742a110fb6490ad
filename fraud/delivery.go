package fraud

import (
	"context"
	"strings"
	"time"
)

// DeliveryOutcomes hands undelivered and failed delivery statuses
// (delivery/status.Outcomes) to the guard: each counts as one more send to
// the destination's prefix and country that nobody verified, so a range
// whose messages do not even arrive is judged sooner. Non-phone channels
// and unknown projects are ignored by the guard itself.
type DeliveryOutcomes struct {
	Guard Outcomes
	// Timeout bounds the guard's Redis write (default 1 s): the status
	// recorder calls in line with a provider's callback.
	Timeout time.Duration
}

// DeliveryOutcome implements delivery/status.Outcomes.
func (d DeliveryOutcomes) DeliveryOutcome(project, channel, to, _ string) {
	if d.Guard == nil {
		return
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d.Guard.Failed(ctx, project, channel, strings.TrimPrefix(to, "whatsapp:"))
}
