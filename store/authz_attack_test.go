package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// Every new user gets every project default role as a project role, so
// the default roles are capped like a user's project roles: past
// MaxRolesPerUser a create or update making one more default is refused,
// nothing written; before the cap, 1000 default roles went into every new
// user's record (past its own cap) and every verify resolved them all.
func TestDefaultRolesCappedAtAUsersRoles(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for i := range store.MaxRolesPerUser {
			must(t, s.CreateRole(ctx, "P", store.Role{Name: fmt.Sprintf("d%d", i), Default: true}))
		}
		if err := s.CreateRole(ctx, "P", store.Role{Name: "one-more", Default: true}); !errors.Is(err, store.ErrAuthzCap) {
			t.Fatalf("default role %d: %v, want the cap", store.MaxRolesPerUser+1, err)
		}
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "plain"}))
		if err := s.UpdateRole(ctx, "P", "plain", store.Role{Name: "plain", Default: true}); !errors.Is(err, store.ErrAuthzCap) {
			t.Fatalf("made default by update: %v, want the cap", err)
		}
		// A default role updated (or renamed) stays within the cap.
		must(t, s.UpdateRole(ctx, "P", "d0", store.Role{Name: "d0-renamed", Default: true}))
		a, err := s.NewUserAuthz(ctx, "P", "", "")
		must(t, err)
		if len(a.Roles) != store.MaxRolesPerUser {
			t.Fatalf("a new user gets %d roles, want %d", len(a.Roles), store.MaxRolesPerUser)
		}
		roles, err := s.Roles(ctx, "P")
		must(t, err)
		for _, r := range roles {
			if r.Name == "one-more" || (r.Name == "plain" && r.Default) {
				t.Fatalf("a refused write left %+v", r)
			}
		}
	})
}
