package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// result is what the legitimate client saw in one run.
type result struct {
	ok, limited, failed int
	lat                 []time.Duration // of the successful calls
	errs                map[string]int
}

func (r *result) successRate() float64 {
	if r.ok+r.failed == 0 {
		return 0
	}
	return float64(r.ok) / float64(r.ok+r.failed)
}

func (r *result) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(q*float64(len(r.lat)-1))]
}

// recorder collects call outcomes from many goroutines.
type recorder struct {
	mu sync.Mutex
	r  result
}

// note records one call. A rate-limit refusal (E130429) is "limited", not a
// failure: the target is for what the limits let through.
func (c *recorder) note(d time.Duration, code string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.r.ok++
		c.r.lat = append(c.r.lat, d)
	case code == "E130429":
		c.r.limited++
	default:
		c.r.failed++
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		c.r.errs[msg]++
	}
}

// legit runs rate logins per second for d (an open model: a login starts
// on its tick whether or not earlier ones finished), alternating gRPC and
// REST. Each login is start, verify (code 000000) and refresh; each call
// is timed on its own.
func legit(ctx context.Context, t *target, rate int, d time.Duration, prefix string) *result {
	rec := &recorder{r: result{errs: map[string]int{}}}
	var ccs []*grpc.ClientConn
	for range 2 {
		cc, err := grpc.NewClient(t.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			panic(err)
		}
		defer cc.Close()
		ccs = append(ccs, cc)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		<-tick.C
		// A simulated user's address behind the trusted proxy.
		ip := fmt.Sprintf("10.77.%d.%d", (n/250)%16, n%250+1)
		id := fmt.Sprintf("%s%d-%d@soak.test", prefix, time.Now().UnixNano()%1e6, n)
		wg.Go(func() {
			if n%2 == 0 {
				grpcLogin(ctx, rec, otpv1.NewOtpEmailClient(ccs[n%4/2]), otpv1.NewSessionClient(ccs[n%4/2]), t.project, ip, id)
			} else {
				restLogin(ctx, rec, hc, t, ip, id)
			}
		})
	}
	wg.Wait()
	slices.Sort(rec.r.lat)
	return &rec.r
}

func grpcCode(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func grpcLogin(ctx context.Context, rec *recorder, email otpv1.OtpEmailClient, sess otpv1.SessionClient, project, ip, id string) {
	call := func(f func(context.Context) error, auth string) error {
		cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", auth, "x-otpd-client-ip", ip), 10*time.Second)
		defer cancel()
		start := time.Now()
		err := f(cctx)
		rec.note(time.Since(start), grpcCode(err), err)
		return err
	}
	bearer := "Bearer " + project
	if call(func(c context.Context) error {
		_, err := email.SignUpOrIn(c, &otpv1.StartRequest{LoginId: id})
		return err
	}, bearer) != nil {
		return
	}
	var refresh string
	if call(func(c context.Context) error {
		r, err := email.Verify(c, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
		refresh = r.GetRefreshJwt()
		return err
	}, bearer) != nil {
		return
	}
	_ = call(func(c context.Context) error {
		_, err := sess.Refresh(c, &otpv1.RefreshRequest{})
		return err
	}, bearer+":"+refresh)
}

func restLogin(ctx context.Context, rec *recorder, hc *http.Client, t *target, ip, id string) {
	post := func(path, auth string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+t.http+path, bytes.NewReader(b))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", ip)
		start := time.Now()
		resp, err := hc.Do(req)
		var out map[string]any
		code := ""
		if err == nil {
			raw, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			_ = json.Unmarshal(raw, &out)
			code, _ = out["errorCode"].(string)
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode != 200:
				err = fmt.Errorf("REST %s: %d %s", path, resp.StatusCode, raw)
			}
		}
		rec.note(time.Since(start), code, err)
		if err != nil {
			return nil
		}
		return out
	}
	bearer := "Bearer " + t.project
	if post("/v1/auth/otp/signup-in/email", bearer, map[string]string{"loginId": id}) == nil {
		return
	}
	v := post("/v1/auth/otp/verify/email", bearer, map[string]string{"loginId": id, "code": "000000"})
	if v == nil {
		return
	}
	refresh, _ := v["refreshJwt"].(string)
	post("/v1/auth/refresh", bearer+":"+refresh, map[string]string{})
}
