package token

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAuthzClaimsRoundTrip: the authorization claims are in both tokens,
// byte for byte as encoding/json writes them, read back by verify, and a
// tenant with no roles still has its key (the SDKs test membership by it).
func TestAuthzClaimsRoundTrip(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, EdDSA))
	iss := mustIssuer(t, Config{ProjectID: "P1"}, keys, func() time.Time { return time.Now() })
	az := &Authz{Roles: []string{"admin", "<&>"}, Permissions: []string{"read"},
		Tenants: map[string]TenantAuthz{"t2": {}, "t1": {Roles: []string{"viewer"}, Permissions: []string{"read"}}}, DCT: "t1"}
	pair, err := iss.Mint(Subject{UserID: "U1", Authz: az})
	if err != nil {
		t.Fatal(err)
	}
	want := &Authz{Roles: az.Roles, Permissions: az.Permissions, DCT: "t1", Tenants: map[string]TenantAuthz{
		"t2": {Roles: []string{}, Permissions: []string{}}, "t1": az.Tenants["t1"]}}
	for name, verify := range map[string]func(string) (*Claims, error){"session": iss.VerifySession, "refresh": iss.VerifyRefresh} {
		tok := pair.Session
		if name == "refresh" {
			tok = pair.Refresh
		}
		c, err := verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, c.Authz); diff != "" {
			t.Errorf("%s authz (-want +got):\n%s", name, diff)
		}
	}
	if az.Tenants["t2"].Roles != nil {
		t.Fatal("Mint changed the caller's map")
	}
	sess, _, err := iss.MintSession(Subject{UserID: "U1", Authz: az})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := iss.VerifySession(sess); err != nil || c.Authz == nil || c.Authz.DCT != "t1" {
		t.Fatalf("MintSession authz: %+v %v", c, err)
	}

	// appendClaims with the fragment equals encoding/json of the struct.
	c := wireClaims{Iss: "P", Sub: "U", Iat: 1, Exp: 2, DRN: DRNSession, Roles: want.Roles, Permissions: want.Permissions,
		Tenants: want.Tenants, DCT: want.DCT, JTI: "j"}
	c.authz, err = encodeAuthz(want)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(&c)
	if got := appendClaims(nil, &c, nil); !bytes.Equal(got, wantJSON) {
		t.Fatalf("\n ours %s\n json %s", got, wantJSON)
	}
	// No claims: no members.
	if b, err := encodeAuthz(&Authz{}); err != nil || b != nil {
		t.Fatalf("empty authz encodes %q %v", b, err)
	}
}
