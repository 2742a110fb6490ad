package store

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchModel is a model of roles roles with perms permissions each and
// tenants tenants, as authz_snapshot.lua returns it, and a user holding
// every role in the project and tenantRoles roles in each tenant.
func benchModel(b *testing.B, roles, perms, tenants, tenantRoles int) (*authzModel, UserAuthz) {
	b.Helper()
	var roleFlat, tenFlat []any
	var u UserAuthz
	for i := range roles {
		var ps []string
		for j := range perms {
			ps = append(ps, fmt.Sprintf("perm-%d-%d", i, j))
		}
		rec, _ := json.Marshal(roleRec{ID: int64(i + 1), P: ps})
		roleFlat = append(roleFlat, fmt.Sprintf("role-%d", i), string(rec))
		u.Roles = append(u.Roles, int64(i+1))
	}
	for i := range tenants {
		id := fmt.Sprintf("tenant-%d", i)
		rec, _ := json.Marshal(tenantRec{S: int64(100 + i), N: "Tenant " + id})
		tenFlat = append(tenFlat, id, string(rec))
		m := Membership{TenantID: id, Incarnation: int64(100 + i)}
		for j := range tenantRoles {
			m.Roles = append(m.Roles, int64((i+j)%roles+1))
		}
		u.Tenants = append(u.Tenants, m)
	}
	m, err := buildModel([]any{"v1", roleFlat, tenFlat, []any{}, []any{}})
	if err != nil {
		b.Fatal(err)
	}
	return m, u
}

// BenchmarkClaimsFromCache is the Go side of a verify's claims once the
// model is cached (the version GET aside): resolving a user's role ids
// and memberships to names and permissions.
func BenchmarkClaimsFromCache(b *testing.B) {
	for _, c := range []struct{ roles, perms, tenants, tenantRoles int }{
		{1, 3, 0, 0}, {5, 3, 3, 2}, {20, 10, 20, 5},
	} {
		b.Run(fmt.Sprintf("roles=%d,perms=%d,tenants=%d,tenantRoles=%d", c.roles, c.perms, c.tenants, c.tenantRoles), func(b *testing.B) {
			m, u := benchModel(b, c.roles, c.perms, c.tenants, c.tenantRoles)
			b.ReportAllocs()
			for b.Loop() {
				_ = m.claims(u)
			}
		})
	}
}
