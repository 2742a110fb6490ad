package server_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// TestAuthzOverGRPC: the authorization methods of the Management service
// need the management key, and do over gRPC what their REST paths do.
func TestAuthzOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	m := otpv1.NewManagementClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid+":"+mgmtKey)
	if _, err := m.CreatePermission(e.authCtx(), &otpv1.MgmtPermissionRequest{Name: "read"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a key: %v", err)
	}
	if _, err := m.CreatePermission(ctx, &otpv1.MgmtPermissionRequest{Name: "read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateRole(ctx, &otpv1.MgmtRoleRequest{Name: "viewer", PermissionNames: []string{"read"}, DefaultRole: true}); err != nil {
		t.Fatal(err)
	}
	ten, err := m.CreateTenant(ctx, &otpv1.MgmtTenantRequest{Name: "Acme"})
	if err != nil || !strings.HasPrefix(ten.GetId(), "T") {
		t.Fatalf("create tenant: %v %v", ten, err)
	}
	if _, err := m.CreateUser(ctx, &otpv1.MgmtUserRequest{LoginId: "g@example.com", RoleNames: []string{"viewer"},
		UserTenants: []*otpv1.UserTenant{{TenantId: ten.GetId(), RoleNames: []string{"viewer"}}}}); err != nil {
		t.Fatal(err)
	}
	u, err := m.LoadUser(ctx, &otpv1.MgmtUserRef{LoginId: "g@example.com"})
	if err != nil || fmt.Sprint(u.GetUser().GetRoleNames()) != "[viewer]" || len(u.GetUser().GetUserTenants()) != 1 ||
		u.GetUser().GetUserTenants()[0].GetTenantName() != "Acme" {
		t.Fatalf("load: %v %v", u, err)
	}
	u, err = m.RemoveUserTenant(ctx, &otpv1.MgmtUserTenantRequest{LoginId: "g@example.com", TenantId: ten.GetId()})
	if err != nil || len(u.GetUser().GetUserTenants()) != 0 {
		t.Fatalf("remove tenant: %v %v", u, err)
	}
	roles, err := m.LoadAllRoles(ctx, &otpv1.MgmtEmpty{})
	if err != nil || len(roles.GetRoles()) != 1 || !roles.GetRoles()[0].GetDefaultRole() {
		t.Fatalf("roles: %v %v", roles, err)
	}
	if _, err := m.CreateRole(ctx, &otpv1.MgmtRoleRequest{Name: "bad\x00name"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("control character in a role name: %v", err)
	}
	// A tenant-scoped role of the same name as the project's.
	if _, err := m.CreateRole(ctx, &otpv1.MgmtRoleRequest{Name: "viewer", TenantId: ten.GetId()}); err != nil {
		t.Fatalf("tenant role: %v", err)
	}
	found, err := m.SearchRoles(ctx, &otpv1.MgmtRoleSearchRequest{TenantIds: []string{ten.GetId()}})
	if err != nil || len(found.GetRoles()) != 1 || found.GetRoles()[0].GetTenantId() != ten.GetId() || found.GetRoles()[0].GetDefaultRole() {
		t.Fatalf("search tenant roles: %v %v", found, err)
	}
	if _, err := m.DeleteRole(ctx, &otpv1.MgmtRoleRequest{Name: "viewer", TenantId: ten.GetId()}); err != nil {
		t.Fatal(err)
	}
	if roles, err := m.LoadAllRoles(ctx, &otpv1.MgmtEmpty{}); err != nil || len(roles.GetRoles()) != 1 || roles.GetRoles()[0].GetTenantId() != "" {
		t.Fatalf("after deleting the tenant role: %v %v", roles, err)
	}
}

// TestAuthzProjectIsolation: a management key of one project neither sees
// nor changes another project's model, and a user of one project cannot be
// given another project's roles.
func TestAuthzProjectIsolation(t *testing.T) {
	t.Parallel()
	const otherID = "P2OtherProject00000000000002"
	const otherKey = "mk-other-project-0123456789abcdef0123"
	e := newEnv(t, false, withProjects(config.Project{ID: pid}, config.Project{ID: otherID}), defaultMgmtKeys(),
		func(s *envSetup) { s.cfg.Projects[1].ManagementKeys = []string{"other=" + otherKey} })
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
	other := func(method, path, body string) (int, map[string]any) {
		return e.do(method, path, body, "Bearer "+otherID+":"+otherKey)
	}
	if s, b := other("GET", "/v1/mgmt/role/all", ""); s != 200 || fmt.Sprint(b["roles"]) != "[]" {
		t.Fatalf("project B sees A's roles: %d %v", s, b)
	}
	if s, b := other("GET", "/v1/mgmt/tenant?id=acme", ""); s != 400 {
		t.Fatalf("project B loads A's tenant: %d %v", s, b)
	}
	if s, b := other("POST", "/v1/mgmt/role/delete", `{"name":"admin"}`); s != 200 {
		t.Fatalf("delete in B: %d %v", s, b)
	}
	if _, b := e.mgmt("GET", "/v1/mgmt/role/all", ""); !strings.Contains(fmt.Sprint(b["roles"]), "admin") {
		t.Fatalf("B's delete removed A's role: %v", b)
	}
	if s, b := other("POST", "/v1/mgmt/user/create", `{"loginId":"b@example.com","roleNames":["admin"]}`); s != 400 {
		t.Fatalf("B's user got A's role: %d %v", s, b)
	}
	// A key of B with A's project id is refused outright.
	if s, _ := e.do("GET", "/v1/mgmt/role/all", "", "Bearer "+pid+":"+otherKey); s != 401 {
		t.Fatalf("B's key on A: %d", s)
	}
}

// TestAuthzBadInput: malformed or oversized bodies and bad names get 400
// in Descope's shape and change nothing.
func TestAuthzBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	long := strings.Repeat("r", 101)
	many := `"` + strings.Repeat(`a","`, 20) + `a"`
	for _, tc := range []struct{ path, body string }{
		{"/v1/mgmt/role/create", `{"name":`},
		{"/v1/mgmt/role/create", `{"name":"` + long + `"}`},
		{"/v1/mgmt/role/create", `{"name":" padded"}`},
		{"/v1/mgmt/role/create", `{"name":""}`},
		// the role hash's tenant-role separator cannot be smuggled in a name or tenant id
		{"/v1/mgmt/role/create", `{"name":"x\u001fy"}`},
		{"/v1/mgmt/role/create", `{"name":"x","tenantId":"a\u001fb"}`},
		{"/v1/mgmt/role/delete", `{"name":"x","tenantId":"a\u001fb"}`},
		{"/v1/mgmt/permission/create", `{"name":"p","description":"` + strings.Repeat("d", 1001) + `"}`},
		{"/v1/mgmt/tenant/create", `{"name":"T","enforceSSO":true}`},
		{"/v1/mgmt/tenant/create", `{"name":"T","parent":"x"}`},
		{"/v1/mgmt/tenant/delete", `{"id":"x","cascade":true}`},
		{"/v1/mgmt/user/create", `{"loginId":"u@example.com","roleNames":[` + many + `]}`},
	} {
		s, b := e.mgmt("POST", tc.path, tc.body)
		if s != 400 || errCodeOf(b) == "" {
			t.Errorf("%s %.60s: %d %v", tc.path, tc.body, s, b)
		}
	}
	for _, path := range []string{"/v1/mgmt/role/all", "/v1/mgmt/tenant/all", "/v1/mgmt/permission/all"} {
		_, b := e.mgmt("GET", path, "")
		for _, v := range b {
			if fmt.Sprint(v) != "[]" {
				t.Errorf("%s after refused calls: %v", path, b)
			}
		}
	}
	if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=u%40example.com", ""); s != 404 {
		t.Errorf("a refused create left a user: %d", s)
	}
}

// TestSearchUsersByRoleAndTenant: roleNames and tenantIds narrow a search
// by addresses or login ids, and alone list the holders (holder index).
func TestSearchUsersByRoleAndTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"a1@example.com","email":"a1@example.com","roleNames":["admin"]}`)
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"a2@example.com","email":"a2@example.com","userTenants":[{"tenantId":"acme"}]}`)
	both := `"emails":["a1@example.com","a2@example.com"]`
	for body, want := range map[string]string{
		`{` + both + `,"roleNames":["admin"]}`:                      "[a1@example.com]",
		`{` + both + `,"tenantIds":["acme"]}`:                       "[a2@example.com]",
		`{` + both + `,"roleNames":["admin"],"tenantIds":["acme"]}`: "[]",
		`{` + both + `}`: "[a1@example.com a2@example.com]",
	} {
		b := e.mustMgmt("POST", "/v2/mgmt/user/search", body)
		users, _ := b["users"].([]any)
		var got []string
		for _, u := range users {
			got = append(got, fmt.Sprint(u.(map[string]any)["email"]))
		}
		sort.Strings(got)
		if fmt.Sprint(got) != want && !(want == "[]" && len(got) == 0) {
			t.Errorf("%s: %v, want %s", body, got, want)
		}
	}
	// Alone, they list the holders (and still combine with each other and
	// the other filters).
	for body, want := range map[string]string{
		`{"roleNames":["admin"]}`:                            "[a1@example.com]",
		`{"tenantIds":["acme"]}`:                             "[a2@example.com]",
		`{"roleNames":["admin","nope"]}`:                     "[a1@example.com]",
		`{"tenantIds":["nope"]}`:                             "[]",
		`{"roleNames":["admin"],"tenantIds":["acme"]}`:       "[]",
		`{"tenantIds":["acme"],"fromCreatedTime":1}`:         "[a2@example.com]",
		`{"roleNames":["admin"],"sort":[{"field":"email"}]}`: "[a1@example.com]",
	} {
		b := e.mustMgmt("POST", "/v2/mgmt/user/search", body)
		users, _ := b["users"].([]any)
		got := []string{}
		for _, u := range users {
			got = append(got, fmt.Sprint(u.(map[string]any)["email"]))
		}
		if fmt.Sprint(got) != want || fmt.Sprint(b["total"]) != fmt.Sprint(len(got)) {
			t.Errorf("alone %s: %v (total %v), want %s", body, got, b["total"], want)
		}
	}
	// A role removed from a user, and a tenant the user left: no longer found.
	e.mustMgmt("POST", "/v1/mgmt/user/update/role/remove", `{"loginId":"a1@example.com","roleNames":["admin"]}`)
	e.mustMgmt("POST", "/v1/mgmt/user/update/tenant/remove", `{"loginId":"a2@example.com","tenantId":"acme"}`)
	for _, body := range []string{`{"roleNames":["admin"]}`, `{"tenantIds":["acme"]}`} {
		if users, _ := e.mustMgmt("POST", "/v2/mgmt/user/search", body)["users"].([]any); len(users) != 0 {
			t.Errorf("after removal %s: %v", body, users)
		}
	}
	e.mustMgmt("POST", "/v1/mgmt/user/update/tenant/add", `{"loginId":"a2@example.com","tenantId":"acme"}`)
	// userIds narrow a search like the address filters.
	a1 := e.mustMgmt("GET", "/v1/mgmt/user?loginId=a1%40example.com", "")["user"].(map[string]any)["userId"]
	a2 := e.mustMgmt("GET", "/v1/mgmt/user?loginId=a2%40example.com", "")["user"].(map[string]any)["userId"]
	b := e.mustMgmt("POST", "/v2/mgmt/user/search", fmt.Sprintf(`{"userIds":[%q,%q],"tenantIds":["acme"]}`, a1, a2))
	if users, _ := b["users"].([]any); len(users) != 1 || users[0].(map[string]any)["userId"] != a2 {
		t.Errorf("userIds with tenantIds: %v", b)
	}
}

// TestAuthzTenantRolesREST: a role created with tenantId exists only in
// that tenant (its name may be a project role's), is listed with its
// tenantId by role/all and role/search, is updated and deleted by
// (tenantId, name), wins over the project role of that name in its
// tenant, and goes with its tenant.
func TestAuthzTenantRolesREST(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"read"}`)
	e.mustMgmt("POST", "/v1/mgmt/permission/create", `{"name":"write"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"acme","name":"Acme"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/create", `{"id":"beta","name":"Beta"}`)
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin","permissionNames":["read"]}`)
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin","tenantId":"acme","permissionNames":["write"]}`)
	for body, code := range map[string]string{
		`{"name":"admin","tenantId":"acme"}`:                         "E011002", // taken in the tenant
		`{"name":"x","tenantId":"nope"}`:                             "E011002", // no such tenant
		`{"name":"x","tenantId":"acme","default":true}`:              "E011003", // default is for project roles
		`{"name":"x","tenantId":"` + strings.Repeat("t", 101) + `"}`: "E011003",
	} {
		if s, b := e.mgmt("POST", "/v1/mgmt/role/create", body); s != 400 || errCodeOf(b) != code {
			t.Errorf("create %s: %d %v", body, s, b)
		}
	}
	names := func(b map[string]any) string {
		var out []string
		roles, _ := b["roles"].([]any)
		for _, r := range roles {
			m := r.(map[string]any)
			out = append(out, fmt.Sprintf("%v/%v%v", m["tenantId"], m["name"], m["permissionNames"]))
		}
		return strings.Join(out, " ")
	}
	if got := names(e.mustMgmt("GET", "/v1/mgmt/role/all", "")); got != "/admin[read] acme/admin[write]" {
		t.Fatalf("role/all: %s", got)
	}
	for body, want := range map[string]string{
		`{"tenantIds":["acme"]}`:                            "acme/admin[write]",
		`{"tenantIds":["acme"],"includeProjectRoles":true}`: "/admin[read] acme/admin[write]",
		`{"tenantIds":["beta"]}`:                            "",
		`{"roleNames":["admin"]}`:                           "/admin[read] acme/admin[write]",
		`{"tenantIds":["acme"],"permissionNames":["read"]}`: "",
	} {
		if got := names(e.mustMgmt("POST", "/v1/mgmt/role/search", body)); got != want {
			t.Errorf("role/search %s: %q, want %q", body, got, want)
		}
	}
	// In acme "admin" is acme's own role; in beta the project's.
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"u@example.com","roleNames":["admin"],`+
		`"userTenants":[{"tenantId":"acme","roleNames":["admin"]},{"tenantId":"beta","roleNames":["admin"]}]}`)
	u := e.mustMgmt("GET", "/v1/mgmt/user?loginId=u%40example.com", "")["user"].(map[string]any)
	if got := fmt.Sprint(u["userTenants"]); got != "[map[permissions:[write] roleNames:[admin] tenantId:acme tenantName:Acme] "+
		"map[permissions:[read] roleNames:[admin] tenantId:beta tenantName:Beta]]" || fmt.Sprint(u["permissions"]) == "[write]" {
		t.Fatalf("user tenants: %s", got)
	}
	// Update and delete address the tenant's role, not the project's.
	e.mustMgmt("POST", "/v1/mgmt/role/update", `{"name":"admin","tenantId":"acme","newName":"owner","permissionNames":["read","write"]}`)
	if got := names(e.mustMgmt("GET", "/v1/mgmt/role/all", "")); got != "/admin[read] acme/owner[read write]" {
		t.Fatalf("after update: %s", got)
	}
	if s, b := e.mgmt("POST", "/v1/mgmt/role/update", `{"name":"admin","tenantId":"beta","newName":"x"}`); s != 400 || errCodeOf(b) != "E011002" {
		t.Errorf("update of a role beta does not have: %d %v", s, b)
	}
	e.mustMgmt("POST", "/v1/mgmt/role/delete", `{"name":"owner","tenantId":"acme"}`)
	if got := names(e.mustMgmt("GET", "/v1/mgmt/role/all", "")); got != "/admin[read]" {
		t.Fatalf("after delete: %s", got)
	}
	u = e.mustMgmt("GET", "/v1/mgmt/user?loginId=u%40example.com", "")["user"].(map[string]any)
	if got := fmt.Sprint(u["userTenants"]); !strings.HasPrefix(got, "[map[permissions:[] roleNames:[] tenantId:acme") {
		t.Fatalf("deleted tenant role still held: %s", got)
	}
	// A tenant's role goes with the tenant.
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"temp","tenantId":"beta"}`)
	e.mustMgmt("POST", "/v1/mgmt/tenant/delete", `{"id":"beta"}`)
	if got := names(e.mustMgmt("GET", "/v1/mgmt/role/all", "")); got != "/admin[read]" {
		t.Fatalf("after the tenant's delete: %s", got)
	}
}

// TestSearchUsersByRoleTooMany: a search by role alone whose holders are
// more than the documented bound (10,000) is refused, saying so, rather
// than cut to a page of an unknown whole.
func TestSearchUsersByRoleTooMany(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"a1@example.com","roleNames":["admin"]}`)
	ctx := context.Background()
	st := store.NewRedisStore(e.redis)
	ids, err := st.RoleIDs(ctx, e.project, []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	// 10,000 more holder entries (the index is a superset: entries of users
	// without a record count against the bound too).
	pipe := e.redis.Pipeline()
	for i := range 10_000 {
		pipe.ZAdd(ctx, "otpd:{"+e.project+"}:az:ux", redis.Z{Member: fmt.Sprintf("r%d\x00Ughost%05d\x001", ids[0], i)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s, b := e.mgmt("POST", "/v2/mgmt/user/search", `{"roleNames":["admin"]}`)
	if s != 400 || errCodeOf(b) != "E011003" || !strings.Contains(fmt.Sprint(b["errorMessage"]), "more than 10000") {
		t.Fatalf("past the bound: %d %v", s, b)
	}
	// Narrowed by an address it is served.
	users, _ := e.mustMgmt("POST", "/v2/mgmt/user/search", `{"roleNames":["admin"],"loginIds":["a1@example.com"]}`)["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("narrowed: %v", users)
	}
}
