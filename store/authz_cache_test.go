package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// scriptOnly is a store with the claims cache off: its claims come from
// authz_claims.lua and authz_defaults.lua, the reference the cache must
// agree with.
func scriptOnly(c *redis.Client) *store.RedisStore { return store.NewRedisStore(c).AuthzCache(0, 0) }

func sameClaims(t *testing.T, what string, got, want store.Claims) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func sortedAuthz(a store.UserAuthz) string {
	a.Roles = slices.Clone(a.Roles)
	slices.Sort(a.Roles)
	for i := range a.Tenants {
		a.Tenants[i].Roles = slices.Clone(a.Tenants[i].Roles)
		slices.Sort(a.Tenants[i].Roles)
	}
	return fmt.Sprint(a)
}

// TestAuthzCacheSeesEveryChangeAtOnce: two otpd instances (two stores) on
// one Redis. Once one has cached the model, every change the other makes
// is in the first one's very next claims and new-user defaults: a
// permission removed from a role, a role taken off, deleted or renamed, a
// tenant renamed, deleted or re-created, default roles and domains
// changed. At each step the cached answer equals the scripts'.
func TestAuthzCacheSeesEveryChangeAtOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		admin, reader, ref := store.NewRedisStore(c), store.NewRedisStore(c), scriptOnly(c)
		for _, p := range []string{"read", "write", "admin"} {
			must(t, admin.CreatePermission(ctx, "P", store.Permission{Name: p}))
		}
		must(t, admin.CreateRole(ctx, "P", store.Role{Name: "viewer", PermissionNames: []string{"read"}, Default: true}))
		must(t, admin.CreateRole(ctx, "P", store.Role{Name: "editor", PermissionNames: []string{"read", "write", "admin"}}))
		must(t, admin.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Acme", SelfProvisioningDomains: []string{"acme.io"},
			CustomAttributes: map[string]any{"tier": "gold"}, DefaultRoles: []string{"editor"}}))
		ids, err := admin.RoleIDs(ctx, "P", []string{"viewer", "editor"})
		must(t, err)
		ten, err := admin.Tenant(ctx, "P", "t1")
		must(t, err)
		u := store.UserAuthz{Roles: ids, Tenants: []store.Membership{{TenantID: "t1", Incarnation: ten.Incarnation, Roles: ids}}}

		check := func(step string) store.Claims {
			t.Helper()
			got, err := reader.Claims(ctx, "P", u)
			must(t, err)
			want, err := ref.Claims(ctx, "P", u)
			must(t, err)
			sameClaims(t, step, got, want)
			for _, dom := range []string{"", "acme.io", "other.io"} {
				gotNew, err := reader.NewUserAuthz(ctx, "P", "", dom)
				must(t, err)
				wantNew, err := ref.NewUserAuthz(ctx, "P", "", dom)
				must(t, err)
				if sortedAuthz(gotNew) != sortedAuthz(wantNew) {
					t.Fatalf("%s: new user at %q: got %+v, want %+v", step, dom, gotNew, wantNew)
				}
			}
			return got
		}
		got := check("first read")
		if !slices.Equal(got.Permissions, []string{"read", "write", "admin"}) || got.Tenants["t1"].Name != "Acme" {
			t.Fatalf("first read: %+v", got)
		}
		if n, _ := reader.AuthzCached(); n != 1 {
			t.Fatalf("cached projects after a read: %d", n)
		}

		must(t, admin.UpdateRole(ctx, "P", "editor", store.Role{Name: "editor", PermissionNames: []string{"read", "write"}}))
		if got := check("permission taken off a role"); slices.Contains(got.Permissions, "admin") || slices.Contains(got.Tenants["t1"].Permissions, "admin") {
			t.Fatalf("permission taken off a role still claimed: %+v", got)
		}
		must(t, admin.DeletePermission(ctx, "P", "write"))
		if got := check("permission deleted"); slices.Contains(got.Permissions, "write") {
			t.Fatalf("deleted permission still claimed: %+v", got)
		}
		must(t, admin.UpdateRole(ctx, "P", "viewer", store.Role{Name: "reader", PermissionNames: []string{"read"}}))
		if got := check("role renamed, no longer default"); !slices.Contains(got.Roles, "reader") || slices.Contains(got.Roles, "viewer") {
			t.Fatalf("renamed role: %+v", got)
		}
		must(t, admin.UpdateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Acme 2", SelfProvisioningDomains: []string{"acme.com"}}, true))
		if got := check("tenant renamed, attributes and defaults cleared"); got.Tenants["t1"].Name != "Acme 2" || got.Tenants["t1"].CustomAttributes != nil {
			t.Fatalf("updated tenant: %+v", got)
		}
		must(t, admin.DeleteRole(ctx, "P", "editor"))
		if got := check("role deleted"); slices.Contains(got.Roles, "editor") || len(got.Tenants["t1"].Roles) != 1 {
			t.Fatalf("deleted role still claimed: %+v", got)
		}
		must(t, admin.DeleteTenant(ctx, "P", "t1"))
		if got := check("tenant deleted"); len(got.Tenants) != 0 {
			t.Fatalf("deleted tenant still claimed: %+v", got)
		}
		must(t, admin.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Acme again", SelfProvisioningDomains: []string{"acme.io"}}))
		if got := check("tenant created again"); len(got.Tenants) != 0 {
			t.Fatalf("a tenant created again is held by its old members: %+v", got)
		}
		// Redis lost everything (a flush, a failover to an empty replica):
		// the version is gone with the model, and so are the claims.
		must(t, c.FlushAll(ctx).Err())
		if got := check("model lost"); len(got.Roles)+len(got.Tenants) != 0 {
			t.Fatalf("claims from a model Redis no longer has: %+v", got)
		}
	})
}

// TestAuthzCacheMatchesScripts: random models and users; the cache's
// claims and defaults equal the scripts', step after step.
func TestAuthzCacheMatchesScripts(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s, ref := store.NewRedisStore(c), scriptOnly(c)
		rng := rand.New(rand.NewPCG(7, 11))
		perms := []string{"p0", "p1", "p2", "p3", "p4", "p5"}
		for _, p := range perms {
			must(t, s.CreatePermission(ctx, "R", store.Permission{Name: p}))
		}
		pick := func(from []string, max int) []string {
			var out []string
			for range rng.IntN(max + 1) {
				out = append(out, from[rng.IntN(len(from))])
			}
			return out
		}
		roles := []string{"r0", "r1", "r2", "r3", "r4"}
		tenants := []string{"t0", "t1", "t2"}
		for step := range 60 {
			switch rng.IntN(6) {
			case 0:
				_ = s.CreateRole(ctx, "R", store.Role{Name: roles[rng.IntN(len(roles))], PermissionNames: pick(perms, 4), Default: rng.IntN(2) == 0})
			case 1:
				_ = s.UpdateRole(ctx, "R", roles[rng.IntN(len(roles))], store.Role{Name: roles[rng.IntN(len(roles))], PermissionNames: pick(perms, 4), Default: rng.IntN(2) == 0})
			case 2:
				_ = s.DeleteRole(ctx, "R", roles[rng.IntN(len(roles))])
			case 3:
				id := tenants[rng.IntN(len(tenants))]
				_ = s.CreateTenant(ctx, "R", store.Tenant{ID: id, Name: "n" + id, SelfProvisioningDomains: []string{id + ".io"}, DefaultRoles: pick(roles, 2)})
			case 4:
				_ = s.DeleteTenant(ctx, "R", tenants[rng.IntN(len(tenants))])
			case 5:
				_ = s.DeletePermission(ctx, "R", perms[rng.IntN(len(perms))])
			}
			var u store.UserAuthz
			for range 3 {
				u.Roles = append(u.Roles, int64(rng.IntN(12)+1))
			}
			for _, id := range tenants {
				if tn, err := s.Tenant(ctx, "R", id); err == nil {
					u.Tenants = append(u.Tenants, store.Membership{TenantID: id, Incarnation: tn.Incarnation, Roles: []int64{int64(rng.IntN(12) + 1), int64(rng.IntN(12) + 1)}})
				}
			}
			got, err := s.Claims(ctx, "R", u)
			must(t, err)
			want, err := ref.Claims(ctx, "R", u)
			must(t, err)
			sameClaims(t, fmt.Sprintf("step %d", step), got, want)
			dom := tenants[rng.IntN(len(tenants))] + ".io"
			gotNew, err := s.NewUserAuthz(ctx, "R", "", dom)
			must(t, err)
			wantNew, err := ref.NewUserAuthz(ctx, "R", "", dom)
			must(t, err)
			if sortedAuthz(gotNew) != sortedAuthz(wantNew) {
				t.Fatalf("step %d: new user: got %+v, want %+v", step, gotNew, wantNew)
			}
			snap, err := s.AuthzSnapshot(ctx, "R")
			must(t, err)
			sameClaims(t, fmt.Sprintf("step %d, snapshot", step), snap.Claims(u), want)
		}
	})
}

// TestAuthzCacheBounds: past the project bound the least recently used
// project leaves the cache; a model over the byte bound is never kept (its
// claims come from the scripts, still right).
func TestAuthzCacheBounds(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		admin := store.NewRedisStore(c)
		users := map[string]store.UserAuthz{}
		for _, p := range []string{"A", "B", "C"} {
			must(t, admin.CreatePermission(ctx, p, store.Permission{Name: "read"}))
			must(t, admin.CreateRole(ctx, p, store.Role{Name: "viewer-" + p, PermissionNames: []string{"read"}}))
			ids, err := admin.RoleIDs(ctx, p, []string{"viewer-" + p})
			must(t, err)
			users[p] = store.UserAuthz{Roles: ids}
		}
		claim := func(s *store.RedisStore, p string) {
			t.Helper()
			got, err := s.Claims(ctx, p, users[p])
			must(t, err)
			if !slices.Equal(got.Roles, []string{"viewer-" + p}) {
				t.Fatalf("project %s: %+v", p, got)
			}
		}

		two := store.NewRedisStore(c).AuthzCache(2, 1<<20)
		claim(two, "A")
		claim(two, "B")
		claim(two, "A") // B is now the least recently used
		claim(two, "C")
		if n, _ := two.AuthzCached(); n != 2 {
			t.Fatalf("cached projects: %d, want 2", n)
		}
		// A stayed (one GET, no reload), B was evicted: both still right.
		claim(two, "A")
		claim(two, "B")

		_, one := two.AuthzCached()
		if one <= 0 {
			t.Fatalf("cached bytes: %d", one)
		}
		perProject := one / 2
		small := store.NewRedisStore(c).AuthzCache(100, perProject+perProject/2)
		for _, p := range []string{"A", "B", "C"} {
			claim(small, p)
		}
		if n, b := small.AuthzCached(); b > perProject+perProject/2 || n > 3 {
			t.Fatalf("byte bound %d: %d projects, %d bytes", perProject+perProject/2, n, b)
		}

		tiny := store.NewRedisStore(c).AuthzCache(100, 10)
		for range 3 {
			claim(tiny, "A")
		}
		if _, b := tiny.AuthzCached(); b != 0 {
			t.Fatalf("a model over the byte bound was kept: %d bytes", b)
		}
		// Over the bound, changes are seen at once too (the scripts).
		must(t, admin.DeleteRole(ctx, "A", "viewer-A"))
		got, err := tiny.Claims(ctx, "A", users["A"])
		must(t, err)
		if len(got.Roles) != 0 {
			t.Fatalf("deleted role still claimed over the byte bound: %+v", got)
		}
	})
}

// TestAuthzCacheConcurrentReloads: many requests resolve claims while the
// model changes under them (run with -race); a claim that starts after a
// change answered always has it.
func TestAuthzCacheConcurrentReloads(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		must(t, s.CreatePermission(ctx, "C", store.Permission{Name: "read"}))
		must(t, s.CreateRole(ctx, "C", store.Role{Name: "r0", PermissionNames: []string{"read"}}))
		ids, err := s.RoleIDs(ctx, "C", []string{"r0"})
		must(t, err)
		u := store.UserAuthz{Roles: ids}
		stop := make(chan struct{})
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				for {
					select {
					case <-stop:
						errs <- nil
						return
					default:
					}
					if _, err := s.Claims(ctx, "C", u); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for i := 1; i <= 20; i++ {
			name := fmt.Sprintf("r0-%d", i)
			prev := "r0"
			if i > 1 {
				prev = fmt.Sprintf("r0-%d", i-1)
			}
			must(t, s.UpdateRole(ctx, "C", prev, store.Role{Name: name, PermissionNames: []string{"read"}}))
			got, err := s.Claims(ctx, "C", u)
			must(t, err)
			if !slices.Equal(got.Roles, []string{name}) {
				t.Fatalf("after renaming to %s: %+v", name, got)
			}
		}
		close(stop)
		for range 8 {
			must(t, <-errs)
		}
	})
}
