package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkNewUserAuthzRedis times the new-user defaults script (one per
// verify that creates a user) on a real redis-server, for a project with
// one default role and a tenant whose self-provisioning domain is the
// user's: "anonymous" without a user id (the script as it was before the
// holder index), "indexed" with one (it also enters the user in the holder
// index: an INCR and two ZADDs in the same script). script-µs/op is
// redis-server's own time in the script (INFO commandstats), the number
// that means something on a shared machine. Run: go test ./store/
// -run '^$' -bench BenchmarkNewUserAuthzRedis -benchtime 5000x -count 3
func BenchmarkNewUserAuthzRedis(b *testing.B) {
	for _, indexed := range []bool{false, true} {
		name := "anonymous"
		if indexed {
			name = "indexed"
		}
		b.Run(name, func(b *testing.B) {
			_, c := testredis.Real(b)
			ctx := context.Background()
			s := store.NewRedisStore(c)
			if err := s.CreateRole(ctx, "P", store.Role{Name: "member", Default: true}); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateTenant(ctx, "P", store.Tenant{ID: "acme", Name: "Acme", SelfProvisioningDomains: []string{"acme.io"}}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			before := testredis.ReadStats(b, c)
			b.ResetTimer()
			for i := range b.N {
				uid := ""
				if indexed {
					uid = fmt.Sprintf("U%08d", i)
				}
				if _, err := s.NewUserAuthz(ctx, "P", uid, "acme.io"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := testredis.ReadStats(b, c)
			b.ReportMetric(float64(after.Usec["evalsha"]-before.Usec["evalsha"])/float64(b.N), "script-µs/op")
		})
	}
}
