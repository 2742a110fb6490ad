package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/otpd/otpd/accesskey"
	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// benchAccessKey makes a key on a real redis-server, with 5 project roles
// (3 permissions each) and 3 tenants of 2 roles each when roles, and
// returns the exchange's client and context. The exchange limits are on
// (two buckets charged per call) but too large to refuse.
func benchAccessKey(b *testing.B, roles bool) (otpv1.SessionClient, context.Context) {
	b.Helper()
	e := benchEnv(b, func(s *envSetup) {
		big := &config.Rate{Count: 1 << 30, Window: config.Duration(10 * time.Minute)}
		s.cfg.Projects[0].Limits.AccessKeyExchangesPerKey, s.cfg.Projects[0].Limits.AccessKeyExchangesPerIP = big, big
	})
	bg := context.Background()
	st := store.NewRedisStore(e.redis)
	var a store.UserAuthz
	if roles {
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
	id, clear, hash, err := accesskey.New(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateAccessKey(bg, pid, store.AccessKey{ID: id, Name: "bench", Hash: hash, Status: store.AccessKeyActive,
		Created: time.Now(), Authz: a}); err != nil {
		b.Fatal(err)
	}
	return otpv1.NewSessionClient(e.conn), metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+pid+":"+clear)
}

func benchExchange(b *testing.B, roles bool) {
	s, ctx := benchAccessKey(b, roles)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ExchangeAccessKey(ctx, &otpv1.ExchangeAccessKeyRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAccessKeyExchangeGRPC exchanges a key that holds no roles:
// two bucket charges, one read of the key, one session JWT signed.
func BenchmarkAccessKeyExchangeGRPC(b *testing.B) { benchExchange(b, false) }

// BenchmarkAccessKeyExchangeAuthzGRPC is the same for a key with 5 project
// roles and 3 tenants of 2 roles each (one more script for the claims, and
// a larger token).
func BenchmarkAccessKeyExchangeAuthzGRPC(b *testing.B) { benchExchange(b, true) }
