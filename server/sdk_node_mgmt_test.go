package server_test

import (
	"fmt"
	"testing"
)

type nodeResult = map[string]map[string]any

// checkNodeSessionExtras: history, my tenants and tenant selection, as the
// Node SDK calls and parses them.
func checkNodeSessionExtras(t *testing.T, result nodeResult, check func(string, bool), errCode func(string) string) {
	t.Helper()
	hist, _ := result["history"]["data"].([]any)
	var entry map[string]any
	if len(hist) > 0 {
		entry, _ = hist[0].(map[string]any)
	}
	check("history", result["history"]["ok"] == true && len(hist) == 1 && entry["ip"] == "127.0.0.1" &&
		entry["channel"] == "sms" && entry["loginTime"].(float64) > 0)
	tenants, _ := result["myTenants"]["data"].(map[string]any)["tenants"].([]any)
	check("myTenants", result["myTenants"]["ok"] == true && tenants != nil && len(tenants) == 0)
	check("selectTenant", result["selectTenant"]["ok"] == false && errCode("selectTenant") == "E011002")
}

// checkNodeManagement: management.user.* of the unmodified Node SDK.
func checkNodeManagement(t *testing.T, result nodeResult, check func(string, bool), errCode func(string) string) {
	t.Helper()
	data := func(name string) map[string]any { m, _ := result[name]["data"].(map[string]any); return m }
	ok := func(name string) bool { return result[name]["ok"] == true }
	created := data("mCreate")
	check("mCreate", ok("mCreate") && created["email"] == "mgmt.node@example.com" && created["name"] == "Mgmt Node" &&
		fmt.Sprint(created["customAttributes"]) == "map[plan:pro]")
	uid := created["userId"]
	check("mLoad", ok("mLoad") && data("mLoad")["userId"] == uid)
	check("mLoadById", ok("mLoadById") && data("mLoadById")["email"] == "mgmt.node@example.com")
	check("mUpdate", ok("mUpdate") && data("mUpdate")["name"] == "Renamed" && fmt.Sprint(data("mUpdate")["customAttributes"]) == "map[]")
	check("mPatch", ok("mPatch") && data("mPatch")["givenName"] == "Given" && data("mPatch")["name"] == "Renamed")
	check("mName", ok("mName") && data("mName")["name"] == "Display" && data("mName")["givenName"] == "Given")
	check("mAttr", ok("mAttr") && fmt.Sprint(data("mAttr")["customAttributes"]) == "map[seats:5]")
	check("mEmail", ok("mEmail") && data("mEmail")["email"] == "mgmt.new@example.com" && data("mEmail")["verifiedEmail"] == true)
	check("mPhone", ok("mPhone") && data("mPhone")["phone"] == "+14155550188")
	check("mLoginId", ok("mLoginId") && fmt.Sprint(data("mLoginId")["loginIds"]) == "[mgmt-node]")
	check("mDeactivate", ok("mDeactivate") && data("mDeactivate")["status"] == "disabled")
	check("signInDisabled", result["signInDisabled"]["ok"] == false && errCode("signInDisabled") == "E062109")
	check("mActivate", ok("mActivate") && data("mActivate")["status"] == "enabled")
	found, _ := data("mSearch")["users"].([]any)
	check("mSearch", ok("mSearch") && len(found) == 1 && data("mSearch")["total"] == float64(1))
	byID, _ := data("mSearchIds")["users"].([]any)
	check("mSearchIds", ok("mSearchIds") && len(byID) == 1 && data("mSearchIds")["total"] == float64(1))
	future, _ := data("mSearchFuture")["users"].([]any)
	check("mSearchFuture", ok("mSearchFuture") && len(future) == 0)
	check("mPatchIds", ok("mPatchIds") && fmt.Sprint(data("mPatchIds")["loginIds"]) == "[mgmt-node mgmt-node-alt]")
	check("mSearchTenants", !ok("mSearchTenants") && errCode("mSearchTenants") == "E011003")
	loaded, _ := result["mLoadUsers"]["data"].([]any)
	check("mLoadUsers", ok("mLoadUsers") && len(loaded) == 2)
	check("mLogout", ok("mLogout"))
	hist, _ := result["mHistory"]["data"].([]any)
	check("mHistory", ok("mHistory") && len(hist) == 1)
	check("mTest", ok("mTest") && data("mTest")["test"] == true)
	check("mOtp", ok("mOtp") && data("mOtp")["loginId"] == "qa.node@example.com" && len(fmt.Sprint(data("mOtp")["code"])) == 6)
	check("testVerify", result["testVerify"]["ok"] == true && result["testVerify"]["userId"] == data("mTest")["userId"])
	check("testClaims", fmt.Sprint(result["testClaims"]["nsec"]) == "map[suite:e2e]")
	// loginOptions.tenantId is honoured (authz): T1 is no tenant of the
	// user, refused before anything is sent.
	check("tenantStart", result["tenantStart"]["ok"] == false && errCode("tenantStart") == "E011002")
	check("mOtpOrdinary", result["mOtpOrdinary"]["ok"] == false && errCode("mOtpOrdinary") == "E112104")
	check("mDeleteTests", ok("mDeleteTests"))
	check("mLoadTestAfter", result["mLoadTestAfter"]["ok"] == false && errCode("mLoadTestAfter") == "E112102")
	check("mDelete", ok("mDelete"))
	check("mLoadAfterDelete", result["mLoadAfterDelete"]["ok"] == false && errCode("mLoadAfterDelete") == "E112102")
	check("mWrongKey", result["mWrongKey"]["ok"] == false && errCode("mWrongKey") == "E011401")
}
