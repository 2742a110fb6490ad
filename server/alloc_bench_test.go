package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// clientSpec is what the client process runs: n calls of op over conc
// goroutines sharing one connection, login ids prefix0@bench.test …
// prefix(n-1)@bench.test. Ops: "health" (a health Check), "start"
// (SignUpOrIn), "verify" (Verify with code 000000; with Out, the refresh
// JWTs are written there, one a line, in login-id order), "login" (a
// SignUpOrIn then a Verify of the same login id: one login is both
// calls), "refresh" (Refresh with each refresh JWT read from In).
type clientSpec struct {
	Op, Addr, Project, Prefix string
	N, Conc                   int
	In, Out                   string
}

// clientResult is what the client process prints on its stdout: the wall
// time of its calls, from the first call to the last answer (process
// start and connection setup excluded).
type clientResult struct{ Nanos int64 }

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
	bg := context.Background()
	ctx := metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+s.Project)
	email, health, sess := otpv1.NewOtpEmailClient(cc), healthpb.NewHealthClient(cc), otpv1.NewSessionClient(cc)
	var refresh []string
	if s.In != "" {
		b, err := os.ReadFile(s.In)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench client:", err)
			return 2
		}
		refresh = strings.Fields(string(b))
		if len(refresh) < s.N {
			fmt.Fprintf(os.Stderr, "bench client: %d refresh JWTs for %d calls\n", len(refresh), s.N)
			return 2
		}
	}
	// Connect before the clock starts: the connection's setup is paid
	// once per process and is no part of a call.
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 2
	}
	out := make([]string, s.N)
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	t0 := time.Now()
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
					var r *otpv1.JWTResponse
					if r, err = email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"}); err == nil {
						out[i] = r.GetRefreshJwt()
					}
				case "login":
					if _, err = email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: id}); err == nil {
						_, err = email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
					}
				case "refresh":
					rctx := metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+s.Project+":"+refresh[i])
					_, err = sess.Refresh(rctx, &otpv1.RefreshRequest{})
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
	took := time.Since(t0)
	if failed.Load() > 0 {
		return 1
	}
	if s.Out != "" {
		if err := os.WriteFile(s.Out, []byte(strings.Join(out, "\n")), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "bench client:", err)
			return 2
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(clientResult{Nanos: took.Nanoseconds()})
	return 0
}

// batch is what the server process spent on one client process's calls.
type batch struct {
	mallocs, bytes uint64
	cpu, wall      time.Duration // the server process's CPU; the client's wall time
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverAllocs runs n calls of op (see clientSpec) from a client process
// and returns the mallocs, bytes and CPU this process (the server, its
// Redis client and its delivery worker) spent meanwhile, the delivery of
// started codes included.
func serverAllocs(b *testing.B, e *env, layout *queue.Layout, spec clientSpec) batch {
	b.Helper()
	spec.Addr, spec.Project = e.grpcAddr, e.project
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientEnv+"="+string(raw))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c0 := cpuTime(b)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s client: %v", spec.Op, err)
	}
	polls := 0
	if spec.Op == "start" || spec.Op == "login" {
		// env.drain builds a queue layout per call (thousands of
		// allocations): this waits with one built beforehand, and its
		// polls are taken off below.
		for {
			jobs, parked, err := layout.Depth(context.Background(), e.redis)
			if err != nil {
				b.Fatal(err)
			}
			polls++
			if jobs+parked == 0 {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatal("the delivery queue did not drain")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c1 := cpuTime(b)
	runtime.ReadMemStats(&m1)
	got := batch{mallocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc, cpu: c1 - c0}
	if polls > 0 {
		// What the polls cost, measured on one more, the server idle.
		p := pollCost(b, e, layout)
		got.mallocs -= min(got.mallocs, uint64(polls)*p.mallocs)
		got.bytes -= min(got.bytes, uint64(polls)*p.bytes)
		got.cpu -= min(got.cpu, time.Duration(polls)*p.cpu)
	}
	var r clientResult
	if err := json.NewDecoder(bufio.NewReader(&stdout)).Decode(&r); err != nil {
		b.Fatalf("%s client's result: %v", spec.Op, err)
	}
	got.wall = time.Duration(r.Nanos)
	return got
}

// pollCost is what one poll of the delivery queue's depth costs this
// process: the harness's, not the server's.
func pollCost(b *testing.B, e *env, layout *queue.Layout) batch {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0 := cpuTime(b)
	if _, _, err := layout.Depth(context.Background(), e.redis); err != nil {
		b.Fatal(err)
	}
	c1 := cpuTime(b)
	runtime.ReadMemStats(&m1)
	return batch{mallocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc, cpu: c1 - c0}
}

// allocOps are the calls BenchmarkServerAllocs measures, with the number
// of gRPC calls each is (a login is a start and a verify).
var allocOps = []struct {
	op    string
	calls int
}{{"start", 1}, {"verify", 1}, {"login", 2}, {"refresh", 1}}

// allocRow is one op's medians over the iterations of its sub-benchmark.
type allocRow struct {
	op                                         string
	calls                                      int
	allocs, bytes, cpu, wall                   float64 // per op
	floorAllocs, floorBytes, floorCPU, floorNs float64 // per empty call
}

// BenchmarkServerAllocs counts what otpd's server allocates and spends
// in CPU per start, verify, login and refresh, the gRPC client excluded
// (it runs in another process), and subtracts the floor: an empty gRPC
// call (a health Check through the same transport, interceptor chain and
// request log line), measured in the same iteration, right before. The
// calls come 50 at a time, as make bench's c=50, with the production
// delivery worker settings and an info-level log. Each iteration is a
// batch of allocCalls calls from a new client process (a batch amortises
// the connection's setup, which the floor pays too); each sub-benchmark
// first runs one batch it does not count (one-time initialisations).
//
// Per op, medians over the iterations: allocs/op, B/op and cpu-ns/op are
// the server's (cpu-ns/op: this process's user+system time, the Redis
// client and the delivery worker included, redis-server not); ns/op is
// the client's wall time per call at 50 in flight; floor-* are the
// health Check's; over-floor-* are what the op adds to as many empty
// calls as it makes (a login is two calls, so two floors). After the
// sub-benchmarks it prints the same figures as a table.
//
//	CI=true go test -run '^$' -bench ServerAllocs -benchtime 5x ./server/
func BenchmarkServerAllocs(b *testing.B) {
	// With -benchtime Nx, testing runs each sub-benchmark with b.N = 1
	// before b.N = N: the last run of each op is the one in the table.
	rows := make([]allocRow, len(allocOps))
	for i, o := range allocOps {
		b.Run(o.op, func(b *testing.B) { rows[i] = runAllocOp(b, o.op, o.calls) })
	}
	printAllocTable(os.Stdout, rows)
}

func runAllocOp(b *testing.B, op string, calls int) allocRow {
	e := benchEnv(b, withServer(func(o *server.Options) {
		o.WorkerOptions = queue.Options{}
		// As otpd against a Redis server runs (make bench's): the
		// development console is on only with the embedded Redis.
		o.Config.DevConsole = false
		o.Log = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}))
	const conc = 50
	layout, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	// iteration runs one batch of op and one of the floor, with what op
	// needs done first (codes to verify, refresh JWTs) done beforehand.
	iteration := func(prefix string, n int) (opB, floorB batch) {
		spec := clientSpec{Op: op, Prefix: prefix, N: n, Conc: conc}
		switch op {
		case "verify":
			serverAllocs(b, e, layout, clientSpec{Op: "start", Prefix: prefix, N: n, Conc: conc})
		case "refresh":
			spec.In = filepath.Join(dir, prefix+"refresh")
			serverAllocs(b, e, layout, clientSpec{Op: "start", Prefix: prefix, N: n, Conc: conc})
			serverAllocs(b, e, layout, clientSpec{Op: "verify", Prefix: prefix, N: n, Conc: conc, Out: spec.In})
		}
		floorB = serverAllocs(b, e, layout, clientSpec{Op: "health", Prefix: prefix, N: n, Conc: conc})
		opB = serverAllocs(b, e, layout, spec)
		return opB, floorB
	}
	b.StopTimer()
	iteration(op+"-warm-", allocCalls/4)
	var ops, floors []batch
	for i := range b.N {
		o, f := iteration(fmt.Sprintf("%s%d-", op, i), allocCalls)
		ops, floors = append(ops, o), append(floors, f)
	}
	if dir := os.Getenv(allocProfileEnv); dir != "" {
		// Heap profiles around one more batch of op alone (after its
		// floor, as in an iteration): go tool pprof -base op-0.pb.gz
		// op-1.pb.gz shows only what that batch allocated.
		spec := clientSpec{Op: op, Prefix: op + "-prof-", N: allocCalls, Conc: conc}
		switch op {
		case "verify":
			serverAllocs(b, e, layout, clientSpec{Op: "start", Prefix: spec.Prefix, N: allocCalls, Conc: conc})
		case "refresh":
			spec.In = filepath.Join(dir, op+"-prof-refresh")
			serverAllocs(b, e, layout, clientSpec{Op: "start", Prefix: spec.Prefix, N: allocCalls, Conc: conc})
			serverAllocs(b, e, layout, clientSpec{Op: "verify", Prefix: spec.Prefix, N: allocCalls, Conc: conc, Out: spec.In})
		}
		serverAllocs(b, e, layout, clientSpec{Op: "health", Prefix: spec.Prefix, N: allocCalls, Conc: conc})
		writeHeapProfile(b, filepath.Join(dir, op+"-0.pb.gz"))
		serverAllocs(b, e, layout, spec)
		writeHeapProfile(b, filepath.Join(dir, op+"-1.pb.gz"))
	}
	per := func(bs []batch, f func(batch) float64) float64 {
		v := make([]float64, len(bs))
		for i, x := range bs {
			v[i] = f(x) / allocCalls
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	mallocs := func(x batch) float64 { return float64(x.mallocs) }
	bytes := func(x batch) float64 { return float64(x.bytes) }
	cpu := func(x batch) float64 { return float64(x.cpu.Nanoseconds()) }
	wall := func(x batch) float64 { return float64(x.wall.Nanoseconds()) }
	r := allocRow{op: op, calls: calls,
		allocs: per(ops, mallocs), bytes: per(ops, bytes), cpu: per(ops, cpu), wall: per(ops, wall),
		floorAllocs: per(floors, mallocs), floorBytes: per(floors, bytes), floorCPU: per(floors, cpu), floorNs: per(floors, wall)}
	fl := float64(calls)
	b.ReportMetric(r.wall, "ns/op")
	b.ReportMetric(r.allocs, "allocs/op")
	b.ReportMetric(r.bytes, "B/op")
	b.ReportMetric(r.cpu, "cpu-ns/op")
	b.ReportMetric(r.floorAllocs, "floor-allocs/op")
	b.ReportMetric(r.allocs-fl*r.floorAllocs, "over-floor-allocs/op")
	b.ReportMetric(r.bytes-fl*r.floorBytes, "over-floor-B/op")
	b.ReportMetric(r.cpu-fl*r.floorCPU, "over-floor-cpu-ns/op")
	return r
}

// printAllocTable writes BenchmarkServerAllocs' figures as a table.
func printAllocTable(w io.Writer, rows []allocRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nserver side per call, gRPC client excluded, medians; floor = an empty call (health Check) on the same stack:")
	fmt.Fprintln(w, "| op | allocs | B | CPU µs | wall µs (c=50) | floor allocs | floor B | floor CPU µs | allocs over floor | B over floor | CPU µs over floor |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.op == "" {
			continue // not run (-bench selected other ops)
		}
		n := float64(r.calls)
		name := r.op
		if r.calls > 1 {
			name = fmt.Sprintf("%s (%d calls, %d floors)", r.op, r.calls, r.calls)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.0f | %.1f |\n",
			name, r.allocs, r.bytes, r.cpu/1e3, r.wall/1e3, r.floorAllocs, r.floorBytes, r.floorCPU/1e3,
			r.allocs-n*r.floorAllocs, r.bytes-n*r.floorBytes, (r.cpu-n*r.floorCPU)/1e3)
	}
}

// allocProfileEnv names a directory where BenchmarkServerAllocs writes
// heap profiles around one extra batch of each op (run the benchmark
// with -memprofilerate 1 for every allocation).
const allocProfileEnv = "OTPD_BENCH_ALLOCPROFILE"

func writeHeapProfile(b *testing.B, path string) {
	runtime.GC() // the allocs profile is as of the last collection
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// allocCalls is the calls per client process of BenchmarkServerAllocs.
const allocCalls = 2000
