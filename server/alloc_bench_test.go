package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/delivery/queue"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/server"
)

// benchClientEnv, when set in the environment of this test binary, makes
// it a load client (see TestMain) instead of running tests: the server's
// allocation benchmarks run their gRPC client in another process, so that
// the allocations they count are the server's alone.
const benchClientEnv = "OTPD_BENCH_CLIENT"

// clientSpec is what the client process runs: n calls of op ("health",
// "start" or "verify") over conc goroutines sharing one connection, login
// ids prefix0@bench.test … prefix(n-1)@bench.test.
type clientSpec struct {
	Op, Addr, Project, Prefix string
	N, Conc                   int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchClientEnv); spec != "" {
		os.Exit(runBenchClient(spec))
	}
	os.Exit(m.Run())
}

func runBenchClient(raw string) int {
	var s clientSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 2
	}
	cc, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 2
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.Project)
	email, health := otpv1.NewOtpEmailClient(cc), healthpb.NewHealthClient(cc)
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range s.Conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(s.N); i = next.Add(1) - 1 {
				id := fmt.Sprintf("%s%d@bench.test", s.Prefix, i)
				var err error
				switch s.Op {
				case "health":
					_, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
				case "start":
					_, err = email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: id})
				case "verify":
					_, err = email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
				default:
					err = fmt.Errorf("unknown op %q", s.Op)
				}
				if err != nil && failed.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "bench client:", s.Op, err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 1
	}
	return 0
}

// serverAllocs runs n calls of op from a client process and returns the
// mallocs and bytes this process (the server, its Redis client and its
// delivery worker) made meanwhile, the delivery of started codes included.
func serverAllocs(b *testing.B, e *env, layout *queue.Layout, op, prefix string, n, conc int) (mallocs, bytes uint64, took time.Duration) {
	b.Helper()
	spec, _ := json.Marshal(clientSpec{Op: op, Addr: e.grpcAddr, Project: e.project, Prefix: prefix, N: n, Conc: conc})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s client: %v", op, err)
	}
	took = time.Since(t0)
	if op == "start" {
		// env.drain builds a queue layout per call (thousands of
		// allocations): this waits with one built beforehand.
		for {
			jobs, parked, err := layout.Depth(context.Background(), e.redis)
			if err != nil {
				b.Fatal(err)
			}
			if jobs+parked == 0 {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatal("the delivery queue did not drain")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	runtime.ReadMemStats(&m1)
	return m1.Mallocs - m0.Mallocs, m1.TotalAlloc - m0.TotalAlloc, took
}

// BenchmarkServerAllocs counts what otpd's server allocates per start and
// per verify, the gRPC client excluded (it runs in another process), and
// subtracts the floor: an empty gRPC call (a health Check through the same
// transport, interceptor chain and request log line), measured in the
// same run. The calls come 50 at a time, as make bench's c=50, with the
// production delivery worker settings and an info-level log.
//
// allocs/op and B/op are the server's per call; floor-allocs/op is the
// health Check's; over-floor-allocs/op (and over-floor-B/op) is what a
// start or a verify adds to an empty call. Each iteration is a batch of
// allocCalls calls from a new client process (a batch amortises the
// connection's setup, which the floor pays too).
func BenchmarkServerAllocs(b *testing.B) {
	for _, op := range []string{"start", "verify"} {
		b.Run(op, func(b *testing.B) {
			e := benchEnv(b, withServer(func(o *server.Options) {
				o.WorkerOptions = queue.Options{}
				o.Log = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}))
			const conc = 50
			layout, err := queue.NewLayout(queue.DefaultShards)
			if err != nil {
				b.Fatal(err)
			}
			var opA, opB, flA, flB uint64
			var took time.Duration
			calls := 0
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				prefix := fmt.Sprintf("%s%d-", op, i)
				if op == "verify" {
					serverAllocs(b, e, layout, "start", prefix, allocCalls, conc)
				}
				fa, fb, _ := serverAllocs(b, e, layout, "health", prefix, allocCalls, conc)
				b.StartTimer()
				a, bb, t := serverAllocs(b, e, layout, op, prefix, allocCalls, conc)
				opA, opB, flA, flB, took = opA+a, opB+bb, flA+fa, flB+fb, took+t
				calls += allocCalls
			}
			per := func(v uint64) float64 { return float64(v) / float64(calls) }
			b.ReportMetric(float64(took.Nanoseconds())/float64(calls), "ns/op")
			b.ReportMetric(per(opA), "allocs/op")
			b.ReportMetric(per(opB), "B/op")
			b.ReportMetric(per(flA), "floor-allocs/op")
			b.ReportMetric(per(opA)-per(flA), "over-floor-allocs/op")
			b.ReportMetric(per(opB)-per(flB), "over-floor-B/op")
		})
	}
}

// allocCalls is the calls per client process of BenchmarkServerAllocs.
const allocCalls = 2000
