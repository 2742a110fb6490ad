package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// adopterProject is the test project on the default configuration: every
// default limit on (the harness turns limits off for projects that set
// none, so one is set here to its default value).
func adopterProject(rotation bool) config.Project {
	ip := config.DefaultSendsPerIP
	return config.Project{ID: pid, RefreshRotation: rotation, Limits: config.Limits{SendsPerIP: &ip}}
}

// refreshAll sends n concurrent refreshes of one refresh JWT over REST or
// gRPC and returns the status codes (HTTP, or 200/401/429 mapped from the
// gRPC code) and the refresh JWTs returned.
func (e *env) refreshAll(grpcTransport bool, refresh string, n int) (statuses []int, tokens []string) {
	e.t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, _, tok := e.refreshOnce(grpcTransport, refresh)
			mu.Lock()
			statuses, tokens = append(statuses, st), append(tokens, tok)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses, tokens
}

// refreshOnce refreshes once; it returns the status (HTTP, or for gRPC
// the HTTP status of its code), the Descope error code and the refresh JWT
// of the answer ("" on failure).
func (e *env) refreshOnce(grpcTransport bool, refresh string) (int, string, string) {
	if grpcTransport {
		ctx := metadata.AppendToOutgoingContext(e.t.Context(), "authorization", e.bearer(refresh))
		r, err := otpv1.NewSessionClient(e.conn).Refresh(ctx, &otpv1.RefreshRequest{})
		st := status.Convert(err)
		var reason string
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		return map[codes.Code]int{codes.OK: 200, codes.Unauthenticated: 401, codes.ResourceExhausted: 429}[st.Code()], reason, r.GetRefreshJwt()
	}
	req, _ := http.NewRequest("POST", e.base+"/v1/auth/refresh", strings.NewReader("{}"))
	req.Header.Set("Authorization", e.bearer(refresh))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer resp.Body.Close()
	var b struct {
		RefreshJwt string `json:"refreshJwt"`
		ErrorCode  string `json:"errorCode"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b.ErrorCode, b.RefreshJwt
}

// TestConcurrentRefreshesKeepTheUserSignedIn: two browser tabs refresh the
// same token at once (20 requests). With rotation on and the default grace,
// every request succeeds, every token handed out works, and the user stays
// signed in.
func TestConcurrentRefreshesKeepTheUserSignedIn(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"REST", "gRPC"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false, withProject(adopterProject(true)))
			r0 := e.login("email", "tabs@example.com", "tabs@example.com")["refreshJwt"].(string)
			statuses, tokens := e.refreshAll(tr == "gRPC", r0, 20)
			for i, st := range statuses {
				if st != 200 || tokens[i] == "" || tokens[i] == r0 {
					t.Fatalf("concurrent refresh %d: status %d, new token %v (all: %v)", i, st, tokens[i] != "", statuses)
				}
			}
			// Every tab's token works, and each tab goes on refreshing.
			for i, tok := range tokens {
				if s, b := e.do("GET", "/v1/auth/me", "", e.bearer(tok)); s != 200 {
					t.Fatalf("me with token %d: %d %v", i, s, b)
				}
			}
			s, _, next := e.refreshOnce(tr == "gRPC", tokens[0])
			if s != 200 {
				t.Fatalf("the next refresh: %d", s)
			}
			// Later, the newest token still works: nothing was revoked.
			e.clock.Add(time.Minute)
			if s, _, _ := e.refreshOnce(tr == "gRPC", next); s != 200 {
				t.Fatalf("refresh a minute later: %d", s)
			}
		})
	}
}

// TestReuseAfterGraceRevokesTheFamily: a rotated token presented again
// within the grace period is answered; after it, it is theft: refused, and
// every token of its family dies, on REST and gRPC.
func TestReuseAfterGraceRevokesTheFamily(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"REST", "gRPC"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			g := tr == "gRPC"
			e := newEnv(t, false, withProject(adopterProject(true)))
			other := e.login("email", "reuse@example.com", "reuse@example.com")["refreshJwt"].(string)
			e.clock.Add(config.DefaultResendCooldown.D())
			r0 := e.login("email", "reuse@example.com", "reuse@example.com")["refreshJwt"].(string)
			s, _, r1 := e.refreshOnce(g, r0)
			if s != 200 || r1 == "" {
				t.Fatalf("first rotation: %d", s)
			}
			// Within the grace period: r0 again is a late duplicate, not theft.
			e.clock.Add(config.DefaultRefreshRotationGrace.D() - time.Second)
			s, _, r1b := e.refreshOnce(g, r0)
			if s != 200 || r1b == "" {
				t.Fatalf("r0 within the grace period: %d", s)
			}
			// After it: reuse. Refused with E064001, and the family dies.
			e.clock.Add(2 * time.Second)
			if s, code, _ := e.refreshOnce(g, r0); s != 401 || code != "E064001" {
				t.Fatalf("reused token: %d %s", s, code)
			}
			for i, tok := range []string{r1, r1b} {
				if s, code, _ := e.refreshOnce(g, tok); s != 401 || code != "E064001" {
					t.Fatalf("family token %d after reuse: %d %s", i, s, code)
				}
			}
			// The user's other sign-in is untouched.
			if s, _, _ := e.refreshOnce(g, other); s != 200 {
				t.Fatalf("another family after reuse: %d", s)
			}
		})
	}
}

// TestRefreshTokensPerUserAreCapped: every sign-in adds a refresh token;
// past the default cap the oldest is evicted, the newest all work. (On the
// default limits: one sign-in every two minutes stays within the send
// budgets.)
func TestRefreshTokensPerUserAreCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	n := config.DefaultMaxRefreshTokensPerUser
	var tokens []string
	for range n + 1 {
		tokens = append(tokens, e.login("email", "cap@example.com", "cap@example.com")["refreshJwt"].(string))
		e.clock.Add(2*time.Minute + time.Second)
	}
	if s, b := e.do("GET", "/v1/auth/me", "", e.bearer(tokens[0])); s != 401 || b["errorCode"] != "E064001" {
		t.Fatalf("the oldest token past the cap: %d %v", s, b)
	}
	for _, i := range []int{1, n / 2, n} {
		if s, b := e.do("GET", "/v1/auth/me", "", e.bearer(tokens[i])); s != 200 {
			t.Fatalf("token %d of %d: %d %v", i, n+1, s, b)
		}
	}
	ids, err := e.redis.ZCard(t.Context(), store.RefreshKey(pid, userIDOf(t, e, tokens[n]))).Result()
	if err != nil || ids != int64(n) {
		t.Fatalf("refresh token ids in Redis: %d %v, want %d", ids, err, n)
	}
}

func userIDOf(t *testing.T, e *env, tok string) string {
	t.Helper()
	return verifyWithJWKS(t, e, tok)["sub"].(string)
}

// TestRefreshRateLimit: on the default configuration a loop of refreshes
// is refused with 429 E130429 and Retry-After, and let through again once
// the delay has passed; REST and gRPC share the user's bucket.
func TestRefreshRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, withProject(adopterProject(false)))
	tok := e.login("email", "loop@example.com", "loop@example.com")["refreshJwt"].(string)
	def := config.DefaultRefreshesPerUser
	for i := range def.Count {
		if s, _, _ := e.refreshOnce(i%2 == 1, tok); s != 200 {
			t.Fatalf("refresh %d of the allowed %d: %d", i+1, def.Count, s)
		}
	}
	st, retry, body := e.raw("POST", "/v1/auth/refresh", "", map[string]string{"Authorization": e.bearer(tok)})
	want := strconv.Itoa(int(def.Window.D() / time.Duration(def.Count) / time.Second))
	if st != 429 || !strings.Contains(body, `"errorCode":"E130429"`) || retry != want {
		t.Fatalf("refresh past the limit: %d Retry-After=%q %s (want Retry-After %s)", st, retry, body, want)
	}
	if s, code, _ := e.refreshOnce(true, tok); s != 429 || code != "E130429" {
		t.Fatalf("gRPC refresh past the limit: %d %s", s, code)
	}
	n, _ := strconv.Atoi(retry)
	e.clock.Add(time.Duration(n) * time.Second)
	if s, _, _ := e.refreshOnce(false, tok); s != 200 {
		t.Fatalf("refresh after Retry-After: %d", s)
	}
	// Another user is not affected.
	other := e.login("email", "calm@example.com", "calm@example.com")["refreshJwt"].(string)
	if s, _, _ := e.refreshOnce(false, other); s != 200 {
		t.Fatalf("another user's refresh: %d", s)
	}
}

// TestRefreshLimitPerIPAndConfiguredCap: a project's own refresh settings:
// the per-IP limit counts every user's refreshes from one address, and
// the family cap evicts the oldest sign-in.
func TestRefreshLimitPerIPAndConfiguredCap(t *testing.T) {
	t.Parallel()
	p := limitedProject(func(l *config.Limits) { l.RefreshesPerIP = rate(3, time.Minute) })
	p.MaxRefreshTokensPerUser = 2
	e := newEnv(t, false, withProject(p))
	a := e.login("email", "ip-a@example.com", "ip-a@example.com")["refreshJwt"].(string)
	b := e.login("email", "ip-b@example.com", "ip-b@example.com")["refreshJwt"].(string)
	for i, tok := range []string{a, b, a} {
		if s, _, _ := e.refreshOnce(i == 1, tok); s != 200 {
			t.Fatalf("refresh %d: %d", i, s)
		}
	}
	st, retry, body := e.raw("POST", "/v1/auth/refresh", "", map[string]string{"Authorization": e.bearer(b)})
	if st != 429 || retry != "20" || !strings.Contains(body, "refreshesPerIp") {
		t.Fatalf("past the per-IP limit: %d Retry-After=%q %s", st, retry, body)
	}
	if s, code, _ := e.refreshOnce(true, a); s != 429 || code != "E130429" {
		t.Fatalf("gRPC past the per-IP limit: %d %s", s, code)
	}
	// Cap 2: a third sign-in of user a evicts the first (the oldest: the
	// clock moves between sign-ins).
	e.clock.Add(time.Second)
	a2 := e.login("email", "ip-a@example.com", "ip-a@example.com")["refreshJwt"].(string)
	e.clock.Add(time.Second)
	a3 := e.login("email", "ip-a@example.com", "ip-a@example.com")["refreshJwt"].(string)
	for tok, want := range map[string]int{a: 401, a2: 200, a3: 200} {
		if s, _ := e.do("GET", "/v1/auth/me", "", e.bearer(tok)); s != want {
			t.Fatalf("me after the cap: %d, want %d", s, want)
		}
	}
}
