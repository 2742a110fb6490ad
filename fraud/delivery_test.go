package fraud_test

import (
	"context"
	"testing"

	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/fraud"
)

type failedCall struct{ project, channel, e164 string }

type fakeOutcomes struct{ failed []failedCall }

func (f *fakeOutcomes) Verified(context.Context, string, string, string) {}
func (f *fakeOutcomes) Failed(ctx context.Context, project, channel, e164 string) {
	if _, ok := ctx.Deadline(); !ok {
		panic("Failed called without a deadline")
	}
	f.failed = append(f.failed, failedCall{project, channel, e164})
}

// TestDeliveryOutcomesCountAsUnverifiedSends: an undelivered or failed
// status reaches the guard as a failed send to the same number (a
// WhatsApp address without its scheme), under a deadline, so a range
// whose messages never arrive is judged sooner.
func TestDeliveryOutcomesCountAsUnverifiedSends(t *testing.T) {
	t.Parallel()
	f := &fakeOutcomes{}
	var o status.Outcomes = fraud.DeliveryOutcomes{Guard: f}
	o.DeliveryOutcome("P", "sms", "+33612345678", status.Undelivered)
	o.DeliveryOutcome("P", "whatsapp", "whatsapp:+33612345679", status.Failed)
	want := []failedCall{{"P", "sms", "+33612345678"}, {"P", "whatsapp", "+33612345679"}}
	if len(f.failed) != len(want) {
		t.Fatalf("guard heard %+v, want %+v", f.failed, want)
	}
	for i := range want {
		if f.failed[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, f.failed[i], want[i])
		}
	}
	fraud.DeliveryOutcomes{}.DeliveryOutcome("P", "sms", "+33612345678", status.Failed) // no guard: nothing, no panic
}
