// Command soak is `make bench-soak`: the hostile soak of docs/hardening.md.
// It builds otpd (benchmark build: every code is 000000), starts a real
// redis-server and otpd as separate processes on the default limits and
// request budget, and runs legitimate start → verify → refresh traffic at
// a steady rate, first alone (the quiet run), then while attackers on
// other loopback addresses (127.0.0.2, 127.0.0.3, …) run every flood the
// hardening page lists. It prints otpd's peak RSS (VmHWM), the budget's
// peak, and the legitimate calls' success rate and latency in both runs,
// and checks the targets: peak RSS < 200 MB, success >= 99.9% (rate-limit
// refusals aside), p99 <= 3 × quiet.
//
// The legitimate client reaches otpd as a trusted proxy (127.0.0.1, in
// OTPD_TRUSTED_PROXIES) carrying 4,096 simulated users' addresses, as a
// deployment behind a gateway does; the attackers connect directly, each
// from its own address, and meet the per-client limits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type options struct {
	dir     string
	d       time.Duration
	quietD  time.Duration
	rate    int
	attacks string
	// attacker: run only the attacks against the given target, until
	// SIGTERM, then print their counts as JSON (the child process).
	attacker bool
	target   target
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".bench/soak", "work directory (binaries, logs)")
	flag.DurationVar(&o.d, "d", 60*time.Second, "duration of the hostile run")
	flag.DurationVar(&o.quietD, "quiet", 30*time.Second, "duration of the quiet run before it")
	flag.IntVar(&o.rate, "rate", 20, "legitimate logins per second (each: start, verify, refresh over gRPC or REST)")
	flag.StringVar(&o.attacks, "attacks", "all", "comma-separated attacks to run (all: every one)")
	flag.BoolVar(&o.attacker, "attacker", false, "internal: run as the attackers' process")
	flag.StringVar(&o.target.grpc, "grpc", "", "internal: otpd's gRPC address (with -attacker)")
	flag.StringVar(&o.target.http, "http", "", "internal: otpd's REST address (with -attacker)")
	flag.StringVar(&o.target.project, "project", "", "internal: the project id (with -attacker)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.attacker {
		attackerMain(ctx, &o.target, o.attacks)
		return
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	o.dir = dir
	bin, err := build(ctx, dir)
	if err != nil {
		return err
	}
	rds, err := startRedis(ctx, dir)
	if err != nil {
		return err
	}
	defer rds.stop()
	t, err := startOtpd(ctx, o, bin, rds.addr)
	if err != nil {
		return err
	}
	defer t.stop()

	fmt.Fprintf(os.Stderr, "otpd: gRPC %s, REST %s, admin %s (pid %d)\n", t.grpc, t.http, t.admin, t.cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "quiet run: %v of %d logins/s\n", o.quietD, o.rate)
	quiet := legit(ctx, t, o.rate, o.quietD, "q")
	quietRSS := t.peakRSS()

	fmt.Fprintf(os.Stderr, "hostile run: %v of %d logins/s under attack\n", o.d, o.rate)
	actx, cancel := context.WithCancel(ctx)
	attackers, err := startAttackers(actx, t, o.attacks)
	if err != nil {
		cancel()
		return err
	}
	watch := watchBudget(actx, t)
	time.Sleep(2 * time.Second) // the attacks reach their steady state
	hostile := legit(ctx, t, o.rate, o.d, "h")
	cancel()
	budgetPeak := <-watch
	stats, err := attackers.wait()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	report(os.Stdout, o, t, quiet, hostile, quietRSS, t.peakRSS(), budgetPeak, stats)
	return nil
}
