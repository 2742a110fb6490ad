package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

// Custom attributes nested deeper than otpd keeps (a tenant's record is
// decoded by Redis' cjson, which fails past 1000 levels, on every model
// change and every claims resolution of its members) are bad input: 400
// naming the limit, nothing written; before the cap, 503, which the SDKs
// retry for ever.
func TestDeeplyNestedCustomAttributesAre400(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, defaultMgmtKeys())
	deep := strings.Repeat("[", 1100) + "1" + strings.Repeat("]", 1100)
	for _, c := range []struct{ path, body string }{
		{"/v1/mgmt/tenant/create", `{"id":"deep","name":"Deep","customAttributes":{"a":` + deep + `}}`},
		{"/v1/mgmt/user/create", `{"loginId":"deep@example.com","customAttributes":{"a":` + deep + `}}`},
	} {
		s, b := e.mgmt("POST", c.path, c.body)
		if s != 400 || errCodeOf(b) == "" || !strings.Contains(fmt.Sprint(b["errorMessage"]), "nested") {
			t.Errorf("%s: %d %v, want 400 about the nesting", c.path, s, b)
		}
	}
	if s, b := e.mgmt("GET", "/v1/mgmt/tenant?id=deep", ""); s != 400 {
		t.Errorf("the refused tenant exists: %d %v", s, b)
	}
	if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=deep%40example.com", ""); s != 404 {
		t.Errorf("the refused user exists: %d", s)
	}
	// Nesting within the cap is kept as sent.
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"ok","name":"OK","customAttributes":{"a":{"b":{"c":[1,2]}}}}`)
}

// The project's default roles are capped at a user's project roles (every
// new user gets them all): one more is 400 naming that limit.
func TestTooManyDefaultRolesIs400(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	for i := range 20 {
		e.mustMgmt("POST", "/v1/mgmt/role/create", fmt.Sprintf(`{"name":"d%d","default":true}`, i))
	}
	s, b := e.mgmt("POST", "/v1/mgmt/role/create", `{"name":"d20","default":true}`)
	if s != 400 || !strings.Contains(fmt.Sprint(b["errorMessage"]), "default roles") {
		t.Fatalf("the 21st default role: %d %v", s, b)
	}
}

// A tenant id every JavaScript object inherits ("constructor",
// "__proto__", "toString"...) is refused at create: Descope's Node SDK
// reads token.tenants[id], so every user of any tenant would pass
// validateTenantRoles(info, "constructor", []).
func TestTenantIDsJavaScriptObjectsInheritAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	for _, id := range []string{"constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"} {
		s, b := e.mgmt("POST", "/v1/mgmt/tenant/create", fmt.Sprintf(`{"id":%q,"name":"N"}`, id))
		if s != 400 || errCodeOf(b) == "" {
			t.Errorf("tenant id %q: %d %v, want 400", id, s, b)
		}
	}
	if _, b := e.mgmt("GET", "/v1/mgmt/tenant/all", ""); fmt.Sprint(b["tenants"]) != "[]" {
		t.Fatalf("refused creates left tenants: %v", b)
	}
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"Constructor","name":"N"}`)
}

// Without enumeration protection a start with loginOptions.tenantId tells
// whether the login id's user is in the tenant (as Descope does); that
// answer costs a client what a start costs, the per-IP send limit, as
// "no such user" does. Before, the refusal came before every limit: an
// unlimited oracle of who is in which tenant.
func TestTenantMembershipProbesSpendThePerIPLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(limitedProject(func(l *config.Limits) { l.SendsPerIP = rate(3, time.Hour) })), defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"member@example.com","email":"member@example.com","verifiedEmail":true,"userTenants":[{"tenantId":"acme"}]}`)
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"outsider@example.com","email":"outsider@example.com","verifiedEmail":true}`)
	var got []int
	for i := range 5 {
		login := []string{"outsider@example.com", "nobody@example.com"}[i%2]
		s, _ := e.do("POST", "/v1/auth/otp/signin/email", fmt.Sprintf(`{"loginId":%q,"loginOptions":{"tenantId":"acme"}}`, login), "Bearer "+pid)
		got = append(got, s)
	}
	if fmt.Sprint(got) != "[400 400 400 429 429]" {
		t.Fatalf("membership probes from one IP answered %v, want three answers then 429", got)
	}
	if s, b := e.do("POST", "/v1/auth/otp/signin/email", `{"loginId":"member@example.com","loginOptions":{"tenantId":"acme"}}`, "Bearer "+pid); s != 429 {
		t.Fatalf("a member's start after the IP's budget: %d %v, want 429", s, b)
	}
}
