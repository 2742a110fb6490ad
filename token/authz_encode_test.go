package token

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// encodeAuthzReference is encodeAuthz with encoding/json (what it was).
func encodeAuthzReference(t *testing.T, a *Authz) []byte {
	t.Helper()
	if a == nil {
		return nil
	}
	w := authzJSON{Roles: a.Roles, Permissions: a.Permissions, DCT: a.DCT}
	if len(a.Tenants) > 0 {
		w.Tenants = make(map[string]TenantAuthz, len(a.Tenants))
		for id, t := range a.Tenants {
			if t.Roles == nil {
				t.Roles = []string{}
			}
			if t.Permissions == nil {
				t.Permissions = []string{}
			}
			w.Tenants[id] = t
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= 2 {
		return nil
	}
	b[0] = ','
	return b[:len(b)-1]
}

// TestEncodeAuthzMatchesEncodingJSON: the hand-written encoding of the
// authorization claims is byte for byte encoding/json's, for names with
// quotes, backslashes, HTML characters, control characters, U+2028 and
// invalid UTF-8, tenants in any map order, and empty lists.
func TestEncodeAuthzMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"admin", "read", `q"uote`, `back\slash`, "<b>&amp;", "ünï", "line\u2028sep", "ctl\x01\t\n", "bad\xffutf8", "", "T2abc"}
	pick := func(max int) []string {
		var out []string
		for range rng.IntN(max + 1) {
			out = append(out, names[rng.IntN(len(names))])
		}
		return out
	}
	for range 3000 {
		a := &Authz{Roles: pick(3), Permissions: pick(4)}
		if rng.IntN(3) > 0 {
			a.Tenants = map[string]TenantAuthz{}
			for range rng.IntN(4) {
				a.Tenants[names[rng.IntN(len(names))]] = TenantAuthz{Roles: pick(2), Permissions: pick(3)}
			}
		}
		if rng.IntN(2) == 0 {
			a.DCT = names[rng.IntN(len(names))]
		}
		got, err := encodeAuthz(a)
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeAuthzReference(t, a); string(got) != string(want) {
			t.Fatalf("%+v:\n got %s\nwant %s", a, got, want)
		}
	}
}
