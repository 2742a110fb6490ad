package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
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
	if _, err := waitDrained(ctx, r); err != nil {
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

func report(w io.Writer, o options, m map[string]result, all map[string][]result, rss int64, mem memReport) {
	cpuModel := "unknown CPU"
	if out, err := exec.Command("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").Output(); err == nil {
		cpuModel = strings.TrimSpace(string(out))
	}
	pinning := "not pinned"
	if o.serverCPUs != "" {
		pinning = fmt.Sprintf("pinned with taskset: load generators on CPU %s, servers and redis-server on CPU %s", o.loadCPUs, o.serverCPUs)
	}
	fmt.Fprintf(w, "\notpd benchmark: %s, %d cores (load generator on the same machine, %s), single-node Redis, %s per run, median of %d interleaved repetitions (errors: all runs)\n\n",
		cpuModel, machineCPUs(), pinning, o.duration, o.reps)
	fmt.Fprintf(w, "| %-24s | %8s | %8s | %8s | %7s | %11s | %14s | %10s | %8s | %8s | %8s |\n", "run", "rps", "p50 ms", "p99 ms", "errors", "CPU µs/req", "of which Redis", "Redis cmds", "scripts", "× (a) rps", "× base")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dashes(26), dashes(10), dashes(10), dashes(10), dashes(9), dashes(13), dashes(16), dashes(12), dashes(10), dashes(10), dashes(10))
	for _, c := range o.conc {
		a := m[fmt.Sprintf("(a) echo c%d", c)]
		for _, s := range o.scenarios(c) {
			r, ok := m[s.name]
			if !ok {
				continue
			}
			base := "—"
			if s.target == "otpd" {
				b := baselineOf(m, s)
				base = fmt.Sprintf("%.2f", r.rps/b.rps)
			}
			fmt.Fprintf(w, "| %-24s | %8.0f | %8.2f | %8.2f | %7d | %11.1f | %14.1f | %10.2f | %8.2f | %8.2f | %8s |\n",
				s.name, r.rps, r.p50, r.p99, r.errors, r.cpuPerReq, r.redisPerReq, r.redisCmdsPerReq, r.scriptsPerReq, r.rps/a.rps, base)
		}
	}
	fmt.Fprintf(w, "\n× base: start against (b), verify and verify sign-in against (d), verify-authz against verify sign-in (the same sign-in verify for users who hold nothing), login against (b)+(d) login. CPU µs/req = (server + redis-server) utime+stime / requests (a login is one start and one verify); \"of which Redis\" is redis-server's part (0 for the echo baseline, which does not use it); \"Redis cmds\" is the growth of INFO commandstats' calls per request (commands run inside scripts included; the bench's own INFO and queue-depth polls left out); \"scripts\" the EVALSHA/EVAL calls among them. Cluster rows: the otpd on the 3-master Cluster, its CPU plus the three masters'.\n\n")
	ratioTable(w, o, all)

	type check struct {
		name string
		got  float64
		want string
		ok   bool
	}
	errs := 0
	for _, r := range m {
		errs += r.errors
	}
	le := func(name string, got, limit float64) check {
		return check{name, got, fmt.Sprintf("<= %.2f", limit), got > 0 && got <= limit}
	}
	// The ratio checks use the median of the per-repetition ratios (each
	// ratio taken between two runs of the same repetition).
	rmed := func(f func(result) float64, num, den string) float64 {
		sp := spreadOf(perRep(all[num], all[den], f))
		return sp.med
	}
	cpu := func(r result) float64 { return r.cpuPerReq }
	rps := func(r result) float64 { return r.rps }
	p99 := func(r result) float64 { return r.p99 }
	loginRPS := rmed(rps, "login gRPC c50", "(b)+(d) login c50")
	checks := []check{
		le("start CPU / (b) CPU", rmed(cpu, "start gRPC c50", "(b) echo+EVALSHA c50"), 1.5),
		le("verify CPU / (d) CPU", rmed(cpu, "verify gRPC c50", "(d) (b)+2×ES256 c50"), 1.3),
		{"login rps / (b)+(d) login rps", loginRPS, ">= 0.60", loginRPS >= 0.6},
		le("start p99 / (b) p99", rmed(p99, "start gRPC c50", "(b) echo+EVALSHA c50"), 2),
		le("verify p99 / (d) p99", rmed(p99, "verify gRPC c50", "(d) (b)+2×ES256 c50"), 2),
		le("login p99 / (b)+(d) login p99", rmed(p99, "login gRPC c50", "(b)+(d) login c50"), 2),
		{"errors, all runs", float64(errs), "== 0", errs == 0},
		{fmt.Sprintf("otpd peak RSS MB (c<=%d)", slices.Max(o.conc)), float64(rss) / (1 << 20), "< 150", rss > 0 && rss < 150<<20},
		{"Redis bytes per pending code", mem.usedPerCode, "< 300", mem.usedPerCode > 0 && mem.usedPerCode < 300},
		le("REST start CPU / gRPC", rmed(cpu, "start REST c50", "start gRPC c50"), 1.5),
		le("REST verify CPU / gRPC", rmed(cpu, "verify REST c50", "verify gRPC c50"), 1.5),
		{"login CPU / (b)+(d) login CPU", rmed(cpu, "login gRPC c50", "(b)+(d) login c50"), "(info)", true},
		le("verify-authz CPU / sign-in", rmed(cpu, "verify-authz gRPC c50", "verify sign-in gRPC c50"), 1.1),
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
		"verify-authz CPU / sign-in":    {"verify-authz gRPC c50", "verify sign-in gRPC c50"},
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
	case authzOpAuthz:
		return m[fmt.Sprintf("verify sign-in gRPC c%d", s.conc)]
	case "verify", authzOpSignIn:
		return m[fmt.Sprintf("(d) (b)+2×ES256 c%d", s.conc)]
	case "login":
		return m[fmt.Sprintf("(b)+(d) login c%d", s.conc)]
	}
	return m[fmt.Sprintf("(b) echo+EVALSHA c%d", s.conc)]
}

func dashes(n int) string { return strings.Repeat("-", n) }

// perRep is the ratio f(num)/f(den) of each repetition (the i-th run of
// each series ran in the same repetition, next to each other).
func perRep(num, den []result, f func(result) float64) []float64 {
	var out []float64
	for i := 0; i < len(num) && i < len(den); i++ {
		if d := f(den[i]); d > 0 {
			out = append(out, f(num[i])/d)
		}
	}
	return out
}

// spread is a sample's median, quartiles and range.
type spread struct{ med, q1, q3, min, max float64 }

// spreadOf: quartiles by linear interpolation between order statistics.
func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	q := func(p float64) float64 {
		x := p * float64(len(v)-1)
		i := int(x)
		if i+1 >= len(v) {
			return v[i]
		}
		return v[i] + (x-float64(i))*(v[i+1]-v[i])
	}
	return spread{med: q(0.5), q1: q(0.25), q3: q(0.75), min: v[0], max: v[len(v)-1]}
}

// ratioTable prints each ratio's median over the repetitions, its
// interquartile range and its range, every concurrency.
func ratioTable(w io.Writer, o options, all map[string][]result) {
	type ratio struct {
		name, num, den string
		f              func(result) float64
	}
	cpu := func(r result) float64 { return r.cpuPerReq }
	redisCPU := func(r result) float64 { return r.redisPerReq }
	goCPU := func(r result) float64 { return r.cpuPerReq - r.redisPerReq }
	cmds := func(r result) float64 { return r.redisCmdsPerReq }
	rps := func(r result) float64 { return r.rps }
	p99 := func(r result) float64 { return r.p99 }
	fmt.Fprintf(w, "Ratios per repetition (each taken between the two neighbouring runs of one repetition), over %d repetitions:\n\n", o.reps)
	fmt.Fprintf(w, "| %-42s | %6s | %13s | %13s | %s |\n|%s|%s|%s|%s|%s|\n", "ratio", "median", "IQR", "min–max", "each repetition", dashes(44), dashes(8), dashes(15), dashes(15), dashes(16))
	for _, c := range o.conc {
		b, d, bd := fmt.Sprintf("(b) echo+EVALSHA c%d", c), fmt.Sprintf("(d) (b)+2×ES256 c%d", c), fmt.Sprintf("(b)+(d) login c%d", c)
		st, ve, lo := fmt.Sprintf("start gRPC c%d", c), fmt.Sprintf("verify gRPC c%d", c), fmt.Sprintf("login gRPC c%d", c)
		rs, rv := fmt.Sprintf("start REST c%d", c), fmt.Sprintf("verify REST c%d", c)
		ratios := []ratio{
			{"start CPU / (b)", st, b, cpu},
			{"start server CPU / (b)'s", st, b, goCPU},
			{"start redis-server CPU / (b)'s", st, b, redisCPU},
			{"start Redis cmds / (b)'s", st, b, cmds},
			{"start p99 / (b)", st, b, p99},
			{"verify CPU / (d)", ve, d, cpu},
			{"verify server CPU / (d)'s", ve, d, goCPU},
			{"verify redis-server CPU / (d)'s", ve, d, redisCPU},
			{"verify Redis cmds / (d)'s", ve, d, cmds},
			{"verify p99 / (d)", ve, d, p99},
			{"login rps / (b)+(d)", lo, bd, rps},
			{"login CPU / (b)+(d)", lo, bd, cpu},
			{"login redis-server CPU / (b)+(d)'s", lo, bd, redisCPU},
			{"login p99 / (b)+(d)", lo, bd, p99},
			{"REST start CPU / gRPC", rs, st, cpu},
			{"REST verify CPU / gRPC", rv, ve, cpu},
		}
		si, az := fmt.Sprintf("verify sign-in gRPC c%d", c), fmt.Sprintf("verify-authz gRPC c%d", c)
		ratios = append(ratios,
			ratio{"verify-authz CPU / verify sign-in", az, si, cpu},
			ratio{"verify-authz server CPU / sign-in's", az, si, goCPU},
			ratio{"verify-authz redis-server CPU / sign-in's", az, si, redisCPU},
			ratio{"verify-authz Redis cmds / sign-in's", az, si, cmds},
			ratio{"verify-authz p99 / verify sign-in", az, si, p99},
			ratio{"verify-authz CPU / verify (sign-up)", az, ve, cpu},
			ratio{"verify sign-in CPU / verify (sign-up)", si, ve, cpu})
		if o.cluster {
			scripts := func(r result) float64 { return r.scriptsPerReq }
			for _, op := range []struct{ name, single string }{{"start", st}, {"verify", ve}, {"login", lo}} {
				cl := fmt.Sprintf("%s gRPC cluster c%d", op.name, c)
				ratios = append(ratios,
					ratio{"cluster " + op.name + " rps / single node", cl, op.single, rps},
					ratio{"cluster " + op.name + " CPU / single node", cl, op.single, cpu},
					ratio{"cluster " + op.name + " otpd CPU / single node", cl, op.single, goCPU},
					ratio{"cluster " + op.name + " Redis CPU / single node", cl, op.single, redisCPU},
					ratio{"cluster " + op.name + " p99 / single node", cl, op.single, p99},
					ratio{"cluster " + op.name + " scripts / single node", cl, op.single, scripts})
			}
		}
		for _, r := range ratios {
			v := perRep(all[r.num], all[r.den], r.f)
			if len(v) == 0 {
				continue
			}
			sp := spreadOf(v)
			each := make([]string, len(v))
			for i, x := range v {
				each[i] = fmt.Sprintf("%.2f", x)
			}
			fmt.Fprintf(w, "| %-42s | %6.2f | %5.2f – %5.2f | %5.2f – %5.2f | %s |\n", fmt.Sprintf("%s c%d", r.name, c), sp.med, sp.q1, sp.q3, sp.min, sp.max, strings.Join(each, " "))
		}
	}
	fmt.Fprintln(w)
}
