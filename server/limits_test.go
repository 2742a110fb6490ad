package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

func rate(n int, w time.Duration) *config.Rate {
	return &config.Rate{Count: n, Window: config.Duration(w)}
}

// limitedProject is the test project with only the given limits on.
func limitedProject(set func(l *config.Limits)) config.Project {
	p := config.Project{ID: pid, Limits: config.Unlimited()}
	set(&p.Limits)
	return p
}

// raw does a REST call and returns status, Retry-After and the raw body.
func (e *env) raw(method, path, body string, hdr map[string]string) (int, string, string) {
	e.t.Helper()
	auth := "Bearer " + e.project
	if a, ok := hdr["Authorization"]; ok {
		auth = a
	}
	resp, b := e.send(method, path, body, auth, hdr)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestEveryLimit: each limit refuses with 429 E130429 and Retry-After, sends
// nothing, replaces no code, and lets the caller through once the clock
// passes the retry delay.
func TestEveryLimit(t *testing.T) {
	t.Parallel()
	type step struct {
		path, body string
		hdr        map[string]string
	}
	start := func(ch, id string) step {
		return step{"/v1/auth/otp/signup-in/" + ch, fmt.Sprintf(`{"loginId":%q}`, id), nil}
	}
	cases := []struct {
		name    string
		limits  func(l *config.Limits)
		allowed []step // all succeed
		refused step   // then this is refused
		retry   int    // Retry-After seconds
		key     string // the setting the refusal names
	}{
		{"sends per login id", func(l *config.Limits) { l.SendsPerLoginID = rate(2, 10*time.Minute) },
			[]step{start("sms", "+14155550100"), start("voice", "+14155550100")}, start("whatsapp", "+14155550100"), 300, "sendsPerLoginId"},
		{"resend cooldown", func(l *config.Limits) { d := config.Duration(30 * time.Second); l.ResendCooldown = &d },
			[]step{start("email", "b@example.com"), start("sms", "+14155550101")}, start("email", "b@example.com"), 30, "resendCooldown"},
		{"sends per IP", func(l *config.Limits) { l.SendsPerIP = rate(3, time.Hour) },
			[]step{start("email", "c1@example.com"), start("email", "c2@example.com"), start("sms", "+14155550102")}, start("email", "c3@example.com"), 1200, "sendsPerIp"},
		{"sends per phone prefix", func(l *config.Limits) { l.SendsPerPhonePrefix = rate(2, time.Hour); l.PhonePrefixDigits = 8 },
			[]step{start("sms", "+14155550103"), start("sms", "+14155550104"), start("sms", "+14165550104"), start("voice", "+14155550105")}, start("sms", "+14155550106"), 1800, "sendsPerPhonePrefix"},
		{"sends per country", func(l *config.Limits) { l.SendsPerCountry = rate(2, time.Hour) },
			[]step{start("sms", "+14155550107"), start("sms", "+12125550108"), start("sms", "+447400123456")}, start("sms", "+13105550109"), 1800, "sendsPerCountry"},
		{"project budget per channel", func(l *config.Limits) { l.ProjectSendsPerHour = map[string]int{"sms": 2} },
			[]step{start("sms", "+14155550110"), start("sms", "+14155550111"), start("email", "d@example.com")}, start("sms", "+14155550112"), 1800, "projectSendsPerHour"},
		{"verifies per IP", func(l *config.Limits) { l.VerifiesPerIP = rate(2, time.Minute) },
			[]step{start("email", "e@example.com"),
				{"/v1/auth/otp/verify/email", `{"loginId":"e@example.com","code":"000000"}`, nil},
				{"/v1/auth/otp/verify/email", `{"loginId":"x@example.com","code":"000000"}`, nil}},
			step{"/v1/auth/otp/verify/email", `{"loginId":"e@example.com","code":"000000"}`, nil}, 30, "verifiesPerIp"},
		{"verifies per login id", func(l *config.Limits) { l.VerifiesPerLoginID = rate(1, time.Minute) },
			[]step{start("email", "f@example.com"), {"/v1/auth/otp/verify/email", `{"loginId":"f@example.com","code":"000000"}`, nil}},
			step{"/v1/auth/otp/verify/email", `{"loginId":"f@example.com","code":"000000"}`, nil}, 60, "verifiesPerLoginId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false, withProject(limitedProject(c.limits)))
			for i, s := range c.allowed {
				if st, _, b := e.raw("POST", s.path, s.body, s.hdr); st != 200 && !(strings.Contains(s.path, "verify") && st == 401) {
					t.Fatalf("step %d (%s): %d %s", i, s.body, st, b)
				}
			}
			before, sent := e.dump(), e.messages()
			st, retry, b := e.raw("POST", c.refused.path, c.refused.body, c.refused.hdr)
			if st != 429 || !strings.Contains(b, `"errorCode":"E130429"`) || retry != strconv.Itoa(c.retry) {
				t.Fatalf("refused step: %d Retry-After=%q %s (want Retry-After %d)", st, retry, b, c.retry)
			}
			// The refusal names the setting to change, as it is spelt in
			// the project's limits: (not an internal snake_case name).
			if !strings.Contains(b, "(limits."+c.key+")") {
				t.Fatalf("refusal does not name limits.%s: %s", c.key, b)
			}
			if e.messages() != sent {
				t.Fatal("a refused start sent a message")
			}
			if strings.Contains(c.refused.path, "signup-in") {
				// Nothing changed but... nothing: no code replaced, no bucket charged.
				if fmt.Sprint(e.dump()) != fmt.Sprint(before) {
					t.Fatal("a refused start changed Redis")
				}
			}
			e.clock.Add(time.Duration(c.retry) * time.Second)
			if st, _, b := e.raw("POST", c.refused.path, c.refused.body, c.refused.hdr); st == 429 {
				t.Fatalf("still refused after Retry-After: %s", b)
			}
		})
	}
}

func TestDryRunCountsButAllows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(limitedProject(func(l *config.Limits) { l.DryRun = true; l.SendsPerIP = rate(1, time.Hour) })))
	for i := range 3 {
		if st, _, b := e.raw("POST", "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":"dry%d@example.com"}`, i), nil); st != 200 {
			t.Fatalf("dry run refused: %d %s", st, b)
		}
	}
	m := e.metrics()
	if !strings.Contains(m, `otpd_limit_refusals_total{dry_run="true",limit="sendsPerIp",project="`+pid+`"} 2`) {
		t.Fatalf("metrics lack the dry-run refusals:\n%s", grepLines(m, "otpd_limit"))
	}
	if !strings.Contains(e.logs.String(), `"limit":"sendsPerIp","dryRun":true`) {
		t.Fatal("the dry-run refusal was not logged")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestClientIPFromProxies: X-Forwarded-For / X-Real-IP / x-otpd-client-ip
// name the client only when the connection comes from a trusted proxy.
func TestClientIPFromProxies(t *testing.T) {
	t.Parallel()
	oneSendPerIP := withProject(limitedProject(func(l *config.Limits) { l.SendsPerIP = rate(1, time.Hour) }))
	trustLoopback := func(s *envSetup) { s.cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
	cases := []struct {
		name    string
		trusted bool
		hdrs    []map[string]string // one start each
		want    []int
	}{
		{"trusted proxy: two clients", true, []map[string]string{{"X-Forwarded-For": "203.0.113.5"}, {"X-Forwarded-For": "198.51.100.7"}}, []int{200, 200}},
		{"trusted proxy: same client twice", true, []map[string]string{{"X-Forwarded-For": "203.0.113.5"}, {"X-Forwarded-For": "10.9.9.9, 203.0.113.5"}}, []int{200, 429}},
		{"trusted proxy: X-Real-IP", true, []map[string]string{{"X-Real-IP": "203.0.113.8"}, {"X-Real-IP": "203.0.113.9"}}, []int{200, 200}},
		{"untrusted peer cannot pick its IP", false, []map[string]string{{"X-Forwarded-For": "203.0.113.5"}, {"X-Forwarded-For": "198.51.100.7"}, {"X-Real-IP": "192.0.2.1"}}, []int{200, 429, 429}},
		// gRPC metadata sent as REST headers never names the client, even
		// through a trusted proxy (issue 10 §3: 6 of 6 were accepted).
		{"REST cannot set gRPC client-IP metadata", true, []map[string]string{
			{"Grpc-Metadata-X-Otpd-Client-Ip": "203.0.113.5"}, {"Grpc-Metadata-X-Otpd-Client-Ip": "203.0.113.6"},
			{"Grpc-Metadata-X-Real-Ip": "203.0.113.7"}, {"Grpc-Metadata-X-Forwarded-For": "203.0.113.8"}}, []int{200, 429, 429, 429}},
		{"untrusted REST peer cannot set gRPC client-IP metadata", false, []map[string]string{
			{"Grpc-Metadata-X-Otpd-Client-Ip": "203.0.113.5"}, {"Grpc-Metadata-X-Otpd-Client-Ip": "203.0.113.6"}}, []int{200, 429}},
		// IPv6 clients are keyed by their /64: walking one's own network
		// does not mint new buckets; another /64 is another client.
		{"IPv6 keyed by /64", true, []map[string]string{
			{"X-Forwarded-For": "2001:db8:1:2::1"}, {"X-Forwarded-For": "2001:db8:1:2:ffff::9"},
			{"X-Forwarded-For": "2001:db8:1:3::1"}, {"X-Real-IP": "2001:db8:1:3::2"}}, []int{200, 429, 200, 429}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := []envOption{oneSendPerIP}
			if c.trusted {
				opts = append(opts, trustLoopback)
			}
			e := newEnv(t, false, opts...)
			for i, h := range c.hdrs {
				if st, _, b := e.raw("POST", "/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":"ip%d@example.com"}`, i), h); st != c.want[i] {
					t.Fatalf("start %d with %v: %d %s, want %d", i, h, st, b, c.want[i])
				}
			}
		})
	}
	// gRPC: an internal caller passes the end user's IP, honoured only when trusted.
	for _, trusted := range []bool{true, false} {
		opts := []envOption{oneSendPerIP}
		if trusted {
			opts = append(opts, trustLoopback)
		}
		e := newEnv(t, false, opts...)
		email := otpv1.NewOtpEmailClient(e.conn)
		var codes []string
		for i, ip := range []string{"203.0.113.5", "198.51.100.7"} {
			ctx := metadata.AppendToOutgoingContext(e.authCtx(), "x-otpd-client-ip", ip)
			_, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: fmt.Sprintf("g%d@example.com", i)})
			codes = append(codes, status.Code(err).String())
		}
		want := "[OK OK]"
		if !trusted {
			want = "[OK ResourceExhausted]"
		}
		if fmt.Sprint(codes) != want {
			t.Errorf("gRPC trusted=%v: %v, want %s", trusted, codes, want)
		}
	}
}

func TestPhonePolicy(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(*config.Limits) {})
	p.PhonePolicy = map[string]config.PhonePolicy{
		"sms":      {AllowCountries: []string{"US", "GB"}},
		"whatsapp": {DenyCountries: []string{"GB"}},
	}
	e := newEnv(t, false, withProject(p))
	cases := []struct {
		ch, number string
		status     int
	}{
		{"sms", "+14155550120", 200},
		{"sms", "+33612345678", 403},   // country not allowed for sms
		{"voice", "+33612345678", 200}, // no policy for voice
		{"whatsapp", "+447400123456", 403},
		{"whatsapp", "+14155550121", 200},
		{"sms", "+19005550123", 403},    // premium rate
		{"voice", "+19005550123", 403},  // premium rate on every channel
		{"sms", "+442079460958", 403},   // landline cannot receive SMS
		{"voice", "+442079460958", 200}, // but can take a call
	}
	for _, c := range cases {
		st, _, b := e.raw("POST", "/v1/auth/otp/signup-in/"+c.ch, fmt.Sprintf(`{"loginId":%q}`, c.number), nil)
		if st != c.status || (st == 403 && !strings.Contains(b, `"E011403"`)) {
			t.Errorf("%s %s: %d %s, want %d", c.ch, c.number, st, b, c.status)
		}
	}
}

func TestAttemptsLeftAndRetryHints(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(l *config.Limits) { d := config.Duration(time.Minute); l.ResendCooldown = &d })
	p.MaxAttempts = 2
	e := newEnv(t, false, withProject(p))
	e.post("/v1/auth/otp/signup-in/email", `{"loginId":"h@example.com"}`)
	_, _, b := e.raw("POST", "/v1/auth/otp/verify/email", `{"loginId":"h@example.com","code":"000001"}`, nil)
	if !strings.Contains(b, `"attemptsLeft":1`) || !strings.Contains(b, "1 attempts left") {
		t.Fatalf("wrong code: %s", b)
	}
	_, err := otpv1.NewOtpEmailClient(e.conn).Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "h@example.com", Code: "000002"})
	var left string
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			left = info.GetMetadata()["attemptsLeft"]
		}
	}
	if left != "0" {
		t.Fatalf("gRPC ErrorInfo attemptsLeft = %q, want 0 (%v)", left, err)
	}
	e.clock.Add(20 * time.Second)
	st, retry, b := e.raw("POST", "/v1/auth/otp/verify/email", `{"loginId":"h@example.com","code":"000003"}`, nil)
	if st != 401 || !strings.Contains(b, "E061103") || retry != "40" || !strings.Contains(b, "new code in 40 s") {
		t.Fatalf("dead code: %d Retry-After=%q %s", st, retry, b)
	}
}

// TestEnumerationProtection: sign-in for an unknown user answers exactly
// like a known one (apart from the masked address) and sends nothing.
func TestEnumerationProtection(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(l *config.Limits) { l.SendsPerLoginID = rate(2, time.Hour) })
	p.EnumerationProtection = true
	e := newEnv(t, false, withProject(p))
	e.login("email", "known@example.com", "known@example.com")
	// A user name with a phone number.
	e.post("/v1/auth/otp/signup/sms", `{"loginId":"knownuser","phone":"+14155550130"}`)
	e.post("/v1/auth/otp/verify/sms", fmt.Sprintf(`{"loginId":"knownuser","code":%q}`, e.code("+14155550130")))
	e.clock.Add(time.Hour) // the sign-ups above used part of the per-login-id budget
	cases := []struct{ ch, known, unknown string }{
		{"email", "known@example.com", "nobody@example.com"},
		{"sms", "knownuser", "nobodyuser"},
	}
	for _, c := range cases {
		var bodies [2][]string
		for round := range 3 {
			for i, id := range []string{c.known, c.unknown} {
				sent := e.messages()
				st, retry, b := e.raw("POST", "/v1/auth/otp/signin/"+c.ch, fmt.Sprintf(`{"loginId":%q}`, id), nil)
				masked := maskedOf(b)
				bodies[i] = append(bodies[i], fmt.Sprintf("%d %s %s", st, retry, strings.Replace(b, masked, "MASK", 1)))
				if i == 1 && e.messages() != sent {
					t.Fatalf("round %d: a message was sent for an unknown user", round)
				}
			}
		}
		if fmt.Sprint(bodies[0]) != fmt.Sprint(bodies[1]) {
			t.Fatalf("%s: known and unknown users differ:\nknown   %v\nunknown %v", c.ch, bodies[0], bodies[1])
		}
		if !strings.HasPrefix(bodies[1][2], "429") {
			t.Fatalf("the third start must hit the per-login-id limit for both: %v", bodies[1])
		}
	}
	// Verify: no attempts-left detail that would tell the two apart.
	_, _, b := e.raw("POST", "/v1/auth/otp/verify/email", `{"loginId":"known@example.com","code":"000000"}`, nil)
	_, _, u := e.raw("POST", "/v1/auth/otp/verify/email", `{"loginId":"nobody@example.com","code":"000000"}`, nil)
	if b != u {
		t.Fatalf("verify differs:\nknown   %s\nunknown %s", b, u)
	}
}

func maskedOf(body string) string {
	for _, f := range []string{`"maskedEmail":"`, `"maskedPhone":"`} {
		if i := strings.Index(body, f); i >= 0 {
			rest := body[i+len(f):]
			return rest[:strings.Index(rest, `"`)]
		}
	}
	return "\x00"
}

// TestFloodFromOneIPSparesOthers is the bounded load test: client A
// (127.0.0.2) floods starts while client B (127.0.0.3) signs in normally.
// A is held to the per-IP limit; every one of B's starts succeeds.
func TestFloodFromOneIPSparesOthers(t *testing.T) {
	t.Parallel()
	const limit, flood, normal = 50, 400, 40
	e := newEnv(t, false, withProject(limitedProject(func(l *config.Limits) { l.SendsPerIP = rate(limit, time.Hour) })))
	client := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
	}
	run := func(c *http.Client, prefix string, n, workers int) (ok, limited, other int64) {
		var o, l, x atomic.Int64
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					req, _ := http.NewRequestWithContext(context.Background(), "POST", e.base+"/v1/auth/otp/signup-in/email",
						strings.NewReader(fmt.Sprintf(`{"loginId":"%s%d@example.com"}`, prefix, i)))
					req.Header.Set("Authorization", "Bearer "+pid)
					resp, err := c.Do(req)
					if err != nil {
						x.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						o.Add(1)
					case 429:
						l.Add(1)
					default:
						x.Add(1)
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		return o.Load(), l.Load(), x.Load()
	}
	var aOK, aLimited, aOther, bOK, bLimited, bOther int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); aOK, aLimited, aOther = run(client("127.0.0.2"), "flood", flood, 16) }()
	go func() { defer wg.Done(); bOK, bLimited, bOther = run(client("127.0.0.3"), "user", normal, 2) }()
	wg.Wait()
	t.Logf("client A (127.0.0.2): %d accepted, %d refused with 429, %d other, of %d", aOK, aLimited, aOther, flood)
	t.Logf("client B (127.0.0.3): %d accepted, %d refused with 429, %d other, of %d", bOK, bLimited, bOther, normal)
	if aOK != limit || aLimited != flood-limit || aOther != 0 {
		t.Errorf("client A: %d accepted / %d refused / %d other; want %d / %d / 0", aOK, aLimited, aOther, limit, flood-limit)
	}
	if bOK != normal || bLimited != 0 || bOther != 0 {
		t.Errorf("client B: %d accepted / %d refused / %d other; want all %d accepted", bOK, bLimited, bOther, normal)
	}
}
