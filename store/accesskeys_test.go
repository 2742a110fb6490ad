package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// TestAccessKeysStore: create, load, list, update (a compare-and-set that
// survives concurrent writers), delete; the cap refuses and writes
// nothing; the keys live under the project's hash tag (one slot); and a
// key's roles and tenants resolve like a user's: a deleted role is gone
// from its claims without any write to the key.
func TestAccessKeysStore(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		must(t, s.CreatePermission(ctx, "P", store.Permission{Name: "read"}))
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "viewer", PermissionNames: []string{"read"}}))
		ids, err := s.RoleIDs(ctx, "P", []string{"viewer"})
		must(t, err)
		k := store.AccessKey{ID: "K1", Name: "svc", Hash: []byte("0123456789abcdef0123456789abcdef"), Status: store.AccessKeyActive,
			Created: t0, Expires: t0.Add(time.Hour), Authz: store.UserAuthz{Roles: ids}, PermittedIPs: []string{"10.0.0.0/8"}, CreatedBy: "mk"}
		must(t, s.CreateAccessKey(ctx, "P", k))
		if err := s.CreateAccessKey(ctx, "P", k); !errors.Is(err, store.ErrAccessKeyExists) {
			t.Fatalf("same id again: %v", err)
		}
		got, err := s.AccessKey(ctx, "P", "K1")
		must(t, err)
		if got.Name != "svc" || string(got.Hash) != string(k.Hash) || !got.Expires.Equal(t0.Add(time.Hour)) || got.Status != "active" ||
			fmt.Sprint(got.PermittedIPs) != "[10.0.0.0/8]" || got.CreatedBy != "mk" || !got.Created.Equal(t0) {
			t.Fatalf("load: %+v", got)
		}
		if _, err := s.AccessKey(ctx, "other", "K1"); !errors.Is(err, store.ErrAccessKeyNotFound) {
			t.Fatalf("another project sees the key: %v", err)
		}
		if key := store.AccessKeysKey("P"); !strings.HasPrefix(key, "otpd:{P}:") {
			t.Fatalf("key %q is not under the project's hash tag", key)
		}
		cl, err := s.Claims(ctx, "P", got.Authz)
		must(t, err)
		if fmt.Sprint(cl.Roles, cl.Permissions) != "[viewer] [read]" {
			t.Fatalf("claims: %+v", cl)
		}
		must(t, s.DeleteRole(ctx, "P", "viewer"))
		cl, err = s.Claims(ctx, "P", got.Authz)
		must(t, err)
		if len(cl.Roles)+len(cl.Permissions) != 0 {
			t.Fatalf("a deleted role is still claimed: %+v", cl)
		}

		// Concurrent updates: none is lost.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdateAccessKey(ctx, "P", "K1", func(k *store.AccessKey) error {
					k.PermittedIPs = append(k.PermittedIPs, fmt.Sprintf("192.0.2.%d", i))
					return nil
				})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil && !errors.Is(err, store.ErrAccessKeyChanged) {
				t.Fatal(err)
			}
		}
		got, err = s.AccessKey(ctx, "P", "K1")
		must(t, err)
		if n := len(got.PermittedIPs); n < 2 || string(got.Hash) != string(k.Hash) {
			t.Fatalf("after concurrent updates: %+v", got)
		}
		if _, err := s.UpdateAccessKey(ctx, "P", "nope", func(*store.AccessKey) error { return nil }); !errors.Is(err, store.ErrAccessKeyNotFound) {
			t.Fatalf("update of an unknown key: %v", err)
		}
		stop := errors.New("stop")
		if _, err := s.UpdateAccessKey(ctx, "P", "K1", func(k *store.AccessKey) error { k.Name = "x"; return stop }); !errors.Is(err, stop) {
			t.Fatalf("change's error: %v", err)
		}
		if got, _ := s.AccessKey(ctx, "P", "K1"); got.Name != "svc" {
			t.Fatalf("a refused change was written: %+v", got)
		}
		all, err := s.AllAccessKeys(ctx, "P")
		must(t, err)
		if len(all) != 1 || all[0].ID != "K1" {
			t.Fatalf("all: %+v", all)
		}
		must(t, s.DeleteAccessKey(ctx, "P", "K1"))
		if err := s.DeleteAccessKey(ctx, "P", "K1"); !errors.Is(err, store.ErrAccessKeyNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if _, err := s.AccessKey(ctx, "P", "K1"); !errors.Is(err, store.ErrAccessKeyNotFound) {
			t.Fatalf("load after delete: %v", err)
		}
	})
}

// TestAccessKeysCap: past MaxAccessKeys a create is refused and writes
// nothing.
func TestAccessKeysCap(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		fill := map[string]any{}
		for i := range store.MaxAccessKeys {
			fill[fmt.Sprintf("K%05d", i)] = `{"n":"x","h":"","st":"active","c":1,"a":{}}`
		}
		must(t, c.HSet(ctx, store.AccessKeysKey("P"), fill).Err())
		err := s.CreateAccessKey(ctx, "P", store.AccessKey{ID: "Knew", Name: "n", Status: store.AccessKeyActive, Created: t0})
		if !errors.Is(err, store.ErrAccessKeyCap) {
			t.Fatalf("past the cap: %v", err)
		}
		if n := c.HLen(ctx, store.AccessKeysKey("P")).Val(); n != store.MaxAccessKeys {
			t.Fatalf("%d keys after a refused create", n)
		}
	})
}
