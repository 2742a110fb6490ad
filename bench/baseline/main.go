// Command baseline is the floor `make bench` compares otpd against: the same
// gRPC stack and the same otp.v1.OtpEmail messages, doing only the work no
// OTP service can avoid.
//
//	-mode echo    SignUpOrIn and Verify answer at once (bare gRPC)
//	-mode redis   SignUpOrIn runs one EVALSHA that stores a hash with a TTL
//	              (the least a start can do)
//	-mode sign    Verify runs that EVALSHA and signs one ES256 JWT
//	-mode sign2   SignUpOrIn as in redis mode; Verify runs that EVALSHA and
//	              mints a session and a refresh JWT, two ES256 signatures
//	              (the least a verify can do: baseline (d), and with its
//	              start the floor of a login)
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/token"
)

var store = redis.NewScript(`redis.call('HSET', KEYS[1], 'h', ARGV[1], 'a', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

type server struct {
	mode   string
	rdb    *redis.Client
	issuer *token.Issuer
}

func (s *server) store(ctx context.Context, loginID string) error {
	return store.Run(ctx, s.rdb, []string{"bench:{" + loginID + "}:code"}, "0123456789abcdef0123456789abcdef", 300000).Err()
}

func (s *server) SignUpOrIn(ctx context.Context, r *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	if s.mode != "echo" {
		if err := s.store(ctx, r.GetLoginId()); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	m := "b***@bench.test"
	return &otpv1.StartResponse{MaskedEmail: &m}, nil
}

func (s *server) Verify(ctx context.Context, r *otpv1.VerifyRequest) (*otpv1.JWTResponse, error) {
	if s.mode == "echo" {
		return &otpv1.JWTResponse{SessionJwt: "x"}, nil
	}
	if err := s.store(ctx, r.GetLoginId()); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	subject := token.Subject{UserID: "U2BENCH", AMR: []string{"email"}}
	switch s.mode {
	case "sign":
		tok, _, err := s.issuer.MintSession(subject)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &otpv1.JWTResponse{SessionJwt: tok}, nil
	case "sign2":
		pair, err := s.issuer.Mint(subject)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &otpv1.JWTResponse{SessionJwt: pair.Session, RefreshJwt: &pair.Refresh}, nil
	}
	return &otpv1.JWTResponse{}, nil
}

func (s *server) SignUp(context.Context, *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	return nil, status.Error(codes.Unimplemented, "baseline")
}
func (s *server) SignIn(context.Context, *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	return nil, status.Error(codes.Unimplemented, "baseline")
}
func (s *server) UpdateEmail(context.Context, *otpv1.UpdateEmailRequest) (*otpv1.StartResponse, error) {
	return nil, status.Error(codes.Unimplemented, "baseline")
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "echo", "echo | redis | sign | sign2")
	addr := flag.String("addr", "127.0.0.1:0", "gRPC listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address (redis and sign modes)")
	flag.Parse()
	s := &server{mode: *mode}
	if *mode != "echo" {
		s.rdb = redis.NewClient(&redis.Options{Addr: *redisAddr})
		if err := store.Load(context.Background(), s.rdb).Err(); err != nil {
			return err
		}
	}
	switch *mode {
	case "echo", "redis":
	case "sign", "sign2":
		k, err := token.GenerateKey(token.ES256)
		if err != nil {
			return err
		}
		ks, _ := token.NewKeySet(k)
		if s.issuer, err = token.NewIssuer(token.Config{ProjectID: "PBENCH"}, ks, time.Now, rand.Reader); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String()) // the bench runner reads the port
	g := grpc.NewServer()
	otpv1.RegisterOtpEmailServer(g, s)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); g.GracefulStop() }()
	return g.Serve(l)
}
