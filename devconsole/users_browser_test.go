package devconsole_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpd/otpd"
	"github.com/otpd/otpd/config"
)

const consoleMgmtKey = "console-test-key-0123456789abcdefghij"

// rest calls otpd's REST API and decodes the answer.
func rest(t *testing.T, method, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// TestBrowserUsersPage drives the Users page in Chromium on the default
// configuration plus a management key: a wrong key is refused and says
// so; search lists users (a name full of markup shows as text); a test
// user is created, gets a code that signs it in, and its login history
// shows the login; disable stops its sign-ins and enable restores them;
// logout and delete work.
func TestBrowserUsersPage(t *testing.T) {
	base := startOtpd(t, map[string]string{"OTPD_MANAGEMENT_KEYS": "console=" + consoleMgmtKey})
	pid := config.DefaultProjectID
	mgmtAuth := "Bearer " + pid + ":" + consoleMgmtKey
	payload := `<img src=x onerror="window.__xss=1">"><script>window.__xss=1</script>`
	if s, b := rest(t, "POST", base+"/v1/mgmt/user/create", mgmtAuth,
		`{"loginId":"mallory@example.com","email":"mallory@example.com","displayName":`+jsonString(payload)+`}`); s != 200 {
		t.Fatalf("create: %d %v", s, b)
	}

	ctx := browser(t)
	var status, result string
	err := steps(ctx, t,
		chromedp.Navigate(base+"/dev/users"),
		chromedp.WaitReady(chromedp.CSS(`#project option`)),
		chromedp.SetValue(chromedp.CSS(`#mgmtKey`), "not-the-key-0123456789abcdefghijklmn"),
		chromedp.Click(chromedp.CSS(`#saveKey`)),
		chromedp.WaitVisible(`//div[@id="status"][contains(., "/v2/mgmt/user/search →")]`),
		into(chromedp.Text(chromedp.CSS(`#status`)), &status),
		into(chromedp.Text(chromedp.CSS(`#result`)), &result),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "→ 401") || !strings.Contains(result, "E011401") || !strings.Contains(result, "management key was refused") {
		t.Errorf("a wrong key: %q %q", status, result)
	}

	var name string
	var xss bool
	err = steps(ctx, t,
		chromedp.SetValue(chromedp.CSS(`#mgmtKey`), consoleMgmtKey),
		chromedp.Click(chromedp.CSS(`#saveKey`)),
		chromedp.WaitVisible(`//table[@id="results"]//tr[td[contains(., "mallory@example.com")]]`),
		into(chromedp.Text(`//table[@id="results"]//tr[td[contains(., "mallory@example.com")]]/td[2]`), &name),
		into(chromedp.Evaluate[bool](`window.__xss === 1 || document.querySelectorAll('#results img, #results script').length > 0`), &xss),
	)
	if err != nil {
		t.Fatal(err)
	}
	if name != payload || xss {
		t.Errorf("a user's name shown as %q (script ran or markup inserted: %v), want the text", name, xss)
	}

	// A test user, its code, a sign-in with it, and the login in its history.
	const ada = "test-ada@example.com"
	var isTest, code string
	err = steps(ctx, t,
		chromedp.SendKeys(chromedp.CSS(`#newLoginId`), ada),
		chromedp.SendKeys(chromedp.CSS(`#newEmail`), ada),
		chromedp.Click(chromedp.CSS(`#create`)),
		chromedp.WaitVisible(`//dd[@data-field="Test user"][.="yes"]`),
		into(chromedp.Text(`//dd[@data-field="Test user"]`), &isTest),
		chromedp.Click(chromedp.CSS(`#generate`)),
		chromedp.WaitVisible(`//div[@id="genCode"][string-length(.) > 0]`),
		into(chromedp.Text(chromedp.CSS(`#genCode`)), &code),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Fatalf("generated code %q", code)
	}
	if s, b := rest(t, "POST", base+"/v1/auth/otp/verify/email", "Bearer "+pid, `{"loginId":"`+ada+`","code":"`+code+`"}`); s != 200 {
		t.Fatalf("verify with the generated code: %d %v", s, b)
	}
	var channel, userStatus string
	err = steps(ctx, t,
		chromedp.Click(`//table[@id="results"]//tr[td[contains(., "`+ada+`")]]//button`),
		chromedp.WaitVisible(`//table[@id="history"]/tbody/tr`),
		into(chromedp.Text(`//table[@id="history"]/tbody/tr[1]/td[2]`), &channel),
		chromedp.Click(chromedp.CSS(`#toggleStatus`)),
		chromedp.WaitVisible(`//dd[@data-field="Status"][.="disabled"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if channel != "email" {
		t.Errorf("login history channel %q, want email", channel)
	}
	if s, _ := rest(t, "POST", base+"/v1/auth/otp/signin/email", "Bearer "+pid, `{"loginId":"`+ada+`"}`); s != http.StatusForbidden {
		t.Errorf("sign-in of the disabled user: %d, want 403", s)
	}
	screenshot(t, ctx, "console-users.png")
	err = steps(ctx, t,
		chromedp.Click(chromedp.CSS(`#toggleStatus`)),
		chromedp.WaitVisible(`//dd[@data-field="Status"][.="enabled"]`),
		into(chromedp.Text(`//dd[@data-field="Status"]`), &userStatus),
		chromedp.Click(chromedp.CSS(`#logoutUser`)),
		chromedp.WaitVisible(`//div[@id="status"][contains(., "/v1/mgmt/user/logout → 200")]`),
		into(chromedp.Evaluate[bool](`(window.confirm = () => true, true)`), &xss),
		chromedp.Click(chromedp.CSS(`#deleteUser`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#userCard`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rest(t, "GET", base+"/v1/mgmt/user?loginId="+ada, mgmtAuth, ""); s != http.StatusNotFound {
		t.Errorf("the deleted user loads: %d", s)
	}
}

// TestBrowserAPIReference: /dev/reference renders every operation of
// /openapi.json with its summary and description, from the console's own
// script (no CDN: the page's CSP allows only its own origin).
func TestBrowserAPIReference(t *testing.T) {
	base := startOtpd(t, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(otpd.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	signUp := doc.Paths["/v1/auth/otp/signup/email"]["post"]
	ctx := browser(t)
	var count int
	var summary, desc string
	err := steps(ctx, t,
		chromedp.Navigate(base+"/dev/reference"),
		chromedp.WaitVisible(chromedp.CSS(`article[data-operation="OtpEmail_SignUp"]`)),
		into(chromedp.Evaluate[int](`document.querySelectorAll("article[data-operation]").length`), &count),
		into(chromedp.Text(chromedp.CSS(`article[data-operation="OtpEmail_SignUp"] .summary`)), &summary),
		into(chromedp.Text(chromedp.CSS(`article[data-operation="OtpEmail_SignUp"] .desc`)), &desc),
		chromedp.Sleep(200*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Errorf("the page shows %d operations, the document has %d", count, n)
	}
	if summary != signUp.Summary || summary == "" {
		t.Errorf("summary %q, want %q", summary, signUp.Summary)
	}
	if !strings.Contains(strings.Join(strings.Fields(desc), " "), strings.Join(strings.Fields(signUp.Description), " ")[:40]) {
		t.Errorf("description %q, want %q", desc, signUp.Description)
	}
	// The first screen (the whole page is tens of thousands of pixels).
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactsDir(t), "console-reference.png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }
