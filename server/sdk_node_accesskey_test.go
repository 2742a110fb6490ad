package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestDescopeNodeSDKAccessKeys: the unmodified Node SDK manages access
// keys (the cleartext once, at create), exchanges one for a session JWT
// that its own validateSession accepts against otpd's JWKS, and its
// validateRoles/validatePermissions/validateTenantRoles answer from the
// key's claims; a deactivated or deleted key is refused, and the key's
// JWT is no user session.
func TestDescopeNodeSDKAccessKeys(t *testing.T) {
	t.Parallel()
	res := runNodeScript(t, "accesskey.mjs")
	if testing.Verbose() {
		b, _ := json.Marshal(res)
		t.Logf("%s", b)
	}
	ok := func(name string) bool { return res[name]["ok"] == true }
	errCode := func(name string) string {
		m, _ := res[name]["error"].(map[string]any)
		return fmt.Sprint(m["errorCode"])
	}
	data := func(name string) map[string]any { m, _ := res[name]["data"].(map[string]any); return m }
	list := func(name string) []any { l, _ := res[name]["data"].([]any); return l }
	check := func(name string, cond bool) {
		t.Helper()
		if !cond {
			b, _ := json.Marshal(res[name])
			t.Errorf("%s: %s", name, b)
		}
	}
	for _, n := range []string{"create", "load", "searchAll", "update", "deactivate", "activate", "delete", "exchangeActivated"} {
		check(n, ok(n))
	}
	key, _ := data("create")["key"].(map[string]any)
	id := fmt.Sprint(key["id"])
	check("create", strings.HasPrefix(id, "K") && strings.HasPrefix(fmt.Sprint(data("create")["cleartext"]), id+".") &&
		fmt.Sprint(key["roleNames"]) == "[reader]" && fmt.Sprint(key["permittedIps"]) == "[127.0.0.1 ::1]")
	check("createBoundUser", !ok("createBoundUser") && errCode("createBoundUser") == "E011003")
	check("createBadIp", !ok("createBadIp") && errCode("createBadIp") == "E011003")
	check("load", data("load")["id"] == id && data("load")["cleartext"] == nil && data("load")["description"] == "the billing service" &&
		fmt.Sprint(data("load")["keyTenants"]) == "[map[roleNames:[writer] tenantId:acme tenantName:Acme]]")
	check("searchAll", len(list("searchAll")) == 1)
	check("searchTenant", len(list("searchTenant")) == 1)
	check("searchOther", ok("searchOther") && len(list("searchOther")) == 0)
	x := res["exchange"]
	check("exchange", x["ok"] == true && x["sub"] == id && x["roles"] == true && x["notRoles"] == false && x["perms"] == true &&
		x["notPerms"] == false && x["tenantRoles"] == true && x["tenantPerms"] == true && fmt.Sprint(x["matchedRoles"]) == "[reader]")
	check("validateSession", res["validateSession"]["ok"] == true && res["validateSession"]["sub"] == id)
	check("refreshWithKeyJwt", res["refreshWithKeyJwt"]["ok"] == false)
	check("meWithKeyJwt", !ok("meWithKeyJwt") && errCode("meWithKeyJwt") == "E064002")
	check("selectedTenant", res["selectedTenant"]["ok"] == true && res["selectedTenant"]["dct"] == "acme")
	check("wrongKey", !ok("wrongKey"))
	check("update", data("update")["name"] == "billing-v2" && fmt.Sprint(data("update")["roleNames"]) == "[writer]" &&
		len(data("update")["keyTenants"].([]any)) == 1)
	check("afterUpdate", res["afterUpdate"]["writer"] == true && res["afterUpdate"]["reader"] == false)
	check("afterRoleDelete", res["afterRoleDelete"]["ok"] == true && res["afterRoleDelete"]["writer"] == false)
	check("exchangeDeactivated", !ok("exchangeDeactivated") && strings.Contains(fmt.Sprint(res["exchangeDeactivated"]["error"]), "deactivated"))
	check("exchangeDeleted", !ok("exchangeDeleted"))
	check("loadDeleted", !ok("loadDeleted") && errCode("loadDeleted") == "E011002")
}
