package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runNodeScript runs a script of sdktest/node against a fresh otpd on
// the default configuration (flow.mjs's protocol) and returns its result.
func runNodeScript(t *testing.T, script string) nodeResult {
	t.Helper()
	dir, err := filepath.Abs("../sdktest/node")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@descope", "node-sdk"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or the pinned SDK is missing under CI=true (make test runs npm ci in sdktest/node): %v", err)
		}
		t.Skipf("node SDK not installed (run: cd sdktest/node && npm ci): %v", err)
	}
	e := newEnvAt(t, time.Now(), false, defaultMgmtKeys())
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTPD_BASE_URL="+e.base, "OTPD_PROJECT_ID="+e.project, "OTPD_MGMT_KEY="+mgmtKeyRotated)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var result nodeResult
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg struct {
			Need   string     `json:"need"`
			Result nodeResult `json:"result"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		if msg.Need != "" {
			_, _ = io.WriteString(stdin, e.code(msg.Need)+"\n")
		}
		if msg.Result != nil {
			result = msg.Result
		}
	}
	if err := cmd.Wait(); err != nil || result == nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		t.Fatalf("node SDK run failed: %v\n%s", err, tail)
	}
	return result
}

// TestDescopeNodeSDKAuthz: the unmodified Node SDK manages permissions,
// roles (project and tenant-scoped) and tenants, gives a user roles and a
// tenant, finds users by role or tenant, and its validateRoles/
// validatePermissions/validateTenantRoles/validateTenantPermissions/
// getMatched* answer from otpd's tokens; selectTenant and myTenants work;
// a deleted role, a renamed permission, a renamed tenant role and a
// deleted tenant show in the next refreshed session.
func TestDescopeNodeSDKAuthz(t *testing.T) {
	t.Parallel()
	res := runNodeScript(t, "authz.mjs")
	ok := func(name string) bool { return res[name]["ok"] == true }
	errCode := func(name string) string {
		m, _ := res[name]["error"].(map[string]any)
		return fmt.Sprint(m["errorCode"])
	}
	data := func(name string) map[string]any { m, _ := res[name]["data"].(map[string]any); return m }
	check := func(name string, cond bool) {
		t.Helper()
		if !cond {
			b, _ := json.Marshal(res[name])
			t.Errorf("%s: %s", name, b)
		}
	}
	for _, n := range []string{"permCreate", "permCreate2", "roleCreate", "roleCreate2", "tenantCreate", "tenantDefaults",
		"setRoles", "addTenant", "setTenantRoles", "permRename", "roleDelete", "tenantDelete",
		"roleTenantScoped", "roleTenantSameName", "addScoped", "roleUpdateScoped"} {
		check(n, ok(n))
	}
	check("permDup", !ok("permDup") && errCode("permDup") == "E011002")
	check("roleBadPerm", !ok("roleBadPerm") && errCode("roleBadPerm") == "E011002")
	check("roleNoSuchTenant", !ok("roleNoSuchTenant") && errCode("roleNoSuchTenant") == "E011002")
	check("roleTenantDup", !ok("roleTenantDup") && errCode("roleTenantDup") == "E011002")
	roleNames := func(name string) string {
		var out []string
		rs, _ := res[name]["data"].([]any)
		for _, r := range rs {
			m := r.(map[string]any)
			out = append(out, fmt.Sprintf("%v/%v", m["tenantId"], m["name"]))
		}
		return strings.Join(out, " ")
	}
	check("roleAllTenant", roleNames("roleAllTenant") == "/editor /viewer acme/editor acme/scoped")
	check("roleSearchTenant", roleNames("roleSearchTenant") == "acme/editor acme/scoped")
	check("roleSearchTenantAndProject", roleNames("roleSearchTenantAndProject") == "/editor /viewer acme/editor acme/scoped")
	check("roleAllAfter", roleNames("roleAllAfter") == "/viewer")
	emails := func(name string) string {
		var out []string
		us, _ := res[name]["data"].([]any)
		if m, isObj := res[name]["data"].(map[string]any); isObj { // search answers {users, total}
			us, _ = m["users"].([]any)
		}
		for _, u := range us {
			out = append(out, fmt.Sprint(u.(map[string]any)["email"]))
		}
		return fmt.Sprint(out)
	}
	check("searchByTenant", emails("searchByTenant") == "[authz.node@example.com]")
	check("searchByRole", emails("searchByRole") == "[authz.node@example.com]")
	check("searchByOtherTenant", ok("searchByOtherTenant") && emails("searchByOtherTenant") == "[]")
	check("searchByRoleAfter", ok("searchByRoleAfter") && emails("searchByRoleAfter") == "[]")
	check("tenantSSO", !ok("tenantSSO") && errCode("tenantSSO") == "E011003")
	check("addRoleUnknown", !ok("addRoleUnknown") && errCode("addRoleUnknown") == "E011002")
	check("wrongKey", !ok("wrongKey") && errCode("wrongKey") == "E011401")
	check("permAll", fmt.Sprint(res["permAll"]["data"]) == "[map[description:can read name:read systemDefault:false] map[description: name:write systemDefault:false]]")
	roles, _ := res["roleAll"]["data"].([]any)
	check("roleAll", len(roles) == 2)
	found, _ := res["roleSearch"]["data"].([]any)
	check("roleSearch", len(found) == 1 && fmt.Sprint(found[0].(map[string]any)["permissionNames"]) == "[read write]")
	check("tenantCreate", data("tenantCreate")["id"] == "acme")
	check("tenantCreateNoId", ok("tenantCreateNoId") && strings.HasPrefix(fmt.Sprint(data("tenantCreateNoId")["id"]), "T"))
	check("tenantLoad", data("tenantLoad")["name"] == "Acme" && fmt.Sprint(data("tenantLoad")["selfProvisioningDomains"]) == "[acme.io]" &&
		fmt.Sprint(data("tenantLoad")["customAttributes"]) == "map[tier:gold]")
	all, _ := res["tenantAll"]["data"].([]any)
	check("tenantAll", len(all) == 2)
	tsearch, _ := res["tenantSearch"]["data"].([]any)
	check("tenantSearch", len(tsearch) == 1)
	check("load", fmt.Sprint(data("load")["roleNames"]) == "[editor]" &&
		fmt.Sprint(data("load")["userTenants"]) == "[map[permissions:[read] roleNames:[viewer] tenantId:acme tenantName:Acme]]")

	c := res["claims"]
	check("claims", c["roles"] == true && c["perms"] == true && c["tenantRoles"] == true && c["tenantPerms"] == true &&
		c["otherTenant"] == false && fmt.Sprint(c["matchedRoles"]) == "[editor]" && fmt.Sprint(c["matchedPerms"]) == "[write]" &&
		fmt.Sprint(c["matchedTenantRoles"]) == "[viewer]" && fmt.Sprint(c["matchedTenantPerms"]) == "[read]" &&
		c["scopedRole"] == false && c["scopedAtProject"] == false)
	sc := res["claimsScoped"]
	check("claimsScoped", sc["scopedRole"] == true && sc["scopedAtProject"] == false && fmt.Sprint(sc["matchedTenantRoles"]) == "[viewer scoped]" &&
		fmt.Sprint(sc["matchedTenantPerms"]) == "[read write]" && sc["roles"] == true)
	check("claimsScopedRenamed", fmt.Sprint(res["claimsScopedRenamed"]["token"]) ==
		"map[permissions:[read write] roles:[editor] tenants:map[acme:map[permissions:[read write] roles:[viewer lead]]]]")
	check("me", fmt.Sprint(data("me")["roleNames"]) == "[editor]" &&
		fmt.Sprint(data("me")["userTenants"]) == "[map[permissions:[read] roleNames:[viewer] tenantId:acme tenantName:Acme]]")
	check("myTenantsAll", fmt.Sprint(data("myTenantsAll")["tenants"]) == "[map[customAttributes:map[tier:gold] id:acme name:Acme]]")
	check("myTenantsDctBefore", fmt.Sprint(data("myTenantsDctBefore")["tenants"]) == "[]")
	check("selectOther", !ok("selectOther") && errCode("selectOther") == "E011002")
	st := res["selectTenant"]
	check("selectTenant", st["ok"] == true && st["dct"] == "acme" && st["dctAfterRefresh"] == "acme")
	check("myTenantsDct", fmt.Sprint(data("myTenantsDct")["tenants"]) == "[map[customAttributes:map[tier:gold] id:acme name:Acme]]")
	a := res["afterRoleDelete"]
	check("afterRoleDelete", a["roles"] == false && a["perms"] == false && a["tenantRoles"] == true && a["tenantPerms"] == false &&
		fmt.Sprint(a["token"]) == "map[permissions:<nil> roles:<nil> tenants:map[acme:map[permissions:[view write] roles:[viewer lead]]]]")
	d := res["afterTenantDelete"]
	check("afterTenantDelete", d["tenantRoles"] == false && fmt.Sprint(d["token"]) == "map[permissions:<nil> roles:<nil> tenants:<nil>]")
	check("loadAfter", fmt.Sprint(data("loadAfter")["roleNames"]) == "[]" && fmt.Sprint(data("loadAfter")["userTenants"]) == "[]")
}
