package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestAuthzChangeInNextRefreshAcrossInstances: two otpd instances share one
// Redis (embedded, then a real redis-server). A user signs in on B, whose
// claims cache then holds the model; each management change made on A is
// in the very next refresh on B, with no wait: a permission taken off a
// role, a role taken off the user, a role deleted, a tenant renamed and
// deleted.
func TestAuthzChangeInNextRefreshAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "miniredis", true: "redis-server"}[real], func(t *testing.T) {
			t.Parallel()
			codes := &syncBuffer{}
			a := newEnv(t, real, defaultMgmtKeys(), withCodeLog(codes))
			b := newEnv(t, real, defaultMgmtKeys(), withRedis(a.redis), withCodeLog(codes))
			authzChangeFlow(t, a, b)
		})
	}
}

// TestClusterAuthzChangeInNextRefresh is the same on a real Redis Cluster
// (the version and the model on the project's slot, the user's keys on
// others).
func TestClusterAuthzChangeInNextRefresh(t *testing.T) {
	t.Parallel()
	p := newClusterPair(t, defaultMgmtKeys())
	authzChangeFlow(t, p.a, p.b)
}

// authzChangeFlow: a user signs in on b, whose claims cache then holds the
// model; each management change made on a is in the very next refresh on b.
func authzChangeFlow(t *testing.T, a, b *env) {
	t.Helper()
	a.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"read"}`)
	a.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"write"}`)
	a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"editor","permissionNames":["read","write"]}`)
	a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"viewer","permissionNames":["read"]}`)
	a.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
	a.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"kim@example.com","email":"kim@example.com","verifiedEmail":true,`+
		`"roleNames":["editor","viewer"],"userTenants":[{"tenantId":"acme","roleNames":["editor"]}]}`)
	v := b.login("email", "kim@example.com", "kim@example.com")
	refresh := func(step string) map[string]any {
		t.Helper()
		s, r := b.do("POST", "/v1/auth/refresh", "", b.bearer(v["refreshJwt"]))
		if s != 200 {
			t.Fatalf("%s: refresh on B: %d %v", step, s, r)
		}
		return jwtClaims(t, r["sessionJwt"])
	}
	c := jwtClaims(t, v["sessionJwt"])
	if fmt.Sprint(c["roles"]) != "[editor viewer]" || fmt.Sprint(c["permissions"]) != "[read write]" ||
		fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[read write] roles:[editor]]]" {
		t.Fatalf("sign-in on B: %v", c)
	}
	refresh("warm")

	a.mustMgmt("POST", "/v1/mgmt/role/update", `{"name":"editor","newName":"editor","permissionNames":["read"]}`)
	if c := refresh("permission taken off a role"); fmt.Sprint(c["permissions"]) != "[read]" ||
		fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[read] roles:[editor]]]" {
		t.Fatalf("permission taken off a role, next refresh on B: %v", c)
	}
	a.mustMgmt("POST", "/v1/mgmt/user/update/role/remove", `{"loginId":"kim@example.com","roleNames":["viewer"]}`)
	if c := refresh("role taken off the user"); fmt.Sprint(c["roles"]) != "[editor]" {
		t.Fatalf("role taken off the user, next refresh on B: %v", c)
	}
	a.mustMgmt("POST", "/v1/mgmt/tenant/update", `{"id":"acme","name":"Acme 2"}`)
	if s, r := b.do("POST", "/v1/auth/me/tenants", `{"dct":false}`, b.bearer(v["refreshJwt"])); s != 200 || !strings.Contains(fmt.Sprint(r), "Acme 2") {
		t.Fatalf("tenant renamed, me/tenants on B: %d %v", s, r)
	}
	a.mustMgmt("POST", "/v1/mgmt/role/delete", `{"name":"editor"}`)
	if c := refresh("role deleted"); c["roles"] != nil || fmt.Sprint(c["tenants"]) != "map[acme:map[permissions:[] roles:[]]]" {
		t.Fatalf("role deleted, next refresh on B: %v", c)
	}
	a.mustMgmt("POST", "/v1/mgmt/tenant/delete", `{"id":"acme"}`)
	if c := refresh("tenant deleted"); c["tenants"] != nil {
		t.Fatalf("tenant deleted, next refresh on B: %v", c)
	}
}

// TestSearchByRoleReadsTheModelOnce: a user search narrowed by roleNames
// resolves every candidate against one read of the model, not one round
// trip per candidate (40 candidates here).
func TestSearchByRoleReadsTheModelOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	var emails []string
	for i := range 40 {
		roles := ""
		if i%2 == 0 {
			roles = `,"roleNames":["admin"]`
		}
		email := fmt.Sprintf("s%d@example.com", i)
		emails = append(emails, fmt.Sprintf("%q", email))
		e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(`{"loginId":%q,"email":%q%s}`, email, email, roles))
	}
	var modelReads atomic.Int64
	e.redis.AddHook(modelReadCounter{&modelReads})
	b := e.mustMgmt("POST", "/v2/mgmt/user/search", `{"emails":[`+strings.Join(emails, ",")+`],"roleNames":["admin"],"limit":100}`)
	users, _ := b["users"].([]any)
	if len(users) != 20 {
		t.Fatalf("search by role: %d users, want 20", len(users))
	}
	if n := modelReads.Load(); n > 2 {
		t.Fatalf("the search read the model %d times for 40 candidates, want one read (a version GET, at most one reload)", n)
	}
}

// modelReadCounter counts the commands that read the authorization model
// (its version, or a script over the model's keys).
type modelReadCounter struct{ n *atomic.Int64 }

func (h modelReadCounter) count(cmd redis.Cmder) {
	if slices.ContainsFunc(cmd.Args(), func(a any) bool { s, ok := a.(string); return ok && strings.Contains(s, ":az:") }) {
		h.n.Add(1)
	}
}

func (h modelReadCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h modelReadCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h modelReadCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}
