package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// withoutGuard is a dump without the pumping guard's own counters.
func withoutGuard(d map[string][]string) string {
	for k := range d {
		if strings.Contains(k, ":fg:") {
			delete(d, k)
		}
	}
	return fmt.Sprint(d)
}

// TestPumpingGuardOnDefaults: on the default configuration, numbers of
// one prefix whose codes nobody enters are refused after
// fraudGuard.prefix.minSends (20) sends with 403 E130403: nothing sent,
// no code stored, no limit charged; a metric and a log line name the
// prefix and never a number. Another prefix whose users verify is not
// touched, and the block lifts after the cool-off.
func TestPumpingGuardOnDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	start := func(num string) (int, string, string) {
		return e.raw("POST", "/v1/auth/otp/signup-in/sms", fmt.Sprintf(`{"loginId":%q}`, num), nil)
	}
	for i := range 20 {
		if st, _, b := start(fmt.Sprintf("+1415555%04d", 100+i)); st != 200 {
			t.Fatalf("send %d: %d %s", i, st, b)
		}
	}
	// A prefix whose codes are entered (half of them) stays open.
	for i := range 24 {
		num := fmt.Sprintf("+1212555%04d", 100+i)
		if st, _, b := start(num); st != 200 {
			t.Fatalf("verified prefix, send %d: %d %s", i, st, b)
		}
		if i%2 == 0 {
			body := fmt.Sprintf(`{"loginId":%q,"code":%q}`, num, e.code(num))
			if st, _, b := e.raw("POST", "/v1/auth/otp/verify/sms", body, nil); st != 200 {
				t.Fatalf("verify %d: %d %s", i, st, b)
			}
		}
	}
	before, sent := withoutGuard(e.dump()), e.messages()
	st, retry, b := start("+14155550999")
	if st != 403 || !strings.Contains(b, `"errorCode":"E130403"`) || retry != "" {
		t.Fatalf("21st unverified send to the prefix: %d Retry-After=%q %s, want 403 E130403", st, retry, b)
	}
	if e.messages() != sent {
		t.Fatal("a refused start sent a message")
	}
	if withoutGuard(e.dump()) != before {
		t.Fatal("a refused start changed Redis (a code or a limit bucket)")
	}
	m := e.metrics()
	if !strings.Contains(m, `otpd_pumping_blocks_total{channel="sms",level="prefix",mode="enforce",project="`+pid+`"} 1`) {
		t.Fatalf("metrics lack the block:\n%s", grepLines(m, "otpd_pumping"))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"prefix","prefix":"14155550"`) {
		t.Fatalf("the block was not logged with its prefix:\n%s", grepLines(logs, "pumping"))
	}
	if strings.Contains(grepLines(logs, "pumping"), "14155550999") {
		t.Fatal("the pumping log line holds the full number")
	}
	e.clock.Add(61 * time.Minute)
	if st, _, b := start("+14155550998"); st != 200 {
		t.Fatalf("after the cool-off: %d %s", st, b)
	}
}

// TestPumpingGuardShadowAndAllow: shadow mode refuses nothing but counts
// and logs; an allowed prefix is never judged.
func TestPumpingGuardShadowAndAllow(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"shadow", "allow"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false, func(s *envSetup) {
				g := &s.cfg.Projects[0].FraudGuard
				if mode == "shadow" {
					g.Mode = "shadow"
				} else {
					g.Allow.Prefixes = []string{"+1415555"}
				}
			})
			for i := range 25 {
				if st, _, b := e.raw("POST", "/v1/auth/otp/signup-in/sms", fmt.Sprintf(`{"loginId":"+1415555%04d"}`, 100+i), nil); st != 200 {
					t.Fatalf("%s: send %d refused: %d %s", mode, i, st, b)
				}
			}
			shadowed := strings.Contains(e.metrics(), `otpd_pumping_blocks_total{channel="sms",level="prefix",mode="shadow",project="`+pid+`"} 5`)
			if shadowed != (mode == "shadow") {
				t.Fatalf("%s: shadow refusals counted: %v\n%s", mode, shadowed, grepLines(e.metrics(), "otpd_pumping"))
			}
		})
	}
}
