package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// TestAuthzTenantRoles: a role created in a tenant exists only there; its
// name may be a project role's; in the tenant it wins over the project
// role of that name; it is renamed and deleted within the tenant; and
// deleting the tenant deletes it (gone from every holder).
func TestAuthzTenantRoles(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for _, p := range []string{"read", "write"} {
			must(t, s.CreatePermission(ctx, "P", store.Permission{Name: p}))
		}
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "One"}))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t2", Name: "Two"}))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "admin", PermissionNames: []string{"read"}}))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "admin", TenantID: "t1", PermissionNames: []string{"read", "write"}}))
		if err := s.CreateRole(ctx, "P", store.Role{Name: "admin", TenantID: "t1"}); !errors.Is(err, store.ErrAuthzExists) {
			t.Fatalf("duplicate tenant role: %v", err)
		}
		var miss *store.ErrAuthzMissing
		if err := s.CreateRole(ctx, "P", store.Role{Name: "x", TenantID: "nope"}); !errors.As(err, &miss) || miss.Kind != "tenant" {
			t.Fatalf("role of a missing tenant: %v", err)
		}
		rs, err := s.Roles(ctx, "P")
		must(t, err)
		if fmt.Sprint(rs) != fmt.Sprint([]store.Role{
			{ID: rs[0].ID, Name: "admin", PermissionNames: []string{"read"}},
			{ID: rs[1].ID, Name: "admin", TenantID: "t1", PermissionNames: []string{"read", "write"}}}) {
			t.Fatalf("roles %+v", rs)
		}
		// Project level: only the project role; in t1 the tenant's own; in t2 the project's.
		proj, err := s.RoleIDs(ctx, "P", []string{"admin"})
		must(t, err)
		in1, err := s.TenantRoleIDs(ctx, "P", "t1", []string{"admin"})
		must(t, err)
		in2, err := s.TenantRoleIDs(ctx, "P", "t2", []string{"admin"})
		must(t, err)
		if proj[0] != rs[0].ID || in1[0] != rs[1].ID || in2[0] != rs[0].ID {
			t.Fatalf("ids: project %v, t1 %v, t2 %v, roles %+v", proj, in1, in2, rs)
		}
		t1, _ := s.Tenant(ctx, "P", "t1")
		u := store.UserAuthz{Roles: proj, Tenants: []store.Membership{{TenantID: "t1", Incarnation: t1.Incarnation, Roles: in1}}}
		got, err := s.Claims(ctx, "P", u)
		must(t, err)
		if !slices.Equal(got.Roles, []string{"admin"}) || !slices.Equal(got.Permissions, []string{"read"}) ||
			!slices.Equal(got.Tenants["t1"].Roles, []string{"admin"}) || !slices.Equal(got.Tenants["t1"].Permissions, []string{"read", "write"}) {
			t.Fatalf("claims %+v", got)
		}
		// Rename within the tenant: the project role keeps its name, the holder keeps the role.
		must(t, s.UpdateRole(ctx, "P", "admin", store.Role{Name: "boss", TenantID: "t1", PermissionNames: []string{"write"}}))
		got, err = s.Claims(ctx, "P", u)
		must(t, err)
		if !slices.Equal(got.Roles, []string{"admin"}) || !slices.Equal(got.Tenants["t1"].Roles, []string{"boss"}) {
			t.Fatalf("after rename %+v", got)
		}
		// Deleting a tenant role of another tenant, or by the project's name, touches nothing.
		must(t, s.DeleteTenantRole(ctx, "P", "t2", "boss"))
		if rs, _ = s.Roles(ctx, "P"); len(rs) != 2 {
			t.Fatalf("roles after a no-op delete %+v", rs)
		}
		// Deleting the tenant deletes its roles; recreating it brings none back.
		must(t, s.DeleteTenant(ctx, "P", "t1"))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "One"}))
		if rs, _ = s.Roles(ctx, "P"); len(rs) != 1 || rs[0].TenantID != "" {
			t.Fatalf("roles after the tenant's delete %+v", rs)
		}
		if _, err := s.TenantRoleIDs(ctx, "P", "t1", []string{"boss"}); !errors.As(err, &miss) {
			t.Fatalf("deleted tenant's role still resolves: %v", err)
		}
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "boss", TenantID: "t1"}))
		nu, _ := s.Tenant(ctx, "P", "t1")
		u.Tenants[0].Incarnation = nu.Incarnation // even with the new incarnation, the old role id is dead
		got, err = s.Claims(ctx, "P", u)
		must(t, err)
		if len(got.Tenants["t1"].Roles) != 0 {
			t.Fatalf("a deleted tenant's role came back %+v", got)
		}
	})
}

// TestAuthzHolderIndex: the holder index is a superset the writes keep:
// an add before a write, a drop after; a drop stamped before a later add
// of the same entry leaves it; deleting the role or tenant drops all its
// entries; a new user's defaults enter it in the defaults script.
func TestAuthzHolderIndex(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "r1"}))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "def", Default: true}))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "One", SelfProvisioningDomains: []string{"one.io"}}))
		ids, _ := s.RoleIDs(ctx, "P", []string{"r1", "def"})
		t1, _ := s.Tenant(ctx, "P", "t1")
		holders := func(roles, incs []int64) []string {
			t.Helper()
			got, err := s.AuthzHolders(ctx, "P", roles, incs, 10)
			must(t, err)
			slices.Sort(got)
			return got
		}
		a := store.UserAuthz{Roles: ids[:1], Tenants: []store.Membership{{TenantID: "t1", Incarnation: t1.Incarnation}}}
		seq1, err := s.IndexAuthz(ctx, "P", "U1", a)
		must(t, err)
		if _, err := s.IndexAuthz(ctx, "P", "U2", a); err != nil {
			t.Fatal(err)
		}
		if got := holders(ids[:1], nil); !slices.Equal(got, []string{"U1", "U2"}) {
			t.Fatalf("role holders %v", got)
		}
		// U1 loses r1 (stamp seq1) but a later writer gives it back first: the late drop keeps it.
		if _, err := s.IndexAuthz(ctx, "P", "U1", store.UserAuthz{Roles: ids[:1]}); err != nil {
			t.Fatal(err)
		}
		must(t, s.UnindexAuthz(ctx, "P", "U1", store.UserAuthz{Roles: ids[:1]}, seq1))
		if got := holders(ids[:1], nil); !slices.Equal(got, []string{"U1", "U2"}) {
			t.Fatalf("a stale drop removed a newer entry: %v", got)
		}
		must(t, s.UnindexAuthz(ctx, "P", "U2", a, math.MaxInt64))
		if got := holders(ids[:1], []int64{t1.Incarnation}); !slices.Equal(got, []string{"U1"}) {
			t.Fatalf("after U2's drop %v", got)
		}
		// The limit counts entries together (U1 holds both): past it, nothing is read.
		if got, err := s.AuthzHolders(ctx, "P", ids[:1], []int64{t1.Incarnation}, 1); !errors.Is(err, store.ErrTooManyHolders) {
			t.Fatalf("past the limit: %v %v", got, err)
		}
		if got, err := s.AuthzHolders(ctx, "P", ids[:1], []int64{t1.Incarnation}, 2); err != nil || len(got) != 1 {
			t.Fatalf("at the limit: %v %v", got, err)
		}
		// A new user at the tenant's domain: entered for the default role and the tenant.
		na, err := s.NewUserAuthz(ctx, "P", "U3", "one.io")
		must(t, err)
		if len(na.Roles) != 1 || len(na.Tenants) != 1 {
			t.Fatalf("new user authz %+v", na)
		}
		if got := holders(ids[1:], nil); !slices.Equal(got, []string{"U3"}) {
			t.Fatalf("default role holders %v", got)
		}
		if got := holders(nil, []int64{t1.Incarnation}); !slices.Equal(got, []string{"U1", "U3"}) {
			t.Fatalf("tenant holders %v", got)
		}
		// Deletes drop every entry.
		must(t, s.DeleteRole(ctx, "P", "r1"))
		must(t, s.DeleteTenant(ctx, "P", "t1"))
		if got := holders(ids, []int64{t1.Incarnation}); !slices.Equal(got, []string{"U3"}) {
			t.Fatalf("after deletes %v (only U3's default role should remain)", got)
		}
	})
}
