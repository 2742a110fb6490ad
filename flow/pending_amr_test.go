package flow

import (
	"slices"
	"testing"
)

// TestSingleFactorAMRShared: a single-factor session's amr is its channel
// alone, for every channel, and a caller appending to it cannot change
// what the next verify gets.
func TestSingleFactorAMRShared(t *testing.T) {
	for _, ch := range []Channel{Email, SMS, Voice, WhatsApp, Channel("other")} {
		p := &pending{}
		got := p.amr(ch)
		if !slices.Equal(got, []string{string(ch)}) {
			t.Fatalf("%s: amr %v", ch, got)
		}
		_ = append(got, "mutated")
		if again := p.amr(ch); !slices.Equal(again, []string{string(ch)}) {
			t.Fatalf("%s: amr after an append to an earlier one: %v", ch, again)
		}
	}
	mfa := &pending{MFA: true, AMR: []string{"pwd"}}
	if got := mfa.amr(Email); !slices.Equal(got, []string{"pwd", "email"}) {
		t.Fatalf("mfa amr %v", got)
	}
}

// TestPendingRoundTrip: an empty pending record encodes to nothing and
// decodes from nothing; a non-empty one survives the round trip.
func TestPendingRoundTrip(t *testing.T) {
	if b, err := (&pending{}).encode(); err != nil || b != nil {
		t.Fatalf("empty: %q %v", b, err)
	}
	if p, err := decodePending(nil); err != nil || p.MFA || p.DCT != "" {
		t.Fatalf("decode nothing: %+v %v", p, err)
	}
	in := pending{MFA: true, AMR: []string{"email"}, DCT: "t1", StepUp: true}
	b, err := in.encode()
	if err != nil || len(b) == 0 {
		t.Fatalf("encode: %q %v", b, err)
	}
	out, err := decodePending(b)
	if err != nil || !out.MFA || !out.StepUp || out.DCT != "t1" || !slices.Equal(out.AMR, in.AMR) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}
