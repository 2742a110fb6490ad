package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// restScenario loads the REST gateway (Descope's paths) with o.conc
// concurrent clients: rest-start POSTs /v1/auth/otp/signup-in/email with a
// distinct login id per request for o.duration; rest-verify POSTs
// /v1/auth/otp/verify/email once for each fetched code. Each request is
// counted when its answer has been read; a 200 is OK, anything else an
// error named by its status and errorCode.
func restScenario(ctx context.Context, o options, name string, codes []code) (row, error) {
	if o.rest == "" {
		return row{}, fmt.Errorf("%s needs -rest (otpd's REST base URL, e.g. http://127.0.0.1:8080)", name)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc, IdleConnTimeout: 30 * time.Second,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	base := strings.TrimRight(o.rest, "/")
	run := time.Now().UnixNano()
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  []time.Duration
		errs = map[string]int{}
		wg   sync.WaitGroup
	)
	t0 := time.Now()
	end := t0.Add(o.duration)
	for range o.conc {
		wg.Go(func() {
			var mine []time.Duration
			myErrs := map[string]int{}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				var path string
				var body []byte
				if name == "rest-verify" {
					if int(i) >= len(codes) {
						break
					}
					path = "/v1/auth/otp/verify/email"
					body, _ = json.Marshal(map[string]string{"loginId": codes[i].LoginID, "code": codes[i].Code})
				} else {
					if time.Now().After(end) {
						break
					}
					path = "/v1/auth/otp/signup-in/email"
					body = fmt.Appendf(nil, `{"loginId":"lt-%x-%d@loadtest.example"}`, run, i)
				}
				s := time.Now()
				msg, err := post(ctx, client, base+path, o.project, body)
				d := time.Since(s)
				if err != nil {
					msg = err.Error()
				}
				if msg != "" {
					myErrs[msg]++
					continue
				}
				mine = append(mine, d)
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
	elapsed := time.Since(t0)
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	r := row{count: len(lat), errs: errs}
	for _, n := range errs {
		r.count += n
		r.errors += n
	}
	r.rps = float64(r.count) / elapsed.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))] }
		r.p50, r.p90, r.p99 = q(0.50), q(0.90), q(0.99)
	}
	return r, nil
}

// post sends one REST call and returns "" for a 200, else what went wrong
// (status, Descope errorCode and message).
func post(ctx context.Context, c *http.Client, url, project string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+project)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return "", nil
	}
	var e struct {
		Code string `json:"errorCode"`
		Msg  string `json:"errorMessage"`
	}
	_ = json.Unmarshal(b, &e)
	return fmt.Sprintf("HTTP %d %s: %s", resp.StatusCode, e.Code, e.Msg), nil
}
