package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// restHold opens 64 REST connections that each write head, then hold
// (calling more, if set, every second) until otpd answers or closes.
func restHold(ctx context.Context, t *target, s *attackStats, head string, more func(net.Conn) error) {
	repeat(ctx, 64, func() {
		c, err := dialFrom(ctx, s.from, t.http)
		if err != nil {
			return
		}
		defer c.Close()
		s.conns.Add(1)
		s.sent.Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			b := make([]byte, 512)
			n, err := c.Read(b)
			switch {
			case n > 0 && bytes.HasPrefix(b, []byte("HTTP/1.1 ")):
				if !bytes.HasPrefix(b[9:], []byte("2")) {
					s.refused.Add(1)
				}
			case err != nil:
				s.dropped.Add(1)
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-answered:
				return
			case <-time.After(time.Second):
				if more != nil {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if more(c) != nil {
						return
					}
				}
			}
		}
	})
}

func restBodies(ctx context.Context, t *target, s *attackStats) {
	head := "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\nAuthorization: Bearer " + t.project +
		"\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"loginId\":\"" + strings.Repeat("a", 59000)
	restHold(ctx, t, s, head, nil)
}

func slowloris(ctx context.Context, t *target, s *attackStats) {
	n := 0
	restHold(ctx, t, s, "POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\n", func(c net.Conn) error {
		n++
		_, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", n, n)
		return err
	})
}

func restHeaders(ctx context.Context, t *target, s *attackStats) {
	var b strings.Builder
	b.WriteString("POST /v1/auth/otp/signup-in/email HTTP/1.1\r\nHost: otpd\r\n")
	for i := 0; b.Len() < 200<<10; i++ {
		fmt.Fprintf(&b, "X-Flood-%d: %s\r\n", i, strings.Repeat("f", 1000))
	}
	restHold(ctx, t, s, b.String(), nil)
}

// grpcFrom is a gRPC client whose connections come from s.from.
func grpcFrom(s *attackStats, t *target) (*grpc.ClientConn, error) {
	return grpc.NewClient(t.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			s.conns.Add(1)
			return dialFrom(ctx, s.from, addr)
		}))
}

// backToBack runs 16 workers calling call until ctx ends.
func backToBack(ctx context.Context, s *attackStats, call func(ctx context.Context, n int) error) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := call(cctx, int(n.Add(1)))
				cancel()
				s.sent.Add(1)
				if err != nil && ctx.Err() == nil {
					s.refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

func refreshStorm(ctx context.Context, t *target, s *attackStats) {
	cc, err := grpcFrom(s, t)
	if err != nil {
		return
	}
	defer cc.Close()
	auth := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.project)
	id := "storm@soak.test"
	if _, err := otpv1.NewOtpEmailClient(cc).SignUpOrIn(auth, &otpv1.StartRequest{LoginId: id}); err != nil {
		fmt.Printf("refresh storm: its own login failed: %v\n", err)
		return
	}
	r, err := otpv1.NewOtpEmailClient(cc).Verify(auth, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
	if err != nil {
		fmt.Printf("refresh storm: its own login failed: %v\n", err)
		return
	}
	sess := otpv1.NewSessionClient(cc)
	bearer := "Bearer " + t.project + ":" + r.GetRefreshJwt()
	backToBack(ctx, s, func(c context.Context, _ int) error {
		_, err := sess.Refresh(metadata.AppendToOutgoingContext(c, "authorization", bearer), &otpv1.RefreshRequest{})
		return err
	})
}

func startFlood(ctx context.Context, t *target, s *attackStats) {
	cc, err := grpcFrom(s, t)
	if err != nil {
		return
	}
	defer cc.Close()
	email := otpv1.NewOtpEmailClient(cc)
	backToBack(ctx, s, func(c context.Context, n int) error {
		_, err := email.SignUpOrIn(metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+t.project),
			&otpv1.StartRequest{LoginId: fmt.Sprintf("flood%d@soak.test", n)})
		return err
	})
}
