package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
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
	fmt.Fprintf(w, "\notpd benchmark: %s, %d cores (load generator on the same machine), %s per run, median of %d runs\n\n",
		cpuModel, runtime.NumCPU(), o.duration, o.reps)
	fmt.Fprintf(w, "| %-22s | %8s | %8s | %8s | %7s | %11s | %8s | %8s |\n", "run", "rps", "p50 ms", "p99 ms", "errors", "CPU µs/req", "× (a) rps", "× base")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", dashes(24), dashes(10), dashes(10), dashes(10), dashes(9), dashes(13), dashes(10), dashes(10))
	for _, c := range o.conc {
		a := m[fmt.Sprintf("(a) echo c%d", c)]
		for _, s := range scenarios(c) {
			r := m[s.name]
			base := "—"
			if s.target == "otpd" {
				b := baselineOf(m, s)
				base = fmt.Sprintf("%.2f", r.rps/b.rps)
			}
			fmt.Fprintf(w, "| %-22s | %8.0f | %8.2f | %8.2f | %7d | %11.1f | %8.2f | %8s |\n",
				s.name, r.rps, r.p50, r.p99, r.errors, r.cpuPerReq, r.rps/a.rps, base)
		}
	}
	fmt.Fprintf(w, "\n× base: start against (b), verify against (c). CPU µs/req = (server + redis-server) utime+stime / requests.\n\n")

	type check struct {
		name string
		got  float64
		want string
		ok   bool
	}
	at := func(name string) result { return m[name] }
	s50, v50 := at("start gRPC c50"), at("verify gRPC c50")
	rs50, rv50 := at("start REST c50"), at("verify REST c50")
	a50, b50, c50 := at("(a) echo c50"), at("(b) echo+EVALSHA c50"), at("(c) (b)+ES256 c50")
	errs := 0
	for _, r := range m {
		errs += r.errors
	}
	checks := []check{
		{"start rps / (b) rps", s50.rps / b50.rps, ">= 0.85", s50.rps/b50.rps >= 0.85},
		{"start rps / (a) rps", s50.rps / a50.rps, ">= 0.50", s50.rps/a50.rps >= 0.5},
		{"verify rps / (c) rps", v50.rps / c50.rps, ">= 0.60", v50.rps/c50.rps >= 0.6},
		{"start CPU / (b) CPU", s50.cpuPerReq / b50.cpuPerReq, "<= 1.30", s50.cpuPerReq/b50.cpuPerReq <= 1.3},
		{"verify CPU / (c) CPU", v50.cpuPerReq / c50.cpuPerReq, "<= 1.60", v50.cpuPerReq/c50.cpuPerReq <= 1.6},
		{"REST start CPU / gRPC", rs50.cpuPerReq / s50.cpuPerReq, "<= 1.50", rs50.cpuPerReq/s50.cpuPerReq <= 1.5},
		{"REST verify CPU / gRPC", rv50.cpuPerReq / v50.cpuPerReq, "<= 1.50", rv50.cpuPerReq/v50.cpuPerReq <= 1.5},
		{"start p99 / (b) p99", s50.p99 / b50.p99, "<= 2.00", s50.p99/b50.p99 <= 2},
		{"verify p99 / (c) p99", v50.p99 / c50.p99, "<= 2.00", v50.p99/c50.p99 <= 2},
		{"errors, all runs", float64(errs), "== 0", errs == 0},
		{"otpd peak RSS (MB, all runs)", float64(rss) / (1 << 20), "< 150", rss < 150<<20},
		{"Redis bytes per pending code", mem.usedPerCode, "< 400", mem.usedPerCode > 0 && mem.usedPerCode < 400},
	}
	fmt.Fprintf(w, "| %-30s | %9s | %8s | %-4s |\n|%s|%s|%s|%s|\n", "target (c=50)", "measured", "target", "met", dashes(32), dashes(11), dashes(10), dashes(6))
	for _, c := range checks {
		fmt.Fprintf(w, "| %-30s | %9.2f | %8s | %-4s |\n", c.name, c.got, c.want, map[bool]string{true: "yes", false: "NO"}[c.ok])
	}
	fmt.Fprintf(w, "\nRedis MEMORY USAGE of one pending code's key: %.0f bytes. Profiles: %s/{start,verify}.pprof (go tool pprof -top).\n", mem.usagePerCode, o.dir)
}

func baselineOf(m map[string]result, s scenario) result {
	if s.op == "verify" {
		return m[fmt.Sprintf("(c) (b)+ES256 c%d", s.conc)]
	}
	return m[fmt.Sprintf("(b) echo+EVALSHA c%d", s.conc)]
}

func dashes(n int) string { return strings.Repeat("-", n) }
