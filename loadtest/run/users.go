package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// userPool is the test users one run created: each verify and login uses
// its own user's code, fetched with the management API.
type userPool struct {
	mgmt    otpv1.ManagementClient
	mgmtCtx func(context.Context) context.Context
	ids     []string
}

// newUserPool creates o.codes test users (email login ids unique to this
// run) with o.conc calls in flight.
func newUserPool(ctx context.Context, cc *grpc.ClientConn, o options) (*userPool, error) {
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	p := &userPool{
		mgmt: otpv1.NewManagementClient(cc),
		mgmtCtx: func(c context.Context) context.Context {
			return metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+o.project+":"+o.mgmtKey)
		},
	}
	for i := range o.codes {
		p.ids = append(p.ids, fmt.Sprintf("lt-%s-%d@loadtest.example", hex.EncodeToString(run), i))
	}
	t0 := time.Now()
	err := p.each(ctx, o.conc, func(ctx context.Context, i int) error {
		_, err := p.mgmt.CreateTestUser(ctx, &otpv1.MgmtUserRequest{LoginId: p.ids[i], Email: p.ids[i], VerifiedEmail: true})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating test users (is the management key right?): %w", err)
	}
	d := time.Since(t0)
	fmt.Printf("created %d test users with CreateTestUser in %s (%.0f users/s, c=%d)\n", len(p.ids), d.Round(time.Millisecond), float64(len(p.ids))/d.Seconds(), o.conc)
	return p, nil
}

// code is one entry of ghz's data file: an OtpEmail.Verify request.
type code struct {
	LoginID string `json:"loginId"`
	Code    string `json:"code"`
}

// fetchCodes fetches a live sign-in code for every user (each replaces
// the user's pending code).
func (p *userPool) fetchCodes(ctx context.Context, conc int) ([]code, time.Duration, error) {
	out := make([]code, len(p.ids))
	t0 := time.Now()
	err := p.each(ctx, conc, func(ctx context.Context, i int) error {
		c, err := p.generate(ctx, p.ids[i])
		out[i] = code{LoginID: p.ids[i], Code: c}
		return err
	})
	return out, time.Since(t0), err
}

func (p *userPool) generate(ctx context.Context, loginID string) (string, error) {
	r, err := p.mgmt.GenerateOtpForTestUser(p.mgmtCtx(ctx), &otpv1.MgmtGenerateOtpRequest{DeliveryMethod: "email", LoginId: loginID})
	if err != nil {
		return "", err
	}
	return r.GetCode(), nil
}

// delete removes the pool's users (only those: other test users of the
// project are left alone).
func (p *userPool) delete(ctx context.Context, conc int) (int, time.Duration, error) {
	t0 := time.Now()
	err := p.each(ctx, conc, func(ctx context.Context, i int) error {
		_, err := p.mgmt.DeleteUser(ctx, &otpv1.MgmtUserRef{LoginId: p.ids[i]})
		if status.Code(err) == codes.NotFound {
			// Already gone: a retried delete whose first try was answered
			// 503 after it had run.
			return nil
		}
		return err
	})
	return len(p.ids), time.Since(t0), err
}

// each calls f for every user index with conc calls in flight and the
// management authorization; it stops at the first error.
func (p *userPool) each(ctx context.Context, conc int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(p.mgmtCtx(ctx))
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(conc, len(p.ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.ids) || ctx.Err() != nil {
					return
				}
				if err := retryUnavailable(ctx, func() error { return f(ctx, i) }); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		return ctx.Err()
	}
	return firstErr
}

// retryUnavailable retries a management call that otpd answered with
// Unavailable (503: a Redis timeout on a loaded machine; always safe to
// retry), up to 4 tries, as Descope's SDKs do.
func retryUnavailable(ctx context.Context, f func() error) error {
	var err error
	for try := range 4 {
		if err = f(); status.Code(err) != codes.Unavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(100<<try) * time.Millisecond):
		}
	}
	return err
}

// writeCodes writes ghz's data file (a JSON array, one request per call)
// and, beside it, codes.tsv for the REST tools (loadtest/verify.lua): login
// id, tab, code. Both hold live codes: 0600.
func writeCodes(file string, codes []code) error {
	b, err := json.Marshal(codes)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return err
	}
	var tsv strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&tsv, "%s\t%s\n", c.LoginID, c.Code)
	}
	return os.WriteFile(filepath.Join(filepath.Dir(file), "codes.tsv"), []byte(tsv.String()), 0o600)
}
