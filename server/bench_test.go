package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// zeroCodes makes every code 000000 (as the benchmark build does).
type zeroCodes struct{}

func (zeroCodes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func benchEnv(b *testing.B, opts ...envOption) *env {
	b.Helper()
	p := config.Project{ID: pid, Delivery: config.Delivery{Providers: []config.Provider{
		{ID: "noop", Type: "noop", Channels: []string{"email", "sms", "voice", "whatsapp"}}}}}
	return newEnv(b, true, append([]envOption{withProject(p), func(s *envSetup) { s.codes = zeroCodes{} }}, opts...)...)
}

// BenchmarkStartGRPC is one SignUpOrIn over a real gRPC connection against
// a real redis-server, delivery (noop provider) included in the process.
func BenchmarkStartGRPC(b *testing.B) {
	e := benchEnv(b)
	email := otpv1.NewOtpEmailClient(e.conn)
	ctx := e.authCtx()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("b%d@bench.test", n.Add(1))
			if _, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: id}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	e.drain()
}

// BenchmarkHealthGRPC is the floor under every unary call on otpd's gRPC
// server: a health Check over the same connection, transport, interceptor
// chain and request log line, with no work of its own. StartGRPC and
// VerifyGRPC minus this are what a start and a verify add.
func BenchmarkHealthGRPC(b *testing.B) {
	e := benchEnv(b)
	health := healthpb.NewHealthClient(e.conn)
	ctx := e.authCtx()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStartGRPC50 is StartGRPC with 50 concurrent calls (make bench's
// c=50): the delivery worker reads and acknowledges jobs in batches, as
// under load, instead of one by one.
func BenchmarkStartGRPC50(b *testing.B) {
	b.SetParallelism(25)
	BenchmarkStartGRPC(b)
}

// BenchmarkVerifyGRPC verifies pre-seeded codes: a new user, a session and
// a refresh JWT per call.
func BenchmarkVerifyGRPC(b *testing.B) {
	e := benchEnv(b)
	email := otpv1.NewOtpEmailClient(e.conn)
	ctx := e.authCtx()
	for i := range b.N {
		if _, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: fmt.Sprintf("v%d@bench.test", i)}); err != nil {
			b.Fatal(err)
		}
	}
	e.drain()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("v%d@bench.test", n.Add(1)-1)
			if _, err := email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecodeStartRequest is the REST gateway's body decoding.
func BenchmarkDecodeStartRequest(b *testing.B) {
	m := &runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true}}
	body := `{"loginId":"ada@example.com","user":{"name":"Ada"},"loginOptions":{"stepup":false,"mfa":false,"customClaims":null,"templateOptions":{"app":"Acme"}},"providerId":""}`
	b.ReportAllocs()
	for b.Loop() {
		var r otpv1.StartRequest
		if err := m.NewDecoder(strings.NewReader(body)).Decode(&r); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = context.Background

// benchSignIns signs n users up (and in once), then starts a sign-in code
// for each; with roles, each user first gets 5 project roles (3
// permissions each) and 3 tenants with 2 roles each.
func benchSignIns(b *testing.B, n int, roles bool) (*env, otpv1.OtpEmailClient) {
	b.Helper()
	e := benchEnv(b)
	email := otpv1.NewOtpEmailClient(e.conn)
	ctx := e.authCtx()
	st := store.NewRedisStore(e.redis)
	var a store.UserAuthz
	if roles {
		bg := context.Background()
		var names []string
		for i := range 5 {
			var perms []string
			for j := range 3 {
				perms = append(perms, fmt.Sprintf("perm-%d-%d", i, j))
				if err := st.CreatePermission(bg, pid, store.Permission{Name: perms[j]}); err != nil {
					b.Fatal(err)
				}
			}
			names = append(names, fmt.Sprintf("role-%d", i))
			if err := st.CreateRole(bg, pid, store.Role{Name: names[i], PermissionNames: perms}); err != nil {
				b.Fatal(err)
			}
		}
		ids, err := st.RoleIDs(bg, pid, names)
		if err != nil {
			b.Fatal(err)
		}
		a.Roles = ids
		for i := range 3 {
			id := fmt.Sprintf("tenant-%d", i)
			if err := st.CreateTenant(bg, pid, store.Tenant{ID: id, Name: id}); err != nil {
				b.Fatal(err)
			}
			t, err := st.Tenant(bg, pid, id)
			if err != nil {
				b.Fatal(err)
			}
			a.Tenants = append(a.Tenants, store.Membership{TenantID: id, Incarnation: t.Incarnation, Roles: ids[i : i+2]})
		}
	}
	for i := range n {
		id := fmt.Sprintf("s%d@bench.test", i)
		if _, err := email.SignUpOrIn(ctx, &otpv1.StartRequest{LoginId: id}); err != nil {
			b.Fatal(err)
		}
		v, err := email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"})
		if err != nil {
			b.Fatal(err)
		}
		if roles {
			if _, err := st.SetUserAuthz(context.Background(), pid, v.GetUser().GetUserId(), a); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := email.SignIn(ctx, &otpv1.StartRequest{LoginId: id}); err != nil {
			b.Fatal(err)
		}
	}
	e.drain()
	return e, email
}

func benchVerifySignIns(b *testing.B, roles bool) {
	e, email := benchSignIns(b, b.N, roles)
	ctx := e.authCtx()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("s%d@bench.test", n.Add(1)-1)
			if _, err := email.Verify(ctx, &otpv1.VerifyRequest{LoginId: id, Code: "000000"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifySignInGRPC verifies sign-in codes of existing users who
// hold no roles: the baseline of BenchmarkVerifySignInAuthzGRPC.
func BenchmarkVerifySignInGRPC(b *testing.B) { benchVerifySignIns(b, false) }

// BenchmarkVerifySignInAuthzGRPC is VerifySignInGRPC for users with 5
// project roles (15 permissions) and 3 tenants of 2 roles each: the
// claims cost one more script on the project's slot and a larger token.
func BenchmarkVerifySignInAuthzGRPC(b *testing.B) { benchVerifySignIns(b, true) }
