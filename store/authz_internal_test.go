package store

import (
	"testing"

	"github.com/otpd/otpd/store/keyslot"
)

// TestAuthzKeysOneSlot: every key of a project's model is on one slot
// (the model scripts run on Redis Cluster), whatever the project id holds.
func TestAuthzKeysOneSlot(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"P1", "we{ird}", "}{", "100%{"} {
		keys := authzKeys(p)
		for _, k := range keys[1:] {
			if keyslot.Slot(k) != keyslot.Slot(keys[0]) {
				t.Fatalf("project %q: %s and %s on different slots", p, keys[0], k)
			}
		}
		if keyslot.Slot(keys[0]) != keyslot.Slot(indexKeys(p)[0]) {
			t.Fatalf("project %q: model and user index on different slots", p)
		}
	}
}
