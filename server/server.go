// Package server assembles otpd from its parts: projects and their keys,
// the store, the flow engine, the gRPC services behind one interceptor
// chain, the in-process REST gateway, health, reflection and metrics; and
// serves them until its context ends, then stops gracefully.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/callback"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/devconsole"
	"github.com/otpd/otpd/durability"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/fraud"
	"github.com/otpd/otpd/gateway"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/grpcbounds"
	"github.com/otpd/otpd/inproc"
	"github.com/otpd/otpd/membudget"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/middleware"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/redisconn"
	"github.com/otpd/otpd/service"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/tracing"
)

// Options are the server's dependencies. Zero values get production
// defaults where one exists.
type Options struct {
	Config *config.Config
	// Redis is the store's client (single node, Sentinel or Cluster).
	Redis redis.UniversalClient
	Clock clock.Clock
	Log   *slog.Logger
	// CodeLog receives the log provider's lines (codes in clear).
	CodeLog io.Writer
	// Registry receives the metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Random feeds codes, user ids and token ids (crypto/rand by default).
	Random io.Reader
	// CodeRandom, when set, feeds only the code generator (the benchmark
	// build uses it to make codes known; see cmd/otpd/bench.go).
	CodeRandom io.Reader
	// Pprof serves /debug/pprof/ on the admin listener (OTPD_PPROF=true).
	Pprof bool
	// ReadFile reads key files.
	ReadFile config.ReadFile
	// Env looks up secrets named by *Env settings (os.LookupEnv by default).
	Env config.Env
	// FirstMessageTimeout is how long a gRPC stream may stay open before
	// its request message arrives (grpcbounds.FirstMessageTimeout by
	// default).
	FirstMessageTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown (10s by default).
	ShutdownTimeout time.Duration
	// Tracer, when set, traces gRPC, REST, Redis and deliveries (package
	// tracing; nil: off).
	Tracer trace.TracerProvider
	// WorkerOptions tune the in-process delivery workers (Concurrency and
	// MaxAttempts default to the config's OTPD_WORKERS and
	// OTPD_DELIVERY_MAX_ATTEMPTS).
	WorkerOptions queue.Options
	// Outcomes hears undelivered and failed delivery statuses (package
	// status): where the conversion guard plugs in. Nil ignores them.
	Outcomes status.Outcomes
}

// streamWorkers is the number of reused gRPC handler goroutines; RPCs
// beyond it get a goroutine of their own.
const streamWorkers = 256

// Server is an assembled otpd.
type Server struct {
	guard    *fraud.Guard
	grpc     *grpc.Server
	rest     http.Handler
	admin    http.Handler
	health   *health.Server
	projects flow.ProjectMap
	log      *slog.Logger
	timeout  time.Duration
	worker   *queue.Worker // nil when OTPD_WORKERS is 0
	watch    *healthWatch
	conns    grpcbounds.ConnLimits
	// restConns caps REST connections like conns does gRPC's.
	restConns grpcbounds.ConnLimits
	// grpcBudget and restBudget charge undecoded request bytes to one
	// membudget.Budget.
	grpcBudget *membudget.GRPC
	restBudget *membudget.HTTP
}

// New assembles a server.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Config == nil || o.Redis == nil || o.Log == nil {
		return nil, errors.New("server: Config, Redis and Log are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	secrets := o.Config.HMACSecrets
	if len(secrets) == 0 {
		// Embedded mode only (config refuses this otherwise).
		s := make([]byte, 32)
		if _, err := io.ReadFull(o.Random, s); err != nil {
			return nil, err
		}
		secrets = [][]byte{[]byte(fmt.Sprintf("%x", s))}
		o.Log.Warn("no OTPD_HMAC_SECRETS: using a random secret for this process; pending codes die with it")
	}
	hasher, err := otpcode.NewHasher(secrets)
	if err != nil {
		return nil, fmt.Errorf("hmac secrets: %w", err)
	}
	projects, err := buildProjects(o)
	if err != nil {
		return nil, err
	}
	dlv, err := BuildDelivery(o.Config, o.ReadFile, o.Env, o.CodeLog, o.Clock.Now, o.Log)
	if err != nil {
		return nil, err
	}
	queueMetrics, err := queue.NewMetrics(o.Registry)
	if err != nil {
		return nil, err
	}

	st := store.NewRedisStore(o.Redis).Durable(o.Config.RedisWaitReplicas, o.Config.RedisWaitTimeout).
		OnUndoFailure(func(err error) { o.Log.Warn("could not take back a timed-out start", "error", err) })
	var durable *durability.Tracker
	if o.Config.RedisWaitReplicas > 0 {
		if durable, err = durability.New(o.Clock, o.Registry, o.Log, o.Config.RedisWaitPolicy); err != nil {
			return nil, err
		}
		policy := store.RefuseShortfall
		if o.Config.RedisWaitPolicy == "accept" {
			policy = store.AcceptShortfall
		}
		st.OnShortfall(policy, durable)
	}
	if o.Config.RedisAutoPipeline {
		ap, err := redisconn.AutoPipeline(o.Redis)
		if err != nil {
			return nil, err
		}
		if ap != nil { // nil on Cluster
			st.Batched(ap)
		}
	}
	if err := st.Preload(ctx); err != nil {
		o.Log.Warn("could not preload Redis scripts; they load on first use", "error", err)
	}
	flowMetrics, err := flow.NewMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	guard, err := fraud.New(fraud.SettingsOf(o.Config.Projects), st, o.Clock, o.Registry, o.Log)
	if err != nil {
		return nil, err
	}
	// Undelivered and failed statuses count against their destination's
	// conversion (docs/abuse-protection.md), unless the caller hears them.
	var outcomes status.Outcomes = fraud.DeliveryOutcomes{Guard: guard}
	if o.Outcomes != nil {
		outcomes = o.Outcomes
	}
	rec, err := dlv.TrackStatus(o.Config, o.Redis, o.Clock, o.Registry, o.Log, outcomes)
	if err != nil {
		return nil, err
	}
	act := devActivity(o) // nil unless the dev console is on
	if act != nil {
		rec.Observe(act.Status)
	}
	dlv.Handler = tracing.Deliveries(o.Tracer, act.Track(dlv.Handler))
	if o.Tracer != nil {
		dlv.Producer.WithTrace(tracing.TraceParent)
	}
	if err := tracing.InstrumentRedis(o.Tracer, o.Redis); err != nil {
		return nil, err
	}
	engine := flow.New(flow.Deps{Metrics: flowMetrics, Guard: guard,
		Codes: st, Users: st, Sessions: st, Accounts: st, Gen: otpcode.NewGenerator(cmp.Or(o.CodeRandom, o.Random)), Hasher: hasher,
		Jobs: dlv.Producer, Outbox: st, Options: dlv, Clock: o.Clock, Random: o.Random, Log: o.Log, Indexer: st, Authz: st, Limiter: st,
	})
	mgmtKeys, err := managementKeys(o.Config)
	if err != nil {
		return nil, err
	}
	users := mgmt.New(st, engine, o.Clock, o.Random, o.Log)

	metrics, err := middleware.NewMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	transport := func(ctx context.Context) string {
		if inproc.IsInProcess(ctx) {
			return "rest"
		}
		return "grpc"
	}
	layers := []middleware.Layer{
		middleware.Observe(o.Log, metrics, o.Clock, transport),
		middleware.Recover(o.Log),
		middleware.ClientIP(middleware.ClientIPOptions{
			Trusted: o.Config.TrustedProxies, IPv6Bits: o.Config.ClientIPv6Bits, InProcess: inproc.IsInProcess}),
		middleware.Errors(o.Log),
		middleware.Auth(projects, otpv1.Session_GetKeys_FullMethodName),
		middleware.ManagementAuth(mgmtKeys),
	}
	if act != nil { // the dev console's blocked sends: inside Observe's call record and error statuses
		layers = slices.Insert(layers, 1, middleware.Layer(act.Interceptor))
	}
	chain := middleware.Chain(layers...)

	// Messages up to twice the REST body limit are read, so that one over
	// the limit gets E011001 with ErrorInfo (middleware.Decoder); beyond
	// that grpc-go refuses it alone (ResourceExhausted).
	decoder := middleware.NewDecoder(gateway.MaxBodyBytes)
	grpcChain := middleware.Chain(append([]middleware.Layer{decoder.Refusals()}, layers...)...)
	trusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(o.Config.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	budget, err := membudget.New(membudget.Limits{
		Total: int64(o.Config.RequestBudget), PerClient: int64(o.Config.RequestBudgetPerClient),
		IPv6Bits: min(o.Config.ClientIPv6Bits, membudget.IPv6Bits), Trusted: trusted,
	}, o.Registry)
	if err != nil {
		return nil, err
	}
	grpcBudget := membudget.NewGRPC(budget)
	gs := grpc.NewServer(append(grpcbounds.ServerOptions(2*gateway.MaxBodyBytes, o.FirstMessageTimeout, unaryChain(grpcChain, decoder), grpcBudget.Tap),
		grpc.ForceServerCodecV2(decoder.Codec()),
		// Reuse handler goroutines: a fresh goroutine per RPC regrows its
		// stack on every call (copystack was 9% of a start's CPU).
		grpc.NumStreamWorkers(streamWorkers), tracing.GRPCServerOption(o.Tracer))...)
	local := inproc.New(chain)
	// Every service on gs is registered through the decoder.
	gsr := decoder.Register(gs)
	for _, r := range []grpc.ServiceRegistrar{gsr, local} {
		otpv1.RegisterOtpEmailServer(r, service.NewEmail(engine))
		otpv1.RegisterOtpSmsServer(r, service.NewPhone(flow.SMS, engine))
		otpv1.RegisterOtpVoiceServer(r, service.NewPhone(flow.Voice, engine))
		otpv1.RegisterOtpWhatsappServer(r, service.NewPhone(flow.WhatsApp, engine))
		otpv1.RegisterSessionServer(r, service.NewSession(projects, engine).WithHistory(st, o.Clock.Now))
		otpv1.RegisterManagementServer(r, service.NewManagement(users))
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gsr, hs)
	if o.Config.GRPCReflection {
		reflection.Register(gsr)
	}

	refusedConns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_grpc_connections_refused_total",
		Help: "gRPC connections closed at accept by a connection cap (per_ip or total).",
	}, []string{"reason"})
	refusedREST := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_http_connections_refused_total",
		Help: "REST connections closed at accept by a connection cap (per_ip or total).",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{refusedConns, refusedREST} {
		if err := o.Registry.Register(c); err != nil {
			return nil, err
		}
	}
	s := &Server{guard: guard, grpc: gs, health: hs, projects: projects, log: o.Log, timeout: o.ShutdownTimeout,
		conns: grpcbounds.ConnLimits{
			PerIP: o.Config.GRPCMaxConnsPerIP, Total: o.Config.GRPCMaxConns, IPv6Bits: o.Config.ClientIPv6Bits,
			Trusted: trusted,
			Refused: func(reason string) { refusedConns.WithLabelValues(reason).Inc() },
		},
		restConns: grpcbounds.ConnLimits{
			PerIP: o.Config.HTTPMaxConnsPerIP, Total: o.Config.HTTPMaxConns, IPv6Bits: o.Config.ClientIPv6Bits,
			Trusted: trusted,
			Refused: func(reason string) { refusedREST.WithLabelValues(reason).Inc() },
		},
		grpcBudget: grpcBudget,
		restBudget: membudget.NewHTTP(budget, gateway.MaxBodyBytes, gateway.WriteError),
	}
	if o.Config.Workers > 0 {
		wo := o.WorkerOptions
		if wo.Concurrency == 0 {
			wo.Concurrency = o.Config.Workers
		}
		if wo.MaxAttempts == 0 {
			wo.MaxAttempts = o.Config.DeliveryMaxAttempts
		}
		wo.MaxLen, wo.DeadMaxLen = o.Config.QueueMaxLen, o.Config.QueueMaxLen
		wo.Layout = dlv.Layout
		s.worker = queue.NewWorker(o.Redis, dlv.Sealer, dlv.Handler, o.Clock, o.Log, queueMetrics, wo)
	}
	s.watch = &healthWatch{redis: o.Redis, grpc: hs, log: o.Log, services: apiServices(gs), unreadyDegraded: o.Config.RedisWaitUnready}
	if durable != nil {
		s.watch.durability = durable
	}
	if s.worker != nil {
		s.watch.workers = s.worker
	}
	s.admin = adminHandler(o.Registry, http.HandlerFunc(s.watch.serveHTTP), o.Pprof)
	extra := map[string]http.Handler{"/healthz": http.HandlerFunc(s.watch.serveHTTP),
		callback.Path: dlv.callbackHandler()}
	devRoutes(ctx, o, dlv, act, extra)
	rest, err := gateway.New(ctx, gateway.Options{
		Conn:        local,
		CORSOrigins: o.Config.CORSOrigins,
		NoCORS:      []string{devconsole.Prefix},
		Rejected:    middleware.Rejected(o.Log, metrics),
		Extra:       extra,
	})
	if err != nil {
		return nil, err
	}
	s.rest = tracing.HTTPHandler(o.Tracer, rest)
	return s, nil
}

// Pumping is the pumping guard's outcome feed (package fraud): delivery
// status reports undelivered and failed sends to it (Failed).
func (s *Server) Pumping() fraud.Outcomes { return s.guard }

// Projects returns the served projects.
func (s *Server) Projects() flow.ProjectMap { return s.projects }

// Handler returns the REST handler.
func (s *Server) Handler() http.Handler { return s.rest }

// adminHandler serves what must not share the public REST port: metrics
// (they name every method, limit and error rate) and profiles.
func adminHandler(reg *prometheus.Registry, healthz http.Handler, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", healthz)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Listeners are where a Server serves. Admin may be nil (no admin
// listener).
type Listeners struct {
	GRPC, HTTP, Admin net.Listener
}

// Serve serves gRPC on gl and REST on hl, without an admin listener; see
// ServeListeners.
func (s *Server) Serve(ctx context.Context, gl, hl net.Listener) error {
	return s.ServeListeners(ctx, Listeners{GRPC: gl, HTTP: hl})
}

// ServeListeners serves gRPC, REST and admin until ctx ends, then shuts
// down gracefully: health turns NOT_SERVING, in-flight calls finish
// (bounded by the shutdown timeout), listeners close.
func (s *Server) ServeListeners(ctx context.Context, l Listeners) error {
	gl, hl := l.GRPC, l.HTTP
	hsrv := &http.Server{
		// The budget's handler runs first: it refuses or releases before
		// anything else reads the request.
		Handler:           s.restBudget.Handler(s.rest),
		ConnContext:       s.restBudget.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    gateway.ServerMaxHeaderBytes,
	}
	if l.Admin != nil {
		// Profiles take up to their ?seconds; no write timeout.
		asrv := &http.Server{Handler: s.admin, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 32 << 10}
		go func() { _ = asrv.Serve(l.Admin) }()
		defer asrv.Close()
	}
	errc := make(chan error, 2)
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	// gRPC health follows the same Redis probe as /healthz.
	// The probes and the workers' polling are housekeeping: not traced.
	_ = s.watch.check(tracing.Background(ctx), 0)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); s.watch.run(tracing.Background(workCtx)) }()
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if s.worker != nil {
			if err := s.worker.Run(tracing.Background(workCtx)); err != nil {
				s.log.Error("delivery workers stopped", "error", err)
			}
		}
	}()
	go func() { errc <- s.grpc.Serve(s.grpcBudget.Listen(grpcbounds.Listen(gl, s.conns))) }()
	go func() {
		if err := hsrv.Serve(s.restBudget.Listen(grpcbounds.Listen(hl, s.restConns))); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	s.health.Shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_ = hsrv.Shutdown(sctx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		s.grpc.Stop()
	}
	// Workers stop last: jobs in flight finish; waiting jobs stay queued.
	stopWork()
	<-watchDone
	select {
	case <-workDone:
	case <-sctx.Done():
	}
	return serveErr
}
