package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDescopeNodeSDK runs Descope's official Node SDK, unmodified, against
// otpd over real HTTP: sign-up, verify, local session validation against the
// published JWKS, error shapes, and an SMS sign-up-or-in.
func TestDescopeNodeSDK(t *testing.T) {
	t.Parallel()
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
	e := newEnvAt(t, time.Now(), false, defaultMgmtKeys()) // the SDK checks exp against the wall clock
	cmd := exec.Command(node, "flow.mjs")
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

	var result map[string]map[string]any
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg struct {
			Need    string                    `json:"need"`
			Advance int                       `json:"advance"`
			Result  map[string]map[string]any `json:"result"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue // SDK chatter
		}
		if msg.Need != "" {
			_, _ = io.WriteString(stdin, e.code(msg.Need)+"\n")
		}
		if msg.Advance > 0 {
			e.clock.Add(time.Duration(msg.Advance) * time.Second)
			_, _ = io.WriteString(stdin, "ok\n")
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

	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %v", name, result[name])
		}
	}
	errCode := func(name string) string {
		m, _ := result[name]["error"].(map[string]any)
		s, _ := m["errorCode"].(string)
		return s
	}
	data := func(name, field string) any {
		m, _ := result[name]["data"].(map[string]any)
		return m[field]
	}
	check("signUp", result["signUp"]["ok"] == true && data("signUp", "maskedEmail") == "n***@example.com")
	user, _ := result["verify"]["user"].(map[string]any)
	check("verify", result["verify"]["ok"] == true && result["verify"]["firstSeen"] == true &&
		user["email"] == "node.sdk@example.com" && user["name"] == "Node SDK")
	check("session", result["session"]["drn"] == "DS" && result["session"]["sub"] == user["userId"] && result["session"]["iss"] == pid)
	check("refresh", result["refresh"]["drn"] == "DSR")
	check("refreshSession", result["refreshSession"]["drn"] == "DS" && result["refreshSession"]["sub"] == user["userId"])
	check("me", result["me"]["ok"] == true && data("me", "userId") == user["userId"] && data("me", "email") == "node.sdk@example.com")
	check("stepUp", result["stepUpStart"]["ok"] == true && result["stepUp"]["ok"] == true && result["stepUp"]["su"] == true)
	ids, _ := result["update"]["loginIds"].([]any)
	check("update", result["updateStart"]["ok"] == true && result["update"]["ok"] == true &&
		result["update"]["email"] == "node.new@example.com" && len(ids) == 2)
	check("updatePhone", result["updatePhoneStart"]["ok"] == true && data("updatePhoneStart", "maskedPhone") == "**********78" &&
		result["updatePhone"]["ok"] == true && result["updatePhone"]["phone"] == "+14155550178")
	check("oldUpdate", result["oldStart"]["ok"] == true && result["oldUpdate"]["ok"] == false && errCode("oldUpdate") == "E064403")
	check("oldStepUp", result["oldStepUpStart"]["ok"] == true && data("oldStepUpStart", "maskedEmail") == "n***@example.com" && result["oldStepUp"]["ok"] == true)
	check("oldUpdated", result["oldUpdateAfterStepUp"]["ok"] == true && result["oldUpdated"]["ok"] == true && result["oldUpdated"]["email"] == "node.old2@example.com")
	check("logout", result["logout"]["ok"] == true)
	check("meAfterLogout", result["meAfterLogout"]["ok"] == false && errCode("meAfterLogout") == "E064001")
	check("signUpAgain", result["signUpAgain"]["ok"] == false && errCode("signUpAgain") == "E062107")
	check("signInUnknown", result["signInUnknown"]["ok"] == false && errCode("signInUnknown") == "E062108")
	check("signIn", result["signIn"]["ok"] == true)
	check("wrongCode", result["wrongCode"]["ok"] == false && errCode("wrongCode") == "E061102")
	check("smsStart", result["smsStart"]["ok"] == true && data("smsStart", "maskedPhone") == "**********77")
	check("smsVerify", result["smsVerify"]["ok"] == true && result["smsVerify"]["phone"] == "+14155550177")
	checkNodeSessionExtras(t, result, check, errCode)
	checkNodeManagement(t, result, check, errCode)
}
