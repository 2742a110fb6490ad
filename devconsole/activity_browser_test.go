package devconsole_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserInboxShowsBlockedSendsAndDeliveryStatuses: the inbox page
// lists refused starts (with their Descope error; a login id full of
// markup shown as text) and every provider's delivery attempts with their
// outcome (here a webhook gateway that refuses the message).
func TestBrowserInboxShowsBlockedSendsAndDeliveryStatuses(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unknown number", http.StatusBadRequest) // permanent
	}))
	t.Cleanup(gw.Close)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "otpd.yaml")
	yml := "projects:\n- id: P2ActivityProject\n  delivery:\n    providers:\n" +
		"    - {id: l, type: log, channels: [email]}\n" +
		"    - {id: gw, type: webhook, channels: [sms], webhook: {url: \"" + gw.URL + "\", secretFile: " + secret + ", allowHttp: true}}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startOtpd(t, map[string]string{"OTPD_CONFIG": cfg})
	auth := "Bearer P2ActivityProject"
	if s, b := rest(t, "POST", base+"/v1/auth/otp/signin/email", auth, `{"loginId":"nobody@example.com"}`); s == 200 {
		t.Fatalf("sign-in of an unknown user: %d %v", s, b)
	}
	payload := `<img src=x onerror="window.__xss=1">`
	rest(t, "POST", base+"/v1/auth/otp/signin/email", auth, `{"loginId":`+jsonString(payload)+`}`)
	if s, b := rest(t, "POST", base+"/v1/auth/otp/signup-in/sms", auth, `{"loginId":"+14155550123"}`); s != 200 {
		t.Fatalf("sms start: %d %v", s, b)
	}

	ctx := browser(t)
	var errText, outcome, failure, shownPayload string
	var xss bool
	err := steps(ctx, t,
		chromedp.Navigate(base+"/dev/"),
		chromedp.WaitVisible(`//table[@id="blocked"]//tr[td[.="nobody@example.com"]]`),
		into(chromedp.Text(`//table[@id="blocked"]//tr[td[.="nobody@example.com"]]/td[5]`), &errText),
		chromedp.WaitVisible(`//table[@id="deliveries"]//tr[td[.="+14155550123"]]/td[5][.="failed"]`),
		into(chromedp.Text(`//table[@id="deliveries"]//tr[td[.="+14155550123"]]/td[5]`), &outcome),
		into(chromedp.Text(`//table[@id="deliveries"]//tr[td[.="+14155550123"]]/td[6]`), &failure),
		into(chromedp.Text(`//table[@id="blocked"]/tbody/tr[1]/td[4]`), &shownPayload),
		into(chromedp.Evaluate[bool](`window.__xss === 1 || document.querySelectorAll('#blocked img').length > 0`), &xss),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "console-activity.png")
	if !strings.HasPrefix(errText, "E") {
		t.Errorf("blocked sign-in shows error %q, want a Descope code", errText)
	}
	if outcome != "failed" || !strings.Contains(failure, "400") {
		t.Errorf("the refused webhook delivery shows %q %q", outcome, failure)
	}
	if shownPayload != payload || xss {
		t.Errorf("a login id full of markup shows as %q (ran: %v)", shownPayload, xss)
	}
}
