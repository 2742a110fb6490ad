package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestClusterTenantFlow: on a real 3-master Redis Cluster, over REST, with
// two replicas taking turns: the model written on one is what a sign-up on
// the other gets (the project's default role; the tenant of its email's
// self-provisioning domain with the tenant's default role); tenant/select
// gives dct, me/tenants lists the tenant; a tenant-scoped role given by
// management shows in the next refresh, and is gone from it once removed,
// as is a removed project role; the search by role or tenant alone finds
// the user (the holder index, on the project's slot); deleting the tenant
// takes the tenant, its dct and its own roles from the next refresh.
func TestClusterTenantFlow(t *testing.T) {
	t.Parallel()
	p := newClusterPair(t, defaultMgmtKeys())
	a, b := p.a, p.b
	a.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"read"}`)
	a.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"write"}`)
	a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"member","permissionNames":["read"],"default":true}`)
	a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"editor","permissionNames":["write"]}`)
	b.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme","selfProvisioningDomains":["acme.io"],"customAttributes":{"tier":"gold"}}`)
	b.mustMgmt("POST", "/v1/mgmt/tenant/updateDefaultRoles", `{"id":"acme","defaultRoles":["editor"]}`)
	a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"lead","tenantId":"acme","permissionNames":["read","write"]}`)

	if s, r := b.post("/v1/auth/otp/signup/email", `{"loginId":"kim@acme.io"}`); s != 200 {
		t.Fatalf("sign-up on B: %d %v", s, r)
	}
	s, v := a.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"kim@acme.io","code":%q}`, a.code("kim@acme.io")))
	if s != 200 {
		t.Fatalf("verify on A: %d %v", s, v)
	}
	c := jwtClaims(t, v["sessionJwt"])
	if fmt.Sprint(c["roles"]) != "[member]" || fmt.Sprint(c["permissions"]) != "[read]" ||
		fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[write] roles:[editor]]]" {
		t.Fatalf("claims of a new acme.io user: %v", c)
	}
	refresh := v["refreshJwt"]

	s, sel := b.do("POST", "/v1/auth/tenant/select", `{"tenant":"acme"}`, b.bearer(refresh))
	if s != 200 || jwtClaims(t, sel["sessionJwt"])["dct"] != "acme" {
		t.Fatalf("select on B: %d %v", s, sel)
	}
	if r, ok := sel["refreshJwt"]; ok && r != "" {
		refresh = r
	}
	s, mt := a.do("POST", "/v1/auth/me/tenants", `{"dct":true}`, a.bearer(refresh))
	if s != 200 || fmt.Sprint(mt["tenants"]) != "[map[customAttributes:map[tier:gold] id:acme name:Acme]]" {
		t.Fatalf("me/tenants on A: %d %v", s, mt)
	}
	next := func(env *env, what string) map[string]any {
		t.Helper()
		s, ref := env.do("POST", "/v1/auth/refresh", "", env.bearer(refresh))
		if s != 200 {
			t.Fatalf("refresh %s: %d %v", what, s, ref)
		}
		if r, ok := ref["refreshJwt"]; ok && r != "" {
			refresh = r
		}
		return jwtClaims(t, ref["sessionJwt"])
	}

	// The user search by role or tenant alone finds the new user.
	for _, body := range []string{`{"roleNames":["member"]}`, `{"tenantIds":["acme"]}`} {
		users, _ := b.mustMgmt("POST", "/v2/mgmt/user/search", body)["users"].([]any)
		if len(users) != 1 || users[0].(map[string]any)["email"] != "kim@acme.io" {
			t.Fatalf("search %s: %v", body, users)
		}
	}

	// A tenant-scoped role through management, then removed.
	a.mustMgmt("POST", "/v2/mgmt/user/update/role/add", `{"loginId":"kim@acme.io","tenantId":"acme","roleNames":["lead"]}`)
	if c := next(a, "after adding lead"); fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[write read] roles:[editor lead]]]" || c["dct"] != "acme" {
		t.Fatalf("claims with the tenant's own role: %v", c)
	}
	b.mustMgmt("POST", "/v1/mgmt/user/update/role/remove", `{"loginId":"kim@acme.io","tenantId":"acme","roleNames":["editor"]}`)
	b.mustMgmt("POST", "/v1/mgmt/user/update/role/remove", `{"loginId":"kim@acme.io","roleNames":["member"]}`)
	if c := next(b, "after removals"); c["roles"] != nil || fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[read write] roles:[lead]]]" {
		t.Fatalf("claims after removing editor and member: %v", c)
	}
	users, _ := a.mustMgmt("POST", "/v2/mgmt/user/search", `{"roleNames":["member"]}`)["users"].([]any)
	if len(users) != 0 {
		t.Fatalf("search by a removed role: %v", users)
	}

	// Deleting the tenant: no tenant, no dct, and its own role is gone.
	a.mustMgmt("POST", "/v1/mgmt/tenant/delete", `{"id":"acme"}`)
	if c := next(b, "after the tenant's delete"); c["dct"] != nil || c["tenants"] != nil {
		t.Fatalf("refresh after the tenant's delete: %v", c)
	}
	if roles := fmt.Sprint(b.mustMgmt("GET", "/v1/mgmt/role/all", "")["roles"]); strings.Contains(roles, "lead") {
		t.Fatalf("the deleted tenant's role is still listed: %s", roles)
	}
	users, _ = b.mustMgmt("POST", "/v2/mgmt/user/search", `{"tenantIds":["acme"]}`)["users"].([]any)
	if len(users) != 0 {
		t.Fatalf("search by a deleted tenant: %v", users)
	}
}
