package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

// Access keys (docs/authorization.md, "Access keys") over REST.

// jwtClaims decodes a JWT's claims (no verification: the Node SDK test
// verifies signatures).
func jwtClaims(t *testing.T, jwt any) map[string]any {
	t.Helper()
	parts := strings.Split(fmt.Sprint(jwt), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %v", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// akModel creates permission read, roles viewer (read) and admin, and
// tenant acme.
func akModel(e *env) {
	e.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"read"}`)
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"viewer","permissionNames":["read"]}`)
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
}

// createKey creates a key from body and returns its id and cleartext.
func createKey(e *env, body string) (string, string) {
	e.t.Helper()
	b := e.mustMgmt("POST", "/v1/mgmt/accesskey/create", body)
	key, _ := b["key"].(map[string]any)
	id, _ := key["id"].(string)
	clear, _ := b["cleartext"].(string)
	if id == "" || clear == "" {
		e.t.Fatalf("create: %v", b)
	}
	return id, clear
}

func (e *env) exchange(clear, body string) (int, map[string]any) {
	e.t.Helper()
	return e.do("POST", "/v1/auth/accesskey/exchange", body, "Bearer "+e.project+":"+clear)
}

// TestAccessKeyLifecycle: create answers the cleartext once (load and
// search never; Redis holds only its hash); the exchange answers Descope's
// {keyId, sessionJwt, expiration} with the key's claims from the current
// model; update, deactivate, activate and delete do what they say.
func TestAccessKeyLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	b := e.mustMgmt("POST", "/v1/mgmt/accesskey/create", `{"name":"billing","description":"the billing service","expireTime":0,
		"roleNames":["viewer"],"keyTenants":[{"tenantId":"acme","roleNames":["admin"]}],"permittedIps":["127.0.0.1","10.0.0.7/8"]}`)
	clear, _ := b["cleartext"].(string)
	key, _ := b["key"].(map[string]any)
	id, _ := key["id"].(string)
	if !strings.HasPrefix(id, "K") || !strings.HasPrefix(clear, id+".") || key["status"] != "active" || key["name"] != "billing" ||
		fmt.Sprint(key["roleNames"]) != "[viewer]" || fmt.Sprint(key["keyTenants"]) != "[map[roleNames:[admin] tenantId:acme tenantName:Acme]]" ||
		fmt.Sprint(key["permittedIps"]) != "[127.0.0.1 10.0.0.0/8]" || key["createdBy"] != "current" || key["description"] != "the billing service" {
		t.Fatalf("create: %v", b)
	}
	secret := clear[len(id)+1:]
	// Only the hash is stored.
	for _, k := range e.redis.Keys(context.Background(), "*").Val() {
		dump := fmt.Sprint(e.redis.Dump(context.Background(), k).Val())
		if strings.Contains(dump, secret) {
			t.Fatalf("the key's secret is in Redis under %s", k)
		}
	}
	loaded := e.mustMgmt("GET", "/v1/mgmt/accesskey?id="+id, "")
	if s := fmt.Sprint(loaded); strings.Contains(s, secret) || loaded["key"].(map[string]any)["id"] != id {
		t.Fatalf("load: %v", loaded)
	}

	s, x := e.exchange(clear, `{}`)
	if s != 200 || x["keyId"] != id {
		t.Fatalf("exchange: %d %v", s, x)
	}
	c := jwtClaims(t, x["sessionJwt"])
	if c["sub"] != id || c["iss"] != e.project || c["drn"] != "DS" || fmt.Sprint(c["roles"]) != "[viewer]" ||
		fmt.Sprint(c["permissions"]) != "[read]" || fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[] roles:[admin]]]" ||
		c["dct"] != nil || fmt.Sprint(x["expiration"]) != fmt.Sprint(c["exp"]) {
		t.Fatalf("claims %v of %v", c, x)
	}
	if s, x = e.exchange(clear, ""); s != 200 {
		t.Fatalf("exchange without a body (the Go SDK sends one, curl may not): %d %v", s, x)
	}
	s, x = e.exchange(clear, `{"loginOptions":{"selectedTenant":"acme"}}`)
	if s != 200 || jwtClaims(t, x["sessionJwt"])["dct"] != "acme" {
		t.Fatalf("selectedTenant: %d %v", s, x)
	}
	if s, x = e.exchange(clear, `{"loginOptions":{"selectedTenant":"globex"}}`); s != 400 || errCodeOf(x) != "E011002" {
		t.Fatalf("a tenant the key is not in: %d %v", s, x)
	}
	if s, x = e.exchange(clear, `{"loginOptions":{"customClaims":{"a":1}}}`); s != 400 || errCodeOf(x) != "E011003" {
		t.Fatalf("customClaims: %d %v", s, x)
	}

	// Update: absent fields are kept, present ones replaced ([] clears).
	b = e.mustMgmt("POST", "/v1/mgmt/accesskey/update", `{"id":"`+id+`","name":"billing2"}`)
	if k := b["key"].(map[string]any); k["name"] != "billing2" || fmt.Sprint(k["roleNames"]) != "[viewer]" || k["description"] != "the billing service" ||
		len(k["keyTenants"].([]any)) != 1 || len(k["permittedIps"].([]any)) != 2 {
		t.Fatalf("update of the name only: %v", b)
	}
	b = e.mustMgmt("POST", "/v1/mgmt/accesskey/update", `{"id":"`+id+`","name":"billing2","roleNames":["admin"],"keyTenants":[],"description":""}`)
	if k := b["key"].(map[string]any); fmt.Sprint(k["roleNames"]) != "[admin]" || len(k["keyTenants"].([]any)) != 0 || k["description"] != "" {
		t.Fatalf("update of roles and tenants: %v", b)
	}
	if _, x = e.exchange(clear, `{}`); fmt.Sprint(jwtClaims(t, x["sessionJwt"])["roles"]) != "[admin]" || jwtClaims(t, x["sessionJwt"])["tenants"] != nil {
		t.Fatalf("claims after the update: %v", jwtClaims(t, x["sessionJwt"]))
	}
	if s, x := e.mgmt("POST", "/v1/mgmt/accesskey/update", `{"id":"`+id+`","name":"n","expireTime":5}`); s != 400 || errCodeOf(x) != "E011003" {
		t.Fatalf("expireTime on update: %d %v", s, x)
	}

	// Deactivate, activate, delete.
	e.mustMgmt("POST", "/v1/mgmt/accesskey/deactivate", `{"id":"`+id+`"}`)
	if k := e.mustMgmt("GET", "/v1/mgmt/accesskey?id="+id, "")["key"].(map[string]any); k["status"] != "inactive" {
		t.Fatalf("status after deactivate: %v", k)
	}
	if s, x = e.exchange(clear, `{}`); s != 401 || !strings.Contains(fmt.Sprint(x["errorMessage"]), "deactivated") {
		t.Fatalf("exchange of a deactivated key: %d %v", s, x)
	}
	e.mustMgmt("POST", "/v1/mgmt/accesskey/activate", `{"id":"`+id+`"}`)
	if s, x = e.exchange(clear, `{}`); s != 200 {
		t.Fatalf("exchange after activate: %d %v", s, x)
	}
	e.mustMgmt("POST", "/v1/mgmt/accesskey/delete", `{"id":"`+id+`"}`)
	if s, x = e.exchange(clear, `{}`); s != 401 {
		t.Fatalf("exchange of a deleted key: %d %v", s, x)
	}
	if s, x = e.mgmt("GET", "/v1/mgmt/accesskey?id="+id, ""); s != 400 || errCodeOf(x) != "E011002" {
		t.Fatalf("load of a deleted key: %d %v", s, x)
	}
	if s, x = e.mgmt("POST", "/v1/mgmt/accesskey/delete", `{"id":"`+id+`"}`); s != 400 {
		t.Fatalf("delete twice: %d %v", s, x)
	}
}

// TestAccessKeyModelDeletes: a key holds roles by id and tenants by
// incarnation, like a user: deleting the role or tenant removes it from
// the key's next token and from its management view, and a tenant created
// again under the same id is not the key's.
func TestAccessKeyModelDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	id, clear := createKey(e, `{"name":"svc","roleNames":["viewer","admin"],"keyTenants":[{"tenantId":"acme","roleNames":["viewer"]}]}`)
	e.mustMgmt("POST", "/v1/mgmt/role/delete", `{"name":"viewer"}`)
	_, x := e.exchange(clear, `{}`)
	if c := jwtClaims(t, x["sessionJwt"]); fmt.Sprint(c["roles"]) != "[admin]" || c["permissions"] != nil ||
		fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[] roles:[]]]" {
		t.Fatalf("claims after the role's delete: %v", c)
	}
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"viewer"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/delete", `{"id":"acme"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme again"}`)
	_, x = e.exchange(clear, `{}`)
	if c := jwtClaims(t, x["sessionJwt"]); fmt.Sprint(c["roles"]) != "[admin]" || c["tenants"] != nil {
		t.Fatalf("claims after the tenant's delete (and a new viewer role): %v", c)
	}
	k := e.mustMgmt("GET", "/v1/mgmt/accesskey?id="+id, "")["key"].(map[string]any)
	if fmt.Sprint(k["roleNames"]) != "[admin]" || len(k["keyTenants"].([]any)) != 0 {
		t.Fatalf("load after the deletes: %v", k)
	}
	if s, x := e.exchange(clear, `{"loginOptions":{"selectedTenant":"acme"}}`); s != 400 {
		t.Fatalf("selecting the re-created tenant: %d %v", s, x)
	}
}

// TestAccessKeyJWTIsNotAUserSession: the key's session JWT (and the key
// itself) is refused by every user endpoint: they take a refresh JWT of a
// user (drn DSR, a live token id in Redis), and the key's is a session JWT
// (drn DS) of no user. Nor does it open the management API.
func TestAccessKeyJWTIsNotAUserSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	_, clear := createKey(e, `{"name":"svc","roleNames":["admin"],"keyTenants":[{"tenantId":"acme"}]}`)
	_, x := e.exchange(clear, `{}`)
	jwt := fmt.Sprint(x["sessionJwt"])
	for _, cred := range []string{jwt, clear} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/auth/me", ""},
			{"POST", "/v1/auth/refresh", "{}"},
			{"POST", "/v1/auth/try-refresh", "{}"},
			{"POST", "/v1/auth/logout", "{}"},
			{"POST", "/v1/auth/logoutall", "{}"},
			{"POST", "/v1/auth/tenant/select", `{"tenant":"acme"}`},
			{"POST", "/v1/auth/me/tenants", `{}`},
			{"GET", "/v1/auth/me/history", ""},
			{"POST", "/v1/auth/otp/update/email", `{"loginId":"x@example.com","email":"y@example.com"}`},
			{"POST", "/v1/auth/otp/signin/email", `{"loginId":"x@example.com","loginOptions":{"stepup":true}}`},
			{"GET", "/v1/mgmt/role/all", ""},
			{"POST", "/v1/mgmt/accesskey/create", `{"name":"escalate"}`},
		} {
			s, b := e.do(c.method, c.path, c.body, "Bearer "+e.project+":"+cred)
			if c.path == "/v1/auth/try-refresh" {
				if s != 200 || b["sessionJwt"] != "" {
					t.Errorf("%s with the key's %s: %d %v", c.path, credName(cred, jwt), s, b)
				}
				continue
			}
			if s != 401 {
				t.Errorf("%s %s with the key's %s: %d %v", c.method, c.path, credName(cred, jwt), s, b)
			}
		}
	}
	// The key cannot be carried by the DSR cookie either.
	s, b := e.send("POST", "/v1/auth/accesskey/exchange", "{}", "Bearer "+e.project, map[string]string{"Cookie": "DSR=" + clear})
	if s.StatusCode != 401 {
		t.Fatalf("a key in the DSR cookie: %d %s", s.StatusCode, b)
	}
}

func credName(cred, jwt string) string {
	if cred == jwt {
		return "session JWT"
	}
	return "cleartext"
}

// TestAccessKeyRefusals: a wrong secret, a malformed key, an expired key
// and an IP outside permittedIps are refused with 401 in Descope's shape;
// X-Forwarded-For from an untrusted peer does not move the caller inside.
func TestAccessKeyRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	id, clear := createKey(e, fmt.Sprintf(`{"name":"svc","expireTime":%d}`, e.clock.Now().Add(time.Hour).Unix()))
	wrong := id + "." + strings.Repeat("A", 43)
	for _, bad := range []string{wrong, id, "garbage", clear + "x", strings.ToLower(clear)} {
		if s, b := e.exchange(bad, `{}`); s != 401 || errCodeOf(b) != "E011401" {
			t.Errorf("key %.20q…: %d %v", bad, s, b)
		}
	}
	if s, b := e.do("POST", "/v1/auth/accesskey/exchange", `{}`, "Bearer "+e.project); s != 401 {
		t.Errorf("no key: %d %v", s, b)
	}
	if s, b := e.exchange(clear, `{}`); s != 200 {
		t.Fatalf("the right key: %d %v", s, b)
	}
	e.clock.Add(time.Hour)
	if s, b := e.exchange(clear, `{}`); s != 401 || !strings.Contains(fmt.Sprint(b["errorMessage"]), "expired") {
		t.Fatalf("an expired key: %d %v", s, b)
	}

	_, ipKey := createKey(e, `{"name":"ip","permittedIps":["10.0.0.0/8","2001:db8::/32"]}`)
	for _, hdr := range []map[string]string{nil, {"X-Forwarded-For": "10.1.2.3"}, {"X-Real-IP": "10.1.2.3"}} {
		resp, raw := e.send("POST", "/v1/auth/accesskey/exchange", `{}`, "Bearer "+e.project+":"+ipKey, hdr)
		if resp.StatusCode != 401 || !strings.Contains(string(raw), "IP address") {
			t.Errorf("from 127.0.0.1 with %v: %d %s", hdr, resp.StatusCode, raw)
		}
	}
	_, okKey := createKey(e, `{"name":"local","permittedIps":["127.0.0.0/8"]}`)
	if s, b := e.exchange(okKey, `{}`); s != 200 {
		t.Fatalf("from a permitted IP: %d %v", s, b)
	}
}

// TestAccessKeyBadInput: malformed, oversized or refused bodies get 400 in
// Descope's shape and create nothing.
func TestAccessKeyBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	many := func(n int, f string) string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = fmt.Sprintf(f, i)
		}
		return strings.Join(vs, ",")
	}
	for _, body := range []string{
		`{"name":`,
		`{"name":""}`,
		`{"name":"` + strings.Repeat("n", 101) + `"}`,
		`{"name":"bad\u0000name"}`,
		`{"name":"n","description":"` + strings.Repeat("d", 1001) + `"}`,
		`{"name":"n","expireTime":1}`,
		`{"name":"n","expireTime":-5}`,
		`{"name":"n","expireTime":99999999999}`,
		`{"name":"n","roleNames":["nope"]}`,
		`{"name":"n","roleNames":[1]}`,
		`{"name":"n","roleNames":"admin"}`,
		`{"name":"n","roleNames":[` + many(21, `"r%d"`) + `]}`,
		`{"name":"n","keyTenants":[{"tenantId":"globex"}]}`,
		`{"name":"n","keyTenants":[{"tenantId":"acme","roleNames":["nope"]}]}`,
		`{"name":"n","keyTenants":[{"tenantId":"acme","extra":true}]}`,
		`{"name":"n","keyTenants":["acme"]}`,
		`{"name":"n","keyTenants":[` + many(21, `{"tenantId":"t%d"}`) + `]}`,
		`{"name":"n","permittedIps":["300.1.1.1"]}`,
		`{"name":"n","permittedIps":["10.0.0.0/33"]}`,
		`{"name":"n","permittedIps":["example.com"]}`,
		`{"name":"n","permittedIps":[` + many(51, `"10.0.0.%d"`) + `]}`,
		`{"name":"n","userId":"U1"}`,
		`{"name":"n","customClaims":{"a":1}}`,
		`{"name":"n","customAttributes":{"a":1}}`,
		`{"name":"n","id":"K1"}`,
		`{"name":"n","unknownField":1}`,
	} {
		if s, b := e.mgmt("POST", "/v1/mgmt/accesskey/create", body); s != 400 || errCodeOf(b) == "" {
			t.Errorf("%.80s: %d %v", body, s, b)
		}
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/accesskey/create", `{"name":"`+strings.Repeat("x", 2<<20)+`"}`); s != 400 || errCodeOf(b) != "E011001" {
		t.Errorf("an oversized body: %d %v", s, b)
	}
	for _, body := range []string{`{"boundUserId":"U1"}`, `{"creatingUser":"x"}`, `{"customAttributes":{"a":1}}`, `{"sort":[{"field":"name"}]}`} {
		if s, b := e.mgmt("POST", "/v1/mgmt/accesskey/search", body); s != 400 || errCodeOf(b) != "E011003" {
			t.Errorf("search %s: %d %v", body, s, b)
		}
	}
	if b := e.mustMgmt("POST", "/v1/mgmt/accesskey/search", `{}`); fmt.Sprint(b["keys"]) != "[]" {
		t.Fatalf("refused creates left keys: %v", b)
	}
	for _, path := range []string{"/v1/mgmt/accesskey/deactivate", "/v1/mgmt/accesskey/activate", "/v1/mgmt/accesskey/delete"} {
		if s, b := e.mgmt("POST", path, `{"id":"K-not-a-key"}`); s != 400 {
			t.Errorf("%s of a malformed id: %d %v", path, s, b)
		}
		if s, b := e.mgmt("POST", path, `{}`); s != 400 {
			t.Errorf("%s without an id: %d %v", path, s, b)
		}
	}
}

// TestAccessKeySearch: every key, or those in one of tenantIds.
func TestAccessKeySearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	a, _ := createKey(e, `{"name":"a","keyTenants":[{"tenantId":"acme"}]}`)
	createKey(e, `{"name":"b"}`)
	if keys := e.mustMgmt("POST", "/v1/mgmt/accesskey/search", `{}`)["keys"].([]any); len(keys) != 2 {
		t.Fatalf("all: %v", keys)
	}
	keys := e.mustMgmt("POST", "/v1/mgmt/accesskey/search", `{"tenantIds":["acme"]}`)["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["id"] != a {
		t.Fatalf("by tenant: %v", keys)
	}
}

// TestAccessKeyRateLimits: exchanges are limited per client IP (every
// attempt, wrong keys included) and per key (only once the key is proven,
// so someone who knows a key's id, the subject of its tokens, cannot
// spend its budget).
func TestAccessKeyRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(limitedProject(func(l *config.Limits) {
		l.AccessKeyExchangesPerKey = rate(2, time.Minute)
		l.AccessKeyExchangesPerIP = rate(8, time.Minute)
	})), defaultMgmtKeys())
	id, clear := createKey(e, `{"name":"svc"}`)
	for range 4 { // wrong secrets for the key's id
		if s, _ := e.exchange(id+"."+strings.Repeat("B", 42)+"A", `{}`); s != 401 {
			t.Fatalf("wrong secret: %d", s)
		}
	}
	for i := range 2 {
		if s, b := e.exchange(clear, `{}`); s != 200 {
			t.Fatalf("exchange %d: %d %v", i, s, b)
		}
	}
	s, b := e.exchange(clear, `{}`)
	if s != 429 || errCodeOf(b) != "E130429" || !strings.Contains(fmt.Sprint(b["errorMessage"]), "accessKeyExchangesPerKey") {
		t.Fatalf("third exchange of the key: %d %v", s, b)
	}
	_, other := createKey(e, `{"name":"other"}`)
	if s, b := e.exchange(other, `{}`); s != 200 { // 8th attempt from this IP
		t.Fatalf("another key: %d %v", s, b)
	}
	if s, b := e.exchange(other, `{}`); s != 429 || !strings.Contains(fmt.Sprint(b["errorMessage"]), "accessKeyExchangesPerIp") {
		t.Fatalf("ninth attempt from one IP: %d %v", s, b)
	}
	m := e.metrics()
	for _, l := range []string{"accessKeyExchangesPerKey", "accessKeyExchangesPerIp"} {
		if !strings.Contains(m, `otpd_limit_refusals_total{dry_run="false",limit="`+l+`",project="`+pid+`"} 1`) {
			t.Errorf("the refusal by %s is not counted", l)
		}
	}
}

// TestAccessKeyNeverLogged: neither the cleartext nor its secret part
// reaches the service log, on success or on any refusal.
func TestAccessKeyNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(limitedProject(func(l *config.Limits) {
		l.AccessKeyExchangesPerKey = rate(1, time.Minute)
	})), defaultMgmtKeys())
	id, clear := createKey(e, `{"name":"svc","permittedIps":["127.0.0.1"]}`)
	e.exchange(clear, `{}`)
	e.exchange(clear, `{}`) // rate limited
	e.exchange(clear+"x", `{}`)
	e.exchange(clear, `{"loginOptions":{"customClaims":{"a":1}}}`)
	e.mustMgmt("POST", "/v1/mgmt/accesskey/update", `{"id":"`+id+`","name":"svc","permittedIps":["10.0.0.1"]}`)
	e.exchange(clear, `{}`) // outside permittedIps: logged as a warning
	e.mustMgmt("POST", "/v1/mgmt/accesskey/deactivate", `{"id":"`+id+`"}`)
	e.exchange(clear, `{}`)
	logs := e.logs.String()
	if !strings.Contains(logs, "ExchangeAccessKey") || !strings.Contains(logs, "permittedIps") {
		t.Fatalf("the calls are not in the log, so the test proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, clear[len(id)+1:]) || strings.Contains(logs, clear[len(id)+1:len(id)+20]) {
		t.Fatalf("the key's secret is in the log:\n%s", logs)
	}
}
