package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// loginScenario: o.conc workers, each repeating for o.duration a whole
// sign-in of one of its own test users (no two workers share a user, so no
// fetch replaces a code another worker is about to verify):
// OtpEmail.SignUpOrIn, the code from GenerateOtpForTestUser (which replaces
// the start's code: the start's own code went to the provider), then
// OtpEmail.Verify. A login's latency is its start + verify; the fetch is a
// management call a real sign-in does not make and is reported apart.
func loginScenario(ctx context.Context, cc *grpc.ClientConn, o options, pool *userPool) (row, error) {
	if len(pool.ids) < o.conc {
		return row{}, fmt.Errorf("-codes %d is below -c %d: every login worker needs test users of its own", len(pool.ids), o.conc)
	}
	client := otpv1.NewOtpEmailClient(cc)
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.project)
	var (
		mu         sync.Mutex
		lat, fetch []time.Duration
		errs       = map[string]int{}
		wg         sync.WaitGroup
		t0         = time.Now()
		end        = t0.Add(o.duration)
	)
	for w := range o.conc {
		wg.Go(func() {
			var mine, myFetch []time.Duration
			myErrs := map[string]int{}
			for n := 0; ctx.Err() == nil && time.Now().Before(end); n++ {
				// Worker w's users are w, w+conc, w+2·conc, …
				id := pool.ids[(w+n*o.conc)%(len(pool.ids)-len(pool.ids)%o.conc)]
				s := time.Now()
				_, err := client.SignUpOrIn(callCtx, &otpv1.StartRequest{LoginId: id})
				startLat := time.Since(s)
				var code string
				var f time.Duration
				if err == nil {
					fs := time.Now()
					code, err = pool.generate(pool.mgmtCtx(ctx), id)
					f = time.Since(fs)
				}
				var verifyLat time.Duration
				if err == nil {
					vs := time.Now()
					_, err = client.Verify(callCtx, &otpv1.VerifyRequest{LoginId: id, Code: code})
					verifyLat = time.Since(vs)
				}
				if time.Now().After(end) {
					break // finished after the run ended: not counted
				}
				if err != nil {
					myErrs[err.Error()]++
					continue
				}
				mine = append(mine, startLat+verifyLat)
				myFetch = append(myFetch, f)
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			fetch = append(fetch, myFetch...)
			for k, v := range myErrs {
				errs[k] += v
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	r := row{count: len(lat), errs: errs}
	for _, n := range errs {
		r.count += n
		r.errors += n
	}
	r.rps = float64(len(lat)) / o.duration.Seconds()
	if len(lat) == 0 {
		return r, nil
	}
	slices.Sort(lat)
	slices.Sort(fetch)
	q := func(s []time.Duration, f float64) time.Duration { return s[int(f*float64(len(s)-1))] }
	r.p50, r.p90, r.p99 = q(lat, 0.50), q(lat, 0.90), q(lat, 0.99)
	r.note = fmt.Sprintf("latency is start + verify; the code fetch each login also made (GenerateOtpForTestUser) took p50 %.2f ms, p99 %.2f ms and is not in it; rate/s counts whole logins",
		float64(q(fetch, 0.5))/1e6, float64(q(fetch, 0.99))/1e6)
	return r, nil
}
