package queue_test

import (
	"context"
	"crypto/rand"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// roundTrips is a go-redis hook counting the calls that reach the network:
// one per command, one per pipeline or transaction.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// processCPU is the CPU time (user+sys) this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWorkerDrain times a worker (default options, metrics on, no-op
// handler) taking b.N sealed jobs, spread over the default 16 shards as
// starts enqueue them, until every one is acknowledged and deleted. Reported per
// job: redis-server CPU, commands (the worker's: the producers' XADDs and
// the benchmark's own INFO and XLEN polls are left out) and the time
// Redis says they took (commandstats usec: execution only), round trips of
// the worker's client (hook), Go CPU and allocations (the whole process:
// in trickle the producers' too).
//
//   - bulk: the jobs wait before the worker starts (full reads of 16 per
//     shard): a backlog after an outage.
//   - trickle: 16 producers enqueue at a steady ~2000 jobs/s in all while
//     the worker runs, as make bench loads it: reads of a few jobs. Its
//     redis CPU includes the XADDs (the same before and after a change);
//     its ns/job is the producers' pace, not the worker's speed.
//   - trickle-enqueue-only: the same producers and no worker: the floor
//     to subtract from trickle's redis CPU and allocations.
func BenchmarkWorkerDrain(b *testing.B) {
	_, c := testredis.Real(b)
	s := sealer(b)
	l := layout(b)
	p := queue.NewProducer(s, 0, rand.Reader, l)
	prepare := func(n int) []*store.Job {
		jobs := make([]*store.Job, n)
		for i := range jobs {
			j, err := p.Prepare(context.Background(), delivery.Message{Project: "P2abcdefghijklmnopqrstuvwxyz", Channel: "email", Code: "123456",
				Purpose: "signup-in", ExpiresAt: time.Now().Add(time.Hour), Locale: "en"})
			if err != nil {
				b.Fatal(err)
			}
			jobs[i] = j
		}
		return jobs
	}
	xadd := func(ctx context.Context, rdb redis.Cmdable, j *store.Job) *redis.StringCmd {
		return rdb.XAdd(ctx, &redis.XAddArgs{Stream: j.Stream, MaxLen: j.MaxLen, Values: []any{
			"id", j.ID, "j", j.Payload, "to", "someone@example.com",
			"exp", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), "a", "1"}})
	}
	for _, mode := range []string{"bulk", "trickle", "trickle-enqueue-only"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			if err := c.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			jobs := prepare(b.N)
			if mode == "bulk" {
				if _, err := c.Pipelined(ctx, func(pp redis.Pipeliner) error {
					for _, j := range jobs {
						xadd(ctx, pp, j)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			rt := &roundTrips{}
			wc := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
			defer wc.Close()
			wc.AddHook(rt)
			var handled atomic.Int64
			m, err := queue.NewMetrics(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			w := queue.NewWorker(wc, s, func(context.Context, queue.Job) error { handled.Add(1); return nil },
				clock.Real{}, quiet, m, queue.Options{Layout: l})
			polls := int64(0)
			drained := func() bool {
				polls++
				n := int64(0)
				for _, sh := range l.Shards() {
					n += c.XLen(ctx, sh.Stream).Val()
				}
				return n == 0
			}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			before := testredis.ReadStats(b, c)
			cpu0 := processCPU(b)
			wctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			b.ResetTimer()
			if mode == "trickle-enqueue-only" {
				close(done)
				handled.Store(int64(b.N))
				drained = func() bool { return true }
			} else {
				go func() { _ = w.Run(wctx); close(done) }()
			}
			var producers sync.WaitGroup
			if mode != "bulk" {
				const workers, perSecond = 16, 2000
				for k := range workers {
					producers.Go(func() {
						t := time.NewTicker(time.Second * workers / perSecond)
						defer t.Stop()
						for i := k; i < len(jobs); i += workers {
							<-t.C
							if err := xadd(ctx, c, jobs[i]).Err(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
			}
			producers.Wait()
			for handled.Load() < int64(b.N) || !drained() {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cpu1 := processCPU(b)
			after := testredis.ReadStats(b, c)
			runtime.ReadMemStats(&m1)
			calls := rt.n.Load()
			stop()
			<-done
			n := float64(b.N)
			cmds, usec := int64(0), int64(0)
			for k, v := range after.Calls {
				switch k {
				case "info", "flushall":
				case "xadd":
					if mode != "bulk" {
						v -= int64(len(jobs)) // the producers'
						after.Usec[k] = before.Usec[k]
					}
				case "xlen":
					v -= polls * int64(len(l.Shards())) // the benchmark's
				}
				cmds += v - before.Calls[k]
				usec += after.Usec[k] - before.Usec[k]
				if v > before.Calls[k] {
					b.Logf("%s: %.3f calls/job, %.2f µs/job", k, float64(v-before.Calls[k])/float64(b.N), float64(after.Usec[k]-before.Usec[k])/float64(b.N))
				}
			}
			b.ReportMetric((after.CPU-before.CPU)/n, "redis-cpu-µs/job")
			b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/n, "go-cpu-µs/job")
			b.ReportMetric(float64(cmds)/n, "redis-cmds/job")
			b.ReportMetric(float64(usec)/n, "cmd-µs/job")
			b.ReportMetric(float64(calls)/n, "roundtrips/job")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n, "allocs/job")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/job")
		})
	}
}
