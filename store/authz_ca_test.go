package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// A tenant's custom attributes come back as they were given: Redis'
// cjson re-encoded them with the record, turning an empty array into {}
// and cutting numbers to 14 significant digits (an external id of 16
// digits changed), at create, at update, and whenever a role rename or
// delete rewrote the tenant's default roles.
func TestTenantCustomAttributesRoundTrip(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		ca := map[string]any{"tags": []any{}, "extId": float64(1234567890123456), "meta": map[string]any{}, "ratio": 0.1}
		want, _ := json.Marshal(ca)
		must(t, s.CreateRole(ctx, "P", store.Role{Name: "r"}))
		must(t, s.CreateTenant(ctx, "P", store.Tenant{ID: "acme", Name: "Acme", CustomAttributes: ca}))
		check := func(when string) {
			t.Helper()
			got, err := s.Tenant(ctx, "P", "acme")
			must(t, err)
			if b, _ := json.Marshal(got.CustomAttributes); string(b) != string(want) {
				t.Fatalf("%s: custom attributes %s, want %s", when, b, want)
			}
		}
		check("after create")
		must(t, s.UpdateTenant(ctx, "P", store.Tenant{ID: "acme", Name: "Acme", CustomAttributes: ca, DefaultRoles: []string{"r"}}, true))
		check("after update")
		must(t, s.UpdateRole(ctx, "P", "r", store.Role{Name: "r2"}))
		must(t, s.DeleteRole(ctx, "P", "r2"))
		check("after a role rename and delete rewrote the tenant")
		must(t, s.UpdateTenant(ctx, "P", store.Tenant{ID: "acme", Name: "Acme"}, false))
		if got, err := s.Tenant(ctx, "P", "acme"); err != nil || len(got.CustomAttributes) != 0 {
			t.Fatalf("cleared: %v %v", got.CustomAttributes, err)
		}
		// A record of the earlier format (the object itself) still reads.
		must(t, c.HSet(ctx, "otpd:{P}:az:ten", "old", `{"s":99,"n":"Old","ca":{"tier":"gold"}}`).Err())
		if got, err := s.Tenant(ctx, "P", "old"); err != nil || got.CustomAttributes["tier"] != "gold" || got.Incarnation != 99 {
			t.Fatalf("an earlier record: %+v %v", got, err)
		}
	})
}
