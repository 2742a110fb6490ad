package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// loginConns is how many HTTP/2 connections the login load spreads over,
// as ghz's --connections 2 does for the other gRPC runs.
const loginConns = 2

// login runs the login load ghz cannot express: conc workers, each
// repeating OtpEmail.SignUpOrIn then OtpEmail.Verify (code 000000 in the
// benchmark build) for a fresh login id, for d. One login is both calls; its
// latency is theirs together. A login still in flight when the run ends
// finishes but is not counted (ghz likewise drops the calls it cancels).
func (t *targets) login(ctx context.Context, addr, prefix string, conc int, d time.Duration) (result, error) {
	var clients []otpv1.OtpEmailClient
	for range loginConns {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return result{}, err
		}
		defer cc.Close()
		clients = append(clients, otpv1.NewOtpEmailClient(cc))
	}
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.projectID)
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   = map[string]int{}
		wg     sync.WaitGroup
		loadAt = time.Now()
		end    = loadAt.Add(d)
	)
	for w := range conc {
		wg.Go(func() {
			c := clients[w%loginConns]
			var mine []time.Duration
			myErrs := map[string]int{}
			for n := 0; ctx.Err() == nil && time.Now().Before(end); n++ {
				id := fmt.Sprintf("%s%d-%d@bench.test", prefix, w, n)
				start := time.Now()
				_, err := c.SignUpOrIn(callCtx, &otpv1.StartRequest{LoginId: id})
				if err == nil {
					_, err = c.Verify(callCtx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
				}
				if time.Now().After(end) {
					break // finished after the run ended: not counted
				}
				if err != nil {
					myErrs[err.Error()]++
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			for k, v := range myErrs {
				errs[k] += v
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	res := result{count: len(lat), rps: float64(len(lat)) / d.Seconds()}
	for msg, n := range errs {
		res.errors += n
		fmt.Fprintf(os.Stderr, "   error x%d: %s\n", n, msg)
	}
	if len(lat) == 0 {
		return res, errors.New("no login completed")
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	res.p50, res.p99 = ms(0.50), ms(0.99)
	return res, nil
}
