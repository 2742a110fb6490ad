package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestMgmtAuth: every management call needs a management key of its own
// project; several keys are active at once; the log names the key's id,
// never the key.
func TestMgmtAuth(t *testing.T) {
	t.Parallel()
	other := config.Project{ID: "P2OtherProject00000000000002"}
	e := newEnv(t, false, withProjects(config.Project{ID: pid}, other), defaultMgmtKeys(),
		func(s *envSetup) {
			s.cfg.Projects[1].ManagementKeys = []string{"other=mk-other-project-0123456789abcdef0123"}
		})
	path := "/v1/mgmt/user?loginId=nobody@example.com"
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", 401},
		{"project only", "Bearer " + pid, 401},
		{"wrong key", "Bearer " + pid + ":mk-wrong-0123456789abcdef0123456789abc", 401},
		{"key of another project", "Bearer " + pid + ":mk-other-project-0123456789abcdef0123", 401},
		{"refresh-shaped junk", "Bearer " + pid + ":eyJhbGciOiJFUzI1NiJ9.e30.sig", 401},
		{"unknown project with a valid key", "Bearer P2Nope:" + mgmtKey, 401},
		// A valid key reaches the handler: no such user.
		{"current key", "Bearer " + pid + ":" + mgmtKey, 404},
		{"rotated key", "Bearer " + pid + ":" + mgmtKeyRotated, 404},
	} {
		s, b := e.do("GET", path, "", tc.auth)
		if s != tc.want {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, s, tc.want, b)
		}
		if s == 401 && errCodeOf(b) == "" {
			t.Errorf("%s: no Descope error body: %v", tc.name, b)
		}
		if s == 404 && errCodeOf(b) != "E112102" {
			t.Errorf("%s: %v, want E112102", tc.name, b)
		}
	}
	// A management key never comes from a cookie: only the Authorization
	// header carries it (Auth reads a DSR cookie for session calls).
	if s, b := e.raw2("GET", path, "Bearer "+pid, map[string]string{"Cookie": "DSR=" + mgmtKey}); s != 401 {
		t.Errorf("management key in the DSR cookie: %d %v", s, b)
	}
	// The other project's key works for the other project only.
	if s, b := e.do("GET", path, "", "Bearer "+other.ID+":mk-other-project-0123456789abcdef0123"); s != 404 {
		t.Errorf("other project with its own key: %d %v", s, b)
	}
	logs := e.logs.String()
	for _, secret := range []string{mgmtKey, mgmtKeyRotated, "mk-other-project"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a management key reached the log")
		}
	}
	if !strings.Contains(logs, `"mgmtKey":"current"`) || !strings.Contains(logs, `"mgmtKey":"sha256:`) {
		t.Errorf("the log does not name the keys used:\n%s", grepLines(logs, "Management"))
	}
}

// TestMgmtNoKeysConfigured: the default configuration has no management
// key, so the management API is closed.
func TestMgmtNoKeysConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	s, b := e.do("POST", "/v1/mgmt/user/create", `{"loginId":"a@example.com"}`, "Bearer "+pid+":"+mgmtKey)
	if s != 401 || !strings.Contains(fmt.Sprint(b["errorMessage"]), "No management key") {
		t.Fatalf("%d %v", s, b)
	}
}

// TestMgmtUserLifecycle drives every user call over REST on Descope's
// paths and shapes.
func TestMgmtUserLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	u := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"Ada@Example.com","email":"ada@example.com",
		"verifiedEmail":true,"displayName":"Ada","givenName":"Ada","familyName":"Lovelace","phone":"+14155550100",
		"customAttributes":{"plan":"pro","seats":3},"additionalLoginIds":["ada"]}`))
	uid := u["userId"].(string)
	if !strings.HasPrefix(uid, "U2") || u["email"] != "ada@example.com" || u["verifiedEmail"] != true ||
		u["verifiedPhone"] != false || u["name"] != "Ada" || u["status"] != "enabled" || u["test"] != false ||
		fmt.Sprint(u["loginIds"]) != "[ada@example.com ada]" || fmt.Sprint(u["customAttributes"]) != "map[plan:pro seats:3]" {
		t.Fatalf("created: %v", u)
	}
	// A second user may not take a login id of the first.
	if s, b := e.mgmt("POST", "/v1/mgmt/user/create", `{"loginId":"ADA"}`); s != 409 || errCodeOf(b) != "E112103" {
		t.Fatalf("duplicate login id: %d %v", s, b)
	}
	// A role or tenant the project does not have is refused (and nothing
	// is created); otpd sends no invitations.
	for body, code := range map[string]string{`{"loginId":"r@example.com","roleNames":["admin"]}`: "E011002",
		`{"loginId":"r@example.com","userTenants":[{"tenantId":"T1"}]}`: "E011002", `{"loginId":"r@example.com","invite":true}`: "E011003"} {
		if s, b := e.mgmt("POST", "/v1/mgmt/user/create", body); s != 400 || errCodeOf(b) != code {
			t.Fatalf("%s: %d %v", body, s, b)
		}
		if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=r%40example.com", ""); s != 404 {
			t.Fatalf("%s: a refused create left a user (%d)", body, s)
		}
	}
	// Load by login id (any of them, any case) and by user id.
	for _, q := range []string{"loginId=ada%40example.com", "loginId=ADA", "userId=" + uid} {
		if got := userOf(t, e.mustMgmt("GET", "/v1/mgmt/user?"+q, "")); got["userId"] != uid {
			t.Fatalf("load %s: %v", q, got)
		}
	}
	// Update replaces the profile (fields left out are cleared).
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update", `{"loginId":"ada","email":"ada@example.com","verifiedEmail":true,"displayName":"Countess"}`))
	if u["name"] != "Countess" || u["familyName"] != "" || u["phone"] != "" || len(u["customAttributes"].(map[string]any)) != 0 {
		t.Fatalf("updated: %v", u)
	}
	// Patch changes only what it carries.
	u = userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"ada","givenName":"Augusta","customAttributes":{"plan":"team"}}`))
	if u["name"] != "Countess" || u["givenName"] != "Augusta" || fmt.Sprint(u["customAttributes"]) != "map[plan:team]" {
		t.Fatalf("patched: %v", u)
	}
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/name", `{"loginId":"ada","displayName":"A. L.","givenName":"Ada","middleName":"B","familyName":"King"}`))
	if u["name"] != "A. L." || u["middleName"] != "B" || u["familyName"] != "King" {
		t.Fatalf("name: %v", u)
	}
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/customAttribute", `{"loginId":"ada","attributeKey":"level","attributeValue":7}`))
	if fmt.Sprint(u["customAttributes"]) != "map[level:7 plan:team]" {
		t.Fatalf("attribute: %v", u)
	}
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/customAttribute", `{"loginId":"ada","attributeKey":"plan","attributeValue":null}`))
	if fmt.Sprint(u["customAttributes"]) != "map[level:7]" {
		t.Fatalf("attribute removed: %v", u)
	}
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/phone", `{"loginId":"ada","phone":"+1 415 555 0111","verified":true}`))
	if u["phone"] != "+14155550111" || u["verifiedPhone"] != true {
		t.Fatalf("phone: %v", u)
	}
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/email", `{"loginId":"ada","email":"ada@lovelace.example","verified":false}`))
	if u["email"] != "ada@lovelace.example" || u["verifiedEmail"] != false {
		t.Fatalf("email: %v", u)
	}
	// Update login id: the old one is free afterwards, the new one loads.
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/loginid", `{"loginId":"ada","newLoginId":"countess"}`))
	if fmt.Sprint(u["loginIds"]) != "[ada@example.com countess]" {
		t.Fatalf("login ids: %v", u)
	}
	if s, b := e.mgmt("GET", "/v1/mgmt/user?loginId=ada", ""); s != 404 || errCodeOf(b) != "E112102" {
		t.Fatalf("old login id: %d %v", s, b)
	}
	other := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"ada"}`))
	// The email conflict check (failOnConflict) sees the other user's login id.
	if s, b := e.mgmt("POST", "/v1/mgmt/user/update/email", `{"loginId":"ada","email":"ada@lovelace.example","failOnConflict":true}`); s != 409 || errCodeOf(b) != "E062125" {
		t.Fatalf("conflict: %d %v", s, b)
	}
	// Batch load: unknown ids are left out.
	b := e.mustMgmt("POST", "/v1/mgmt/users/load", fmt.Sprintf(`{"userIds":[%q,%q,"U2NOPE"]}`, uid, other["userId"]))
	if us := b["users"].([]any); len(us) != 2 {
		t.Fatalf("batch load: %v", b)
	}
	// Delete: the user and its login ids are gone; deleting again is 404.
	e.mustMgmt("POST", "/v1/mgmt/user/delete", `{"loginId":"countess"}`)
	for _, q := range []string{"loginId=countess", "loginId=ada%40example.com", "userId=" + uid} {
		if s, b := e.mgmt("GET", "/v1/mgmt/user?"+q, ""); s != 404 || errCodeOf(b) != "E112102" {
			t.Fatalf("after delete, %s: %d %v", q, s, b)
		}
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"userId":%q}`, uid)); s != 404 {
		t.Fatalf("delete twice: %d %v", s, b)
	}
	e.mustMgmt("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"userId":%q}`, other["userId"]))
	// A deleted login id can be signed up again by OTP.
	if got := e.login("email", "ada@example.com", "ada@example.com"); got["firstSeen"] != true {
		t.Fatalf("sign-up after delete: %v", got)
	}
}

func searchIDs(t *testing.T, e *env, body string) ([]string, float64) {
	t.Helper()
	b := e.mustMgmt("POST", "/v2/mgmt/user/search", body)
	var ids []string
	for _, u := range b["users"].([]any) {
		ids = append(ids, u.(map[string]any)["loginIds"].([]any)[0].(string))
	}
	return ids, b["total"].(float64)
}

// TestMgmtSearch: paging, filters by login id, email, phone, status and
// test flag, over users made by the management API and by OTP sign-up.
func TestMgmtSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	for i := range 5 {
		e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(`{"loginId":"u%d","email":"u%d@example.com","phone":"+1415555020%d"}`, i, i, i))
		e.clock.Add(1e9)
	}
	e.mustMgmt("POST", "/v1/mgmt/user/create/test", `{"loginId":"t0","email":"t0@example.com"}`)
	e.clock.Add(1e9)
	e.login("email", "otp@example.com", "otp@example.com") // made by a verify
	e.mustMgmt("POST", "/v1/mgmt/user/update/status", `{"loginId":"u1","status":"disabled"}`)

	for _, tc := range []struct {
		body  string
		want  string
		total float64
	}{
		{`{}`, "[u0 u1 u2 u3 u4 otp@example.com]", 6},
		{`{"limit":2,"page":1}`, "[u2 u3]", 6},
		{`{"limit":4,"page":1}`, "[u4 otp@example.com]", 6},
		{`{"withTestUser":true}`, "[u0 u1 u2 u3 u4 t0 otp@example.com]", 7},
		{`{"testUsersOnly":true}`, "[t0]", 1},
		{`{"statuses":["disabled"]}`, "[u1]", 1},
		{`{"statuses":["enabled"],"limit":3}`, "[u0 u2 u3]", 5},
		{`{"emails":["U3@example.com","otp@example.com"]}`, "[u3 otp@example.com]", 2},
		{`{"phones":["+14155550204"]}`, "[u4]", 1},
		{`{"loginIds":["U2","t0"]}`, "[u2]", 1},
		{`{"loginIds":["t0"],"withTestUser":true}`, "[t0]", 1},
		{`{"emails":["u1@example.com"],"statuses":["enabled"]}`, "[]", 0},
		{`{"tenantIds":["T1"]}`, "[]", 0}, // a tenant the project does not have: nobody
	} {
		ids, total := searchIDs(t, e, tc.body)
		if fmt.Sprint(ids) != tc.want && !(tc.want == "[]" && ids == nil) || total != tc.total {
			t.Errorf("search %s: %v (total %v), want %s (total %v)", tc.body, ids, total, tc.want, tc.total)
		}
	}
	// The test-user path the Node SDK uses, and the v1 path.
	if b := e.mustMgmt("POST", "/v2/mgmt/user/search/test", `{"testUsersOnly":true,"withTestUser":true}`); len(b["users"].([]any)) != 1 {
		t.Errorf("search/test: %v", b)
	}
	for _, path := range []string{"/v1/mgmt/user/search", "/v1/mgmt/user/search/test"} {
		if b := e.mustMgmt("POST", path, `{"loginIds":["u0","t0"],"withTestUser":true}`); len(b["users"].([]any)) != 2 {
			t.Errorf("%s: %v", path, b)
		}
	}
	// Bad filters are refused with a Descope error, not ignored.
	for _, body := range []string{`{"statuses":["frozen"]}`, `{"limit":100,"page":101}`, `{"emails":["not an email"]}`} {
		if s, b := e.mgmt("POST", "/v2/mgmt/user/search", body); s != 400 || errCodeOf(b) == "" {
			t.Errorf("search %s: %d %v", body, s, b)
		}
	}
	// Email changes move the user in the index.
	e.mustMgmt("POST", "/v1/mgmt/user/update/email", `{"loginId":"u0","email":"moved@example.com"}`)
	if ids, _ := searchIDs(t, e, `{"emails":["u0@example.com"]}`); len(ids) != 0 {
		t.Errorf("old email still indexed: %v", ids)
	}
	if ids, _ := searchIDs(t, e, `{"emails":["moved@example.com"]}`); fmt.Sprint(ids) != "[u0]" {
		t.Errorf("new email not indexed: %v", ids)
	}
	// Search reads indexes, not the keyspace: no SCAN/KEYS in the index layout.
	keys := 0
	for k := range e.dump() {
		if strings.Contains(k, ":ix:") {
			keys++
		}
	}
	if keys == 0 || keys > 7 {
		t.Errorf("expected the project's fixed set of index keys, found %d", keys)
	}
}

// TestMgmtDisabledUser: a disabled user cannot start, cannot verify a code
// sent before, and its refresh token stops working at once; enabling lets
// it sign in again.
func TestMgmtDisabledUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	first := e.login("email", "d@example.com", "d@example.com")
	refresh := first["refreshJwt"]
	// A code sent before the user is disabled.
	if s, b := e.post("/v1/auth/otp/signin/email", `{"loginId":"d@example.com"}`); s != 200 {
		t.Fatalf("start: %d %v", s, b)
	}
	code := e.code("d@example.com")
	before := e.messages()

	u := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update/status", `{"loginId":"d@example.com","status":"disabled"}`))
	if u["status"] != "disabled" {
		t.Fatalf("status: %v", u)
	}
	if s, b := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"d@example.com","code":%q}`, code)); s != 403 || errCodeOf(b) != "E062109" {
		t.Fatalf("verify of an earlier code: %d %v", s, b)
	}
	for _, path := range []string{"/v1/auth/otp/signin/email", "/v1/auth/otp/signup-in/email"} {
		if s, b := e.post(path, `{"loginId":"d@example.com"}`); s != 403 || errCodeOf(b) != "E062109" {
			t.Fatalf("%s: %d %v", path, s, b)
		}
	}
	if e.messages() != before {
		t.Fatal("a disabled user was sent a code")
	}
	for _, path := range []string{"/v1/auth/refresh", "/v1/auth/me"} {
		method := "POST"
		if path == "/v1/auth/me" {
			method = "GET"
		}
		if s, b := e.do(method, path, "", e.bearer(refresh)); s != 401 {
			t.Fatalf("%s with the old refresh token: %d %v", path, s, b)
		}
	}
	// Enabled again: signs in; the old token stays revoked.
	e.mustMgmt("POST", "/v1/mgmt/user/update/status", fmt.Sprintf(`{"userId":%q,"status":"enabled"}`, u["userId"]))
	if got := e.login("email", "d@example.com", "d@example.com"); got["firstSeen"] != false {
		t.Fatalf("sign-in after enabling: %v", got)
	}
	if s, _ := e.do("POST", "/v1/auth/refresh", "", e.bearer(refresh)); s != 401 {
		t.Fatalf("a token revoked by disabling came back: %d", s)
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/user/update/status", `{"loginId":"d@example.com","status":"paused"}`); s != 400 {
		t.Fatalf("bad status: %d %v", s, b)
	}
}

// TestMgmtLogoutUser revokes every session of a user.
func TestMgmtLogoutUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	a := e.login("email", "l@example.com", "l@example.com")
	b := e.login("email", "l@example.com", "l@example.com")
	e.mustMgmt("POST", "/v1/mgmt/user/logout", `{"loginId":"l@example.com"}`)
	for _, r := range []any{a["refreshJwt"], b["refreshJwt"]} {
		if s, body := e.do("POST", "/v1/auth/refresh", "", e.bearer(r)); s != 401 || errCodeOf(body) != "E064001" {
			t.Fatalf("refresh after logout user: %d %v", s, body)
		}
	}
}

// TestMgmtTestUserOTP: a generated code signs a test user in; ordinary
// users are refused; delete all test users spares ordinary users.
func TestMgmtTestUserOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	tu := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/create/test", `{"loginId":"qa@example.com","email":"qa@example.com","verifiedEmail":true}`))
	if tu["test"] != true {
		t.Fatalf("test user: %v", tu)
	}
	b := e.mustMgmt("POST", "/v1/mgmt/tests/generate/otp", `{"deliveryMethod":"email","loginId":"QA@example.com"}`)
	code, _ := b["code"].(string)
	if b["loginId"] != "qa@example.com" || len(code) != 6 {
		t.Fatalf("generate: %v", b)
	}
	if e.messages() != 0 {
		t.Fatal("a generated test code was sent")
	}
	s, v := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"qa@example.com","code":%q}`, code))
	if s != 200 || userOf(t, v)["userId"] != tu["userId"] {
		t.Fatalf("verify of a generated code: %d %v", s, v)
	}
	// Used once.
	if s, _ := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"qa@example.com","code":%q}`, code)); s != 401 {
		t.Fatalf("a generated code worked twice: %d", s)
	}
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"real@example.com","email":"real@example.com","verifiedEmail":true}`)
	if s, b := e.mgmt("POST", "/v1/mgmt/tests/generate/otp", `{"deliveryMethod":"email","loginId":"real@example.com"}`); s != 400 || errCodeOf(b) != "E112104" {
		t.Fatalf("ordinary user: %d %v", s, b)
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/tests/generate/otp", `{"deliveryMethod":"email","loginId":"nobody@example.com"}`); s != 404 || errCodeOf(b) != "E112102" {
		t.Fatalf("unknown user: %d %v", s, b)
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/tests/generate/otp", `{"deliveryMethod":"fax","loginId":"qa@example.com"}`); s != 400 {
		t.Fatalf("bad method: %d %v", s, b)
	}
	e.mustMgmt("POST", "/v1/mgmt/user/create/test", `{"loginId":"qa2"}`)
	e.mustMgmt("DELETE", "/v1/mgmt/user/test/delete/all", "")
	for _, id := range []string{"qa@example.com", "qa2"} {
		if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId="+id, ""); s != 404 {
			t.Fatalf("test user %s survived delete all: %d", id, s)
		}
	}
	if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=real%40example.com", ""); s != 200 {
		t.Fatalf("delete all test users deleted an ordinary user: %d", s)
	}
}

// TestLoginHistory: each verify is recorded with time, IP, user agent and
// channel; /v1/auth/me/history and the management history answer the
// bare array the SDKs parse.
func TestLoginHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.login("email", "h@example.com", "h@example.com")
	e.clock.Add(60e9)
	if s, b := e.post("/v1/auth/otp/signin/email", `{"loginId":"h@example.com"}`); s != 200 {
		t.Fatalf("%d %v", s, b)
	}
	s, v := e.rawJSON("POST", "/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"h@example.com","code":%q}`, e.code("h@example.com")),
		"Bearer "+pid, map[string]string{"User-Agent": "HistoryTest/1.0"})
	if s != 200 {
		t.Fatalf("verify: %d %v", s, v)
	}
	second := v.(map[string]any)
	uid := userOf(t, second)["userId"].(string)
	s, h := e.rawJSON("GET", "/v1/auth/me/history", "", e.bearer(second["refreshJwt"]), nil)
	list, ok := h.([]any)
	if s != 200 || !ok || len(list) != 2 {
		t.Fatalf("me/history: %d %v", s, h)
	}
	newest := list[0].(map[string]any)
	older := list[1].(map[string]any)
	if newest["userId"] != uid || newest["ip"] != "127.0.0.1" || newest["userAgent"] != "HistoryTest/1.0" ||
		newest["channel"] != "email" || newest["city"] != "" || newest["country"] != "" ||
		newest["loginTime"].(float64)-older["loginTime"].(float64) != 60 {
		t.Fatalf("history entries: %v", list)
	}
	s, h = e.rawJSON("POST", "/v1/mgmt/user/history", fmt.Sprintf(`[%q,"U2NOBODY"]`, uid), "Bearer "+pid+":"+mgmtKey, nil)
	if list, ok := h.([]any); s != 200 || !ok || len(list) != 2 {
		t.Fatalf("mgmt history: %d %v", s, h)
	}
	if s, _ := e.rawJSON("GET", "/v1/auth/me/history", "", "Bearer "+pid, nil); s != 401 {
		t.Fatalf("history without a refresh token: %d", s)
	}
}

// TestTenantsWithoutTenants: otpd users are in no tenant.
func TestTenantsWithoutTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.login("email", "t@example.com", "t@example.com")["refreshJwt"]
	for _, body := range []string{`{"dct":true}`, `{"ids":["T1"]}`, `{}`} {
		s, b := e.do("POST", "/v1/auth/me/tenants", body, e.bearer(r))
		if ts, ok := b["tenants"].([]any); s != 200 || !ok || len(ts) != 0 {
			t.Fatalf("me/tenants %s: %d %v", body, s, b)
		}
	}
	if s, b := e.do("POST", "/v1/auth/tenant/select", `{"tenant":"T1"}`, e.bearer(r)); s != 400 || errCodeOf(b) != "E011002" {
		t.Fatalf("tenant/select: %d %v", s, b)
	}
	for path, body := range map[string]string{"/v1/auth/me/tenants": `{"ids":["T1"]}`, "/v1/auth/tenant/select": `{"tenant":"T1"}`} {
		if s, _ := e.do("POST", path, body, "Bearer "+pid); s != 401 {
			t.Fatalf("%s without a session: %d", path, s)
		}
	}
}
