// Command run is `make bench`: it builds otpd (benchmark build: every code
// is 000000), three baseline servers and ghz, starts a real redis-server,
// and load-tests start and verify over gRPC (ghz) and REST (wrk) against
// the baselines on the same machine, in the same run. It prints one table
// and checks the targets of the performance issue as ratios.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	dir      string
	duration time.Duration
	reps     int
	conc     []int
	seed     int
	// signInSeed is the users (and codes) seeded before each sign-in
	// verify run (verify sign-in, verify-authz): more than a run can
	// verify, like seed.
	signInSeed int
	only       []string // scenario name substrings to run (all when empty)
	// serverCPUs, when set, is the taskset CPU list of the servers (otpd,
	// the baselines, redis-server); this process and the load generators
	// it starts run on loadCPUs.
	serverCPUs, loadCPUs string
	// cluster adds the gRPC start, verify and login against a second otpd
	// on a 3-master Redis Cluster.
	cluster bool
}

// serverCmd is the command that starts a server, pinned to serverCPUs
// when pinning is on (taskset execs the server: its PID is the server's).
func (o options) serverCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	if o.serverCPUs == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "taskset", append([]string{"-c", o.serverCPUs, name}, args...)...)
}

// machineCPUs is the number of online CPUs, whatever this process's
// affinity (runtime.NumCPU counts only the CPUs it may run on, which is 1
// once pinned).
func machineCPUs() int {
	out, err := exec.Command("getconf", "_NPROCESSORS_ONLN").Output()
	if n, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// pinnedEnv marks the re-executed, pinned bench process.
const pinnedEnv = "OTPD_BENCH_PINNED"

// pinSelf re-executes this process under taskset on loadCPUs, so that the
// load generators it starts (ghz, wrk) and its own login client inherit
// that CPU set; it returns only when pinning is off or already done.
func pinSelf(o options) error {
	if o.serverCPUs == "" || os.Getenv(pinnedEnv) != "" {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("-pin needs taskset (util-linux): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(ts, append([]string{"taskset", "-c", o.loadCPUs, self}, os.Args[1:]...), append(os.Environ(), pinnedEnv+"=1"))
}

// wanted reports whether -only selects the scenario.
func (o options) wanted(s scenario) bool {
	if len(o.only) == 0 {
		return true
	}
	for _, w := range o.only {
		if strings.Contains(s.name, w) {
			return true
		}
	}
	return false
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".bench", "work directory (binaries, logs, profiles)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "duration of each load run")
	flag.IntVar(&o.reps, "reps", 5, "repetitions (the table shows medians, the ratios their median and spread)")
	pin := flag.Bool("pin", machineCPUs() >= 2, "pin the load generators (and this process) to CPU 0 and the servers and redis-server to the other CPUs, with taskset")
	flag.IntVar(&o.seed, "seed", 150000, "codes pre-seeded before each verify run (more than a verify run can use)")
	flag.IntVar(&o.signInSeed, "seed-signin", defaultSignInSeed, "users (with a sign-in code each) seeded before each sign-in verify run (verify sign-in, verify-authz; c=50 only): more than a run can verify")
	flag.BoolVar(&o.cluster, "cluster", false, "also run the gRPC start, verify and login against an otpd on a 3-master Redis Cluster on this machine (ratios to the single node in the same repetition)")
	conc := flag.String("c", "50,200", "concurrencies, comma-separated (the targets are checked at 50)")
	only := flag.String("only", "", "run only the scenarios whose names contain one of these comma-separated strings, e.g. \"(b),(d),gRPC\" (for quick comparisons; the target checks need them all)")
	flag.Parse()
	for _, w := range strings.Split(*only, ",") {
		if w = strings.TrimSpace(w); w != "" {
			o.only = append(o.only, w)
		}
	}
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "bench: bad -c", *conc)
			os.Exit(2)
		}
		o.conc = append(o.conc, n)
	}
	if *pin {
		if machineCPUs() < 2 {
			fmt.Fprintln(os.Stderr, "bench: -pin needs at least 2 CPUs")
			os.Exit(2)
		}
		o.loadCPUs, o.serverCPUs = "0", fmt.Sprintf("1-%d", machineCPUs()-1)
		if err := pinSelf(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	o.dir = abs
	if err := os.MkdirAll(filepath.Join(o.dir, "bin"), 0o755); err != nil {
		return err
	}
	bins, err := build(ctx, o.dir)
	if err != nil {
		return err
	}
	rds, err := startRedis(ctx, o)
	if err != nil {
		return err
	}
	defer rds.stop()

	targets, err := startTargets(ctx, o, bins, rds)
	if err != nil {
		return err
	}
	defer targets.stop()
	var cluster *clusterSet
	if o.cluster {
		if cluster, err = startCluster(ctx, o); err != nil {
			return err
		}
		defer cluster.stop()
		if err := targets.startClusterOtpd(ctx, o, bins, cluster); err != nil {
			return err
		}
	}

	results := map[string][]result{}
	for rep := 1; rep <= o.reps; rep++ {
		fmt.Fprintf(os.Stderr, "== repetition %d of %d\n", rep, o.reps)
		for _, c := range o.conc {
			for _, s := range o.runOrder(c, rep) {
				if !o.wanted(s) {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				r, err := targets.measure(ctx, o, bins, rds, cluster, s, rep)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				fmt.Fprintf(os.Stderr, "   %-28s %8.0f rps  p50 %6.2f ms  p99 %6.2f ms  errors %d  cpu %6.1f µs/req (redis %5.1f, %4.1f cmds, %4.2f scripts)\n",
					s.name, r.rps, r.p50, r.p99, r.errors, r.cpuPerReq, r.redisPerReq, r.redisCmdsPerReq, r.scriptsPerReq)
				results[s.name] = append(results[s.name], r)
			}
		}
	}
	mem, err := targets.pendingCodeBytes(ctx, bins, rds)
	if err != nil {
		return err
	}
	report(os.Stdout, o, medians(results), results, targets.otpdPeakRSS(), mem)
	return nil
}

// errorsOf is the errors of every run of a series: one bad run must show,
// whatever the median run did.
func errorsOf(rs []result) int {
	n := 0
	for _, r := range rs {
		n += r.errors
	}
	return n
}

// median of a result series, field by field (errors: their sum).
func medians(in map[string][]result) map[string]result {
	out := map[string]result{}
	for name, rs := range in {
		pick := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		out[name] = result{
			rps:             pick(func(r result) float64 { return r.rps }),
			p50:             pick(func(r result) float64 { return r.p50 }),
			p99:             pick(func(r result) float64 { return r.p99 }),
			errors:          errorsOf(rs),
			count:           int(pick(func(r result) float64 { return float64(r.count) })),
			cpuPerReq:       pick(func(r result) float64 { return r.cpuPerReq }),
			redisPerReq:     pick(func(r result) float64 { return r.redisPerReq }),
			redisCmdsPerReq: pick(func(r result) float64 { return r.redisCmdsPerReq }),
			scriptsPerReq:   pick(func(r result) float64 { return r.scriptsPerReq }),
		}
	}
	return out
}
