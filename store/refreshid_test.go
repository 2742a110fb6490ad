package store_test

import (
	"testing"

	"github.com/otpd/otpd/store"
)

func TestRefreshIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		jti  string
		want store.RefreshID
		ok   bool
	}{
		{"k7c1yXbq0QdUa3o9bLQ0ZQ", store.RefreshID{Family: "k7c1yXbq0QdUa3o9bLQ0ZQ"}, true},
		{"fam.1.n0nce", store.RefreshID{Family: "fam", Generation: 1}, true},
		{"fam.100000.n0nce", store.RefreshID{Family: "fam", Generation: 100000}, true},
		{"", store.RefreshID{}, false},
		{".1.n", store.RefreshID{}, false},
		{"fam.0.n", store.RefreshID{}, false},   // generation 0 is the bare family
		{"fam.01.n", store.RefreshID{}, false},  // not canonical
		{"fam.-1.n", store.RefreshID{}, false},  // negative
		{"fam.1", store.RefreshID{}, false},     // no nonce
		{"fam.1.n.x", store.RefreshID{}, false}, // extra part
		{"fam.x.n", store.RefreshID{}, false},
		{"fam.99999999999999999999.n", store.RefreshID{}, false}, // overflow
	} {
		got, ok := store.ParseRefreshID(c.jti)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseRefreshID(%q) = %+v %v, want %+v %v", c.jti, got, ok, c.want, c.ok)
		}
		if ok {
			if back, _ := store.ParseRefreshID(got.JTI("n0nce")); back != got {
				t.Errorf("%+v does not survive JTI: %q", got, got.JTI("n0nce"))
			}
		}
	}
}
