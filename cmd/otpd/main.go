// Command otpd serves OTP sign-up/sign-in over gRPC and Descope-compatible
// REST. Configuration comes from the environment (see README); with no
// OTPD_REDIS_URL it runs on an embedded in-process Redis.
//
//	otpd          serve gRPC and REST (and, unless OTPD_WORKERS=0, deliver)
//	otpd worker   only deliver queued messages (needs OTPD_REDIS_URL)
//	otpd keygen | config check | version | deadletters   operator tools (otpd help)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/fraud"
	"github.com/otpd/otpd/logbuf"
	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/tracing"
)

// defaultGOGC is the garbage collector's target otpd runs with unless the
// GOGC environment variable is set: a collection when the heap has grown
// by 200% of what was live (Go's default is 100%). otpd's live heap is
// small (a few MB at c=200) and its garbage comes from requests, so
// collecting half as often costs little memory (peak RSS in make bench
// stays far below the 150 MB target; docs/performance.md) and saves the
// CPU of every other cycle. GOMEMLIMIT, if set, still bounds the heap.
const defaultGOGC = 200

// logBufferSize is how many bytes of log lines wait at most before they
// are written (about 250 request lines).
const logBufferSize = 64 << 10

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:]); err != nil {
		if servesJSON(os.Args[1:]) {
			fatalLine(os.Stderr, err)
		} else {
			fmt.Fprintln(os.Stderr, "otpd:", err)
		}
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	if handled, err := runTool(ctx, args, toolEnv{stdout: os.Stdout, stderr: os.Stderr, env: os.LookupEnv, read: os.ReadFile,
		environ: os.Environ()}); handled {
		return err
	}
	cfg, report := validate(os.LookupEnv, os.ReadFile, os.Environ())
	if err := report.Err(); err != nil {
		return err
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGOGC)
	}
	// Log lines are written together, at most cfg.LogFlush late (one
	// write per request line is a measurable part of a start's CPU).
	logOut := logbuf.New(os.Stderr, logBufferSize, cfg.LogFlush)
	defer logOut.Close()
	log := newLogger(logOut, cfg.LogLevel)
	routeLibraryLogs(log)
	for _, w := range report.Warnings {
		log.Warn(w)
	}
	clk := clock.Real{}
	for _, w := range config.NotForProduction(cfg) {
		log.Warn("NOT FOR PRODUCTION: " + w)
	}
	switch {
	case len(args) == 1 && args[0] == "worker":
		return runWorker(ctx, cfg, clk, log)
	case len(args) > 0:
		return fmt.Errorf("unknown arguments %q (see otpd help)", args)
	}

	rdb, closeRedis, err := openRedis(cfg, clk, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	tp, stopTracing, err := tracing.Setup(ctx, os.LookupEnv, serviceVersion())
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))

	opts := server.Options{Tracer: tp,
		Config: cfg, Redis: rdb, Clock: clk, Log: log, CodeLog: os.Stdout, Registry: newRegistry(),
		Pprof: os.Getenv("OTPD_PPROF") == "true",
	}
	benchOptions(&opts)
	srv, err := server.New(ctx, opts)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	var al net.Listener
	if cfg.AdminAddr != "" {
		if al, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			gl.Close()
			hl.Close()
			return fmt.Errorf("admin listener (OTPD_ADMIN_ADDR): %w", err)
		}
		log.Info("admin listener: /metrics, /healthz and (OTPD_PPROF=true) /debug/pprof/", "addr", al.Addr().String())
	}
	ids := make([]string, 0, len(cfg.Projects))
	for _, p := range cfg.Projects {
		ids = append(ids, p.ID)
	}
	attrs := []any{"grpc", gl.Addr().String(), "http", hl.Addr().String(), "rest", "http://" + hl.Addr().String(),
		"projects", ids, "embeddedRedis", cfg.Embedded()}
	if cfg.DevConsole {
		attrs = append(attrs, "devConsole", "http://"+hl.Addr().String()+"/dev/ (codes in clear; development only)")
	}
	log.Info("otpd serving", attrs...)
	return srv.ServeListeners(ctx, server.Listeners{GRPC: gl, HTTP: hl, Admin: al})
}

// openRedis connects to OTPD_REDIS_URL, or starts the embedded miniredis.
func openRedis(cfg *config.Config, clk clock.Clock, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.Embedded() {
		e, err := store.StartEmbedded(clk, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded redis: %w", err)
		}
		redisconn.Bound(e.Client, cfg.RedisTimeout)
		log.Warn("using the embedded in-process Redis: all state is lost when otpd stops; set OTPD_REDIS_URL for production")
		return e.Client, e.Close, nil
	}
	// On Cluster each queue shard has its own blocking reader (a command
	// cannot span slots): room for them in the pools.
	c, err := redisconn.Open(redisconn.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster, Timeout: cfg.RedisTimeout,
		BlockingConns: cfg.QueueShards})
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// runWorker delivers queued messages until ctx ends.
func runWorker(ctx context.Context, cfg *config.Config, clk clock.Clock, log *slog.Logger) error {
	if cfg.Embedded() {
		return fmt.Errorf("otpd worker needs OTPD_REDIS_URL: the embedded Redis lives inside the serving process")
	}
	rdb, closeRedis, err := openRedis(cfg, clk, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	reg := newRegistry()
	dlv, err := server.BuildDelivery(cfg, os.ReadFile, os.LookupEnv, os.Stdout, clk.Now, log)
	if err != nil {
		return err
	}
	tp, stopTracing, err := tracing.Setup(ctx, os.LookupEnv, serviceVersion())
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	if err := tracing.InstrumentRedis(tp, rdb); err != nil {
		return err
	}
	// Undelivered and failed statuses the worker records (permanent
	// failures) count against their destination's conversion, as in the
	// server (docs/abuse-protection.md).
	guard, err := fraud.New(fraud.SettingsOf(cfg.Projects), store.NewRedisStore(rdb), clk, reg, log)
	if err != nil {
		return err
	}
	if _, err := dlv.TrackStatus(cfg, rdb, clk, reg, log, fraud.DeliveryOutcomes{Guard: guard}); err != nil {
		return err
	}
	dlv.Handler = tracing.Deliveries(tp, dlv.Handler)
	m, err := queue.NewMetrics(reg)
	if err != nil {
		return err
	}
	n := max(cfg.Workers, 1)
	log.Info("otpd worker delivering", "concurrency", n)
	if cfg.WorkerMetricsAddr != "" {
		l, err := net.Listen("tcp", cfg.WorkerMetricsAddr)
		if err != nil {
			return fmt.Errorf("OTPD_WORKER_METRICS_ADDR: %w", err)
		}
		hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(l) }()
		defer hs.Close()
		log.Info("worker metrics", "addr", l.Addr().String())
	}
	w := queue.NewWorker(rdb, dlv.Sealer, dlv.Handler, clk, log, m, queue.Options{
		Concurrency: n, MaxAttempts: cfg.DeliveryMaxAttempts, MaxLen: cfg.QueueMaxLen, DeadMaxLen: cfg.QueueMaxLen,
		Layout: dlv.Layout,
	})
	return w.Run(tracing.Background(ctx))
}

// newRegistry is a metrics registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	return reg
}
