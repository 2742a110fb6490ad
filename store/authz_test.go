package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuthzModelClaims: a user's claims follow the current model: a
// permission removed from the model leaves every role, a renamed role
// stays held, a deleted role or tenant is gone from every user at once,
// and one created again under the same name is not held by anybody.
func TestAuthzModelClaims(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for _, p := range []string{"read", "write", "admin"} {
			must(t, s.CreatePermission(ctx, "P", store.Permission{Name: p, Description: "can " + p}))
		}
		if err := s.CreatePermission(ctx, "P", store.Permission{Name: "read"}); !errors.Is(err, store.ErrAuthzExists) {
			t.Fatalf("duplicate permission: %v", err)
		}
		var miss *store.ErrAuthzMissing
		if err := s.CreateRole(ctx, "P", store.Role{Name: "x", PermissionNames: []string{"nope"}}); !errors.As(err, &miss) || miss.Name != "nope" {
			t.Fatalf("role with unknown permission: %v", err)
		}
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "viewer", PermissionNames: []string{"read"}}))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "editor", PermissionNames: []string{"read", "write"}, Default: true}))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Acme", SelfProvisioningDomains: []string{"acme.io"},
			CustomAttributes: map[string]any{"tier": "gold"}, DefaultRoles: []string{"viewer"}}))
		if err := s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Again"}); !errors.Is(err, store.ErrAuthzExists) {
			t.Fatalf("duplicate tenant: %v", err)
		}
		ids, err := s.RoleIDs(ctx, "P", []string{"viewer", "editor", "viewer"})
		must(t, err)
		if len(ids) != 2 {
			t.Fatalf("role ids %v", ids)
		}
		ten, err := s.Tenant(ctx, "P", "t1")
		must(t, err)
		u := store.UserAuthz{Roles: ids, Tenants: []store.Membership{{TenantID: "t1", Incarnation: ten.Incarnation, Roles: ids[1:]}}}

		got, err := s.Claims(ctx, "P", u)
		must(t, err)
		want := store.Claims{Roles: []string{"viewer", "editor"}, Permissions: []string{"read", "write"},
			Tenants: map[string]store.TenantClaims{"t1": {Roles: []string{"editor"}, Permissions: []string{"read", "write"},
				Name: "Acme", CustomAttributes: map[string]any{"tier": "gold"}}}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("claims\n got %+v\nwant %+v", got, want)
		}

		// Rename a permission and a role: holders keep them, by the new names.
		must(t, s.UpdatePermission(ctx, "P", "write", store.Permission{Name: "modify"}))
		must(t, s.UpdateRole(ctx, "P", "editor", store.Role{Name: "author", PermissionNames: []string{"read", "modify", "admin"}}))
		got, err = s.Claims(ctx, "P", u)
		must(t, err)
		if !slices.Equal(got.Roles, []string{"viewer", "author"}) || !slices.Equal(got.Permissions, []string{"read", "modify", "admin"}) {
			t.Fatalf("after renames: %+v", got)
		}
		// Delete a permission: gone from every role.
		must(t, s.DeletePermission(ctx, "P", "admin"))
		roles, err := s.Roles(ctx, "P")
		must(t, err)
		for _, r := range roles {
			if slices.Contains(r.PermissionNames, "admin") {
				t.Fatalf("deleted permission still in role %+v", r)
			}
		}
		// Delete a role and create one of the same name: nobody holds it.
		must(t, s.DeleteRole(ctx, "P", "viewer"))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "viewer", PermissionNames: []string{"read"}}))
		got, err = s.Claims(ctx, "P", u)
		must(t, err)
		if !slices.Equal(got.Roles, []string{"author"}) {
			t.Fatalf("after deleting viewer: %+v", got)
		}
		tens, err := s.Tenants(ctx, "P")
		must(t, err)
		if len(tens) != 1 || len(tens[0].DefaultRoles) != 0 {
			t.Fatalf("deleted role left in a tenant's default roles: %+v", tens)
		}
		// Delete the tenant and create it again: the old membership is gone.
		must(t, s.DeleteTenant(ctx, "P", "t1"))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "t1", Name: "Acme"}))
		got, err = s.Claims(ctx, "P", u)
		must(t, err)
		if len(got.Tenants) != 0 {
			t.Fatalf("membership of a deleted tenant survived: %+v", got.Tenants)
		}
		// Another project sees none of it.
		if ps, err := s.Permissions(ctx, "Q"); err != nil || len(ps) != 0 {
			t.Fatalf("project Q permissions: %v %v", ps, err)
		}
		if got, err := s.Claims(ctx, "Q", u); err != nil || len(got.Roles)+len(got.Tenants) != 0 {
			t.Fatalf("project P's ids resolved in project Q: %+v %v", got, err)
		}
	})
}

// TestAuthzModelCaps: past the documented cap a create is refused and
// changes nothing.
func TestAuthzModelCaps(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for i := range store.MaxPermissions {
			must(t, s.CreatePermission(ctx, "P", store.Permission{Name: fmt.Sprint("p", i)}))
		}
		if err := s.CreatePermission(ctx, "P", store.Permission{Name: "one-more"}); !errors.Is(err, store.ErrAuthzCap) {
			t.Fatalf("past the cap: %v", err)
		}
		ps, err := s.Permissions(ctx, "P")
		must(t, err)
		if len(ps) != store.MaxPermissions {
			t.Fatalf("%d permissions", len(ps))
		}
	})
}
