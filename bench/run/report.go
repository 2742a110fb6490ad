package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// pendingCodeBytes starts n codes on a clean Redis and measures what one
// pending code costs: MEMORY USAGE of a code key (average over a sample),
// and the growth of used_memory divided by n.
func (t *targets) pendingCodeBytes(ctx context.Context, b binaries, r *redisProc) (memReport, error) {
	const n = 20000
	if err := r.client.FlushAll(ctx).Err(); err != nil {
		return memReport{}, err
	}
	before := usedMemory(ctx, r)
	if _, err := t.ghz(ctx, b, t.otpdGRPC, "otp.v1.OtpEmail.SignUpOrIn", "mem-", false, 50, 0, n); err != nil {
		return memReport{}, err
	}
	if err := waitDrained(ctx, r); err != nil {
		return memReport{}, err
	}
	after := usedMemory(ctx, r)
	var sum, k float64
	for i := 0; i < n; i += n / 100 {
		key := fmt.Sprintf("otpd:{%s:mem-%d@bench.test}:code:email", t.projectID, i)
		if v, err := r.client.MemoryUsage(ctx, key).Result(); err == nil {
			sum += float64(v)
			k++
		}
	}
	m := memReport{usedPerCode: float64(after-before) / n}
	if k > 0 {
		m.usagePerCode = sum / k
	}
	return m, nil
}

func usedMemory(ctx context.Context, r *redisProc) int64 {
	info := r.client.Info(ctx, "memory").Val()
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

type memReport struct {
	usagePerCode float64 // MEMORY USAGE of a code key (average)
	usedPerCode  float64 // used_memory growth / codes
}

func report(w io.Writer, o options, m map[string]result, rss int64, mem memReport) {
	cpuModel := "unknown CPU"
	if out, err := exec.Command("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").Output(); err == nil {
		cpuModel = strings.TrimSpace(string(out))
	}
	fmt.Fprintf(w, "\notpd benchmark: %s, %d cores (load generator on the same machine), single-node Redis, %s per run, median of %d runs (errors: all runs)\n\n",
		cpuModel, runtime.NumCPU(), o.duration, o.reps)
	fmt.Fprintf(w, "| %-22s | %8s | %8s | %8s | %7s | %11s | %14s | %8s | %8s |\n", "run", "rps", "p50 ms", "p99 ms", "errors", "CPU µs/req", "of which Redis", "× (a) rps", "× base")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dashes(24), dashes(10), dashes(10), dashes(10), dashes(9), dashes(13), dashes(16), dashes(10), dashes(10))
	for _, c := range o.conc {
		a := m[fmt.Sprintf("(a) echo c%d", c)]
		for _, s := range scenarios(c) {
			r, ok := m[s.name]
			if !ok {
				continue
			}
			base := "—"
			if s.target == "otpd" {
				b := baselineOf(m, s)
				base = fmt.Sprintf("%.2f", r.rps/b.rps)
			}
			fmt.Fprintf(w, "| %-22s | %8.0f | %8.2f | %8.2f | %7d | %11.1f | %14.1f | %8.2f | %8s |\n",
				s.name, r.rps, r.p50, r.p99, r.errors, r.cpuPerReq, r.redisPerReq, r.rps/a.rps, base)
		}
	}
	fmt.Fprintf(w, "\n× base: start against (b), verify against (d), login against (b)+(d) login. CPU µs/req = (server + redis-server) utime+stime / requests (a login is one start and one verify); \"of which Redis\" is redis-server's part (0 for the echo baseline, which does not use it).\n\n")

	type check struct {
		name string
		got  float64
		want string
		ok   bool
	}
	at := func(name string) result { return m[name] }
	s50, v50, l50 := at("start gRPC c50"), at("verify gRPC c50"), at("login gRPC c50")
	rs50, rv50 := at("start REST c50"), at("verify REST c50")
	b50, d50, bd50 := at("(b) echo+EVALSHA c50"), at("(d) (b)+2×ES256 c50"), at("(b)+(d) login c50")
	errs := 0
	for _, r := range m {
		errs += r.errors
	}
	le := func(name string, got, limit float64) check {
		return check{name, got, fmt.Sprintf("<= %.2f", limit), got > 0 && got <= limit}
	}
	checks := []check{
		le("start CPU / (b) CPU", s50.cpuPerReq/b50.cpuPerReq, 1.5),
		le("verify CPU / (d) CPU", v50.cpuPerReq/d50.cpuPerReq, 1.3),
		{"login rps / (b)+(d) login rps", l50.rps / bd50.rps, ">= 0.60", l50.rps/bd50.rps >= 0.6},
		le("start p99 / (b) p99", s50.p99/b50.p99, 2),
		le("verify p99 / (d) p99", v50.p99/d50.p99, 2),
		le("login p99 / (b)+(d) login p99", l50.p99/bd50.p99, 2),
		{"errors, all runs", float64(errs), "== 0", errs == 0},
		{fmt.Sprintf("otpd peak RSS MB (c<=%d)", slices.Max(o.conc)), float64(rss) / (1 << 20), "< 150", rss > 0 && rss < 150<<20},
		{"Redis bytes per pending code", mem.usedPerCode, "< 300", mem.usedPerCode > 0 && mem.usedPerCode < 300},
		le("REST start CPU / gRPC", rs50.cpuPerReq/s50.cpuPerReq, 1.5),
		le("REST verify CPU / gRPC", rv50.cpuPerReq/v50.cpuPerReq, 1.5),
		{"login CPU / (b)+(d) login CPU", l50.cpuPerReq / bd50.cpuPerReq, "(info)", true},
	}
	// missing: a check that compares scenarios of which one did not run.
	needs := map[string][]string{
		"start CPU / (b) CPU":           {"start gRPC c50", "(b) echo+EVALSHA c50"},
		"verify CPU / (d) CPU":          {"verify gRPC c50", "(d) (b)+2×ES256 c50"},
		"login rps / (b)+(d) login rps": {"login gRPC c50", "(b)+(d) login c50"},
		"start p99 / (b) p99":           {"start gRPC c50", "(b) echo+EVALSHA c50"},
		"verify p99 / (d) p99":          {"verify gRPC c50", "(d) (b)+2×ES256 c50"},
		"login p99 / (b)+(d) login p99": {"login gRPC c50", "(b)+(d) login c50"},
		"REST start CPU / gRPC":         {"start REST c50", "start gRPC c50"},
		"REST verify CPU / gRPC":        {"verify REST c50", "verify gRPC c50"},
		"login CPU / (b)+(d) login CPU": {"login gRPC c50", "(b)+(d) login c50"},
	}
	missing := func(check string) bool {
		for _, name := range needs[check] {
			if _, ok := m[name]; !ok {
				return true
			}
		}
		return false
	}
	fmt.Fprintf(w, "| %-30s | %9s | %8s | %-4s |\n|%s|%s|%s|%s|\n", "target (c=50)", "measured", "target", "met", dashes(32), dashes(11), dashes(10), dashes(6))
	for _, c := range checks {
		met := map[bool]string{true: "yes", false: "NO"}[c.ok]
		if c.want == "(info)" {
			met = "—"
		}
		if missing(c.name) {
			// A ratio of a scenario -only left out.
			fmt.Fprintf(w, "| %-30s | %9s | %8s | %-4s |\n", c.name, "not run", c.want, "—")
			continue
		}
		fmt.Fprintf(w, "| %-30s | %9.2f | %8s | %-4s |\n", c.name, c.got, c.want, met)
	}
	fmt.Fprintf(w, "\nRedis MEMORY USAGE of one pending code's key: %.0f bytes. Profiles: %s/{start,verify,login}.pprof (go tool pprof -top).\n", mem.usagePerCode, o.dir)
}

func baselineOf(m map[string]result, s scenario) result {
	switch s.op {
	case "verify":
		return m[fmt.Sprintf("(d) (b)+2×ES256 c%d", s.conc)]
	case "login":
		return m[fmt.Sprintf("(b)+(d) login c%d", s.conc)]
	}
	return m[fmt.Sprintf("(b) echo+EVALSHA c%d", s.conc)]
}

func dashes(n int) string { return strings.Repeat("-", n) }
