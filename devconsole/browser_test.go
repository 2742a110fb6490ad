package devconsole_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
)

// startOtpd serves otpd on loopback with the configuration env describes
// (nothing: the embedded default) and returns its REST base URL.
func startOtpd(t *testing.T, env map[string]string) string {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := store.StartEmbedded(clock.Real{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Redis: emb.Client, Clock: clock.Real{},
		Log: slog.New(slog.DiscardHandler), CodeLog: io.Discard})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, gl, hl) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + hl.Addr().String()
}

// chromiumPath finds Debian's chromium (scripts/ensure-chromium.sh
// installs it; `make test` runs that script).
func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM_BIN"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// artifactsDir is $ARTIFACTS_DIR or the repository's .artifacts/.
func artifactsDir(t *testing.T) string {
	d := os.Getenv("ARTIFACTS_DIR")
	if d == "" {
		d = filepath.Join("..", ".artifacts")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// browser starts headless Chromium and returns a tab's context; on test
// failure it saves a screenshot of the tab to the artifacts folder.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (run scripts/ensure-chromium.sh); the browser test must run under CI")
		}
		t.Skip("chromium is not installed; run scripts/ensure-chromium.sh (make test does)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			sctx, c := context.WithTimeout(tab, 10*time.Second)
			if png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)); err == nil {
				p := filepath.Join(artifactsDir(t), "failure-"+t.Name()+".png")
				if os.WriteFile(p, png, 0o644) == nil {
					t.Logf("screenshot of the failure: %s", p)
				}
			}
			c()
		}
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// TestBrowserSignUpByEmail signs up by email on the default configuration
// through the Try it page in a real browser, takes the code from the
// inbox, verifies, calls me, and sees the message in the Inbox page.
func TestBrowserSignUpByEmail(t *testing.T) {
	base := startOtpd(t, nil)
	ctx := browser(t)
	const email = "ada.lovelace@example.com"
	var code, claims, status, me string
	err := steps(ctx, t,
		chromedp.Navigate(base+"/dev/try"),
		chromedp.WaitReady(chromedp.CSS(`#project option`)),
		chromedp.SetValue(chromedp.CSS(`#op`), "signup"),
		chromedp.SendKeys(chromedp.CSS(`#loginId`), email),
		chromedp.Click(chromedp.CSS(`#start`)),
		chromedp.WaitVisible(chromedp.CSS(`#inbox article[data-channel="email"] button.code`)),
		into(chromedp.Text(chromedp.CSS(`#inbox article[data-channel="email"] button.code`)), &code),
		chromedp.Click(chromedp.CSS(`#inbox article[data-channel="email"] button.code`)),
		chromedp.Click(chromedp.CSS(`#verify`)),
		chromedp.WaitEnabled(chromedp.CSS(`#me`)),
		into(chromedp.Text(chromedp.CSS(`#sessionClaims`)), &claims),
		into(chromedp.Text(chromedp.CSS(`#status`)), &status),
		chromedp.Click(chromedp.CSS(`#me`)),
		chromedp.WaitVisible(`//div[@id="status"][contains(., "/v1/auth/me →")]`),
		into(chromedp.Text(chromedp.CSS(`#result`)), &me),
	)
	if err != nil {
		t.Fatalf("sign-up in the browser: %v", err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Fatalf("the inbox shows code %q, want 6 digits", code)
	}
	if !strings.Contains(status, "/v1/auth/otp/verify/email → 200") {
		t.Errorf("verify status line = %q", status)
	}
	if !strings.Contains(claims, `"sub"`) || !strings.Contains(claims, `"exp"`) {
		t.Errorf("session claims shown = %q, want sub and exp", claims)
	}
	if !strings.Contains(me, email) {
		t.Errorf("me answered %q, want the login id %s", me, email)
	}
	if err := steps(ctx, t, chromedp.Sleep(300*time.Millisecond)); err != nil { // let the message frame paint
		t.Fatal(err)
	}
	screenshot(t, ctx, "console-try.png")

	// Starting again right away meets the resend cooldown (429 with
	// Retry-After) or sends a new code; a wrong code shows Descope's error
	// body either way.
	var againStatus, errStatus, errBody string
	err = steps(ctx, t,
		chromedp.SetValue(chromedp.CSS(`#op`), "signin"),
		chromedp.Click(chromedp.CSS(`#start`)),
		chromedp.WaitVisible(`//div[@id="status"][contains(., "/v1/auth/otp/signin/email →")]`),
		into(chromedp.Text(chromedp.CSS(`#status`)), &againStatus),
		chromedp.SetValue(chromedp.CSS(`#code`), "12345x"),
		chromedp.Click(chromedp.CSS(`#verify`)),
		chromedp.WaitVisible(`//div[@id="status"][contains(., "/v1/auth/otp/verify/email →")]`),
		into(chromedp.Text(chromedp.CSS(`#status`)), &errStatus),
		into(chromedp.Text(chromedp.CSS(`#result`)), &errBody),
	)
	if err != nil {
		t.Fatalf("second start and wrong code in the browser: %v", err)
	}
	if strings.Contains(againStatus, "429") != strings.Contains(againStatus, "Retry-After") {
		t.Errorf("second start: %q (a 429 must show its Retry-After)", againStatus)
	}
	if !strings.Contains(errStatus, "→ 4") || !strings.Contains(errBody, `"errorCode"`) || !strings.Contains(errBody, `"errorDescription"`) {
		t.Errorf("wrong code shows %q %q, want a 4xx with Descope's error body", errStatus, errBody)
	}
	t.Logf("second start: %s; wrong code: %s", againStatus, errStatus)

	var subject string
	var sandbox chromedp.AttributeResult
	err = steps(ctx, t,
		chromedp.Navigate(base+"/dev/"),
		chromedp.WaitVisible(chromedp.CSS(`#inbox article[data-channel="email"] iframe`)),
		into(chromedp.Text(chromedp.CSS(`#inbox article[data-channel="email"] .subject`)), &subject),
		into(chromedp.AttributeValue(chromedp.CSS(`#inbox article[data-channel="email"] iframe`), "sandbox"), &sandbox),
		chromedp.Sleep(300*time.Millisecond), // let the iframes paint
	)
	if err != nil {
		t.Fatalf("inbox page: %v", err)
	}
	if subject == "" || !sandbox.Exists || sandbox.Value != "" {
		t.Errorf("inbox email: subject %q, sandbox attribute %+v (want an empty sandbox)", subject, sandbox)
	}
	screenshot(t, ctx, "console-inbox.png")
}

// TestBrowserInboxEscapesMessageContent: message parts carry
// attacker-controlled text (templateOptions printed by a custom template,
// addresses). The inbox must show markup as text, run no script from a
// message, and load nothing from the network for a message's HTML.
func TestBrowserInboxEscapesMessageContent(t *testing.T) {
	var pings atomic.Int32
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pings.Add(1) }), ReadHeaderTimeout: time.Second}
	go func() { _ = ps.Serve(pl) }()
	t.Cleanup(func() { _ = ps.Close() })
	ping := "http://" + pl.Addr().String() + "/"

	dir := t.TempDir()
	tpl := filepath.Join(dir, "templates", "default", "en")
	if err := os.MkdirAll(tpl, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"email.subject.txt": `Hi {{.Option "name"}}`,
		"email.txt":         `{{.Code}} for {{.Option "name"}}`,
		// A template author's script and tracking pixel: the sandbox and
		// its CSP must keep both from running or loading.
		"email.html": `<p>{{.Code}}</p><img src="` + ping + `pixel"><script>window.parent.__xss = 1; new Image().src = "` + ping + `script";</script>`,
		"sms.txt":    `{{.Code}} {{.Option "name"}}`,
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(tpl, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(dir, "otpd.yaml")
	yml := "projects:\n- id: P2XssProject\n  delivery:\n    templatesDir: " + filepath.Join(dir, "templates") + "\n"
	if err := os.WriteFile(cfgFile, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startOtpd(t, map[string]string{"OTPD_CONFIG": cfgFile})

	payload := `<img src=x onerror="window.__xss=1">"><script>window.__xss=1</script>`
	body := fmt.Sprintf(`{"loginId":"mallory@example.com","loginOptions":{"templateOptions":{"name":%q}}}`, payload)
	for _, ch := range []string{"email", "sms"} {
		b := strings.Replace(body, "mallory@example.com", map[string]string{"email": "mallory@example.com", "sms": "+14155550123"}[ch], 1)
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/auth/otp/signup-in/"+ch, bytes.NewReader([]byte(b)))
		req.Header.Set("Authorization", "Bearer P2XssProject")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("start %s: %d %s", ch, res.StatusCode, out)
		}
	}

	ctx := browser(t)
	var subject, smsText string
	var xss bool
	err = steps(ctx, t,
		chromedp.Navigate(base+"/dev/"),
		chromedp.WaitVisible(chromedp.CSS(`#inbox article[data-channel="email"] iframe`)),
		chromedp.WaitVisible(chromedp.CSS(`#inbox article[data-channel="sms"] pre`)),
		chromedp.Sleep(time.Second), // give any injected script or image time to run
		into(chromedp.Text(chromedp.CSS(`#inbox article[data-channel="email"] .subject`)), &subject),
		into(chromedp.Text(chromedp.CSS(`#inbox article[data-channel="sms"] pre`)), &smsText),
		into(chromedp.Evaluate[bool](`window.__xss === 1 || document.querySelectorAll('#inbox img, #inbox script').length > 0`), &xss),
	)
	if err != nil {
		t.Fatal(err)
	}
	if xss {
		t.Error("message content became markup or ran script in the console page")
	}
	if subject != "Hi "+payload {
		t.Errorf("subject shown as %q, want the payload as text", subject)
	}
	if !strings.Contains(smsText, payload) {
		t.Errorf("SMS shown as %q, want the payload as text", smsText)
	}
	if n := pings.Load(); n != 0 {
		t.Errorf("the message's HTML reached the network %d times (script or image ran)", n)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("browser timed out")
	}
}

// steps runs actions one by one, naming the one that fails.
func steps(ctx context.Context, t *testing.T, actions ...chromedp.Action[chromedp.Void]) error {
	for i, a := range actions {
		start := time.Now()
		if err := chromedp.Do(ctx, a); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Logf("step %d took %s", i+1, d)
		}
	}
	return nil
}

// into runs a reading step and stores its result in *dst.
func into[T any](a chromedp.Action[T], dst *T) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}
