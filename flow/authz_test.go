package flow_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

func signIn(t *testing.T, e *flow.Engine, p *flow.Project, snd *captureSender, email string) flow.VerifyOutput {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUpOrIn, LoginID: email}); err != nil {
		t.Fatal(err)
	}
	code := snd.msgs[len(snd.msgs)-1].Code
	v, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: email, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTokensCarryCurrentAuthz: verify and refresh put the user's roles,
// permissions and tenants in the session and refresh JWTs, computed from
// the current model: a role deleted (or a permission taken off a role,
// or a tenant deleted) is gone from the next refreshed session JWT. On the
// one-script verify and on the split-slot path alike.
func TestTokensCarryCurrentAuthz(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		t.Run(map[bool]string{false: "one-script", true: "split"}[split], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			_, c := testredis.Mini(t)
			var wrap func(store.Users) store.Users
			if split {
				wrap = func(u store.Users) store.Users { return u }
			}
			e, p, snd, _ := newEngineOn(t, c, wrap)
			st := store.NewRedisStore(c)
			first := signIn(t, e, p, snd, "ana@example.com")
			if sc, _ := p.Issuer.VerifySession(first.Tokens.Session); sc.Authz != nil {
				t.Fatalf("a user with no roles got %+v", sc.Authz)
			}
			for _, perm := range []string{"read", "write"} {
				must(t, st.CreatePermission(ctx, "P1", store.Permission{Name: perm}))
			}
			must(t, st.CreateRole(ctx, "P1", store.Role{Name: "admin", PermissionNames: []string{"read", "write"}}))
			must(t, st.CreateRole(ctx, "P1", store.Role{Name: "viewer", PermissionNames: []string{"read"}}))
			must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "t1", Name: "Acme"}))
			assign(t, st, first.User.UserID, []string{"admin", "viewer"}, "t1", []string{"viewer"})

			v := signIn(t, e, p, snd, "ana@example.com")
			want := &token.Authz{Roles: []string{"admin", "viewer"}, Permissions: []string{"read", "write"},
				Tenants: map[string]token.TenantAuthz{"t1": {Roles: []string{"viewer"}, Permissions: []string{"read"}}}}
			for _, tok := range []string{v.Tokens.Session, v.Tokens.Refresh} {
				c, err := p.Issuer.VerifySession(tok)
				if err != nil {
					c, err = p.Issuer.VerifyRefresh(tok)
				}
				if err != nil || !sameAuthz(c.Authz, want) {
					t.Fatalf("after sign-in: %+v %v, want %+v", c.Authz, err, want)
				}
			}
			must(t, st.DeleteRole(ctx, "P1", "admin"))
			must(t, st.DeleteTenant(ctx, "P1", "t1"))
			r, err := e.Refresh(ctx, p, v.Tokens.Refresh, "")
			must(t, err)
			sc, err := p.Issuer.VerifySession(r.Tokens.Session)
			must(t, err)
			want = &token.Authz{Roles: []string{"viewer"}, Permissions: []string{"read"}}
			if !sameAuthz(sc.Authz, want) {
				t.Fatalf("after deleting admin and t1: %+v", sc.Authz)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func assign(t *testing.T, st *store.RedisStore, uid string, roles []string, tenant string, tenantRoles []string) {
	t.Helper()
	ctx := context.Background()
	ids, err := st.RoleIDs(ctx, "P1", roles)
	must(t, err)
	ten, err := st.Tenant(ctx, "P1", tenant)
	must(t, err)
	tids, err := st.RoleIDs(ctx, "P1", tenantRoles)
	must(t, err)
	a := store.UserAuthz{Roles: ids, Tenants: []store.Membership{{TenantID: tenant, Incarnation: ten.Incarnation, Roles: tids}}}
	_, err = st.WriteUser(ctx, "P1", uid, store.UserWrite{Set: map[string]string{"authz": a.Field()}})
	must(t, err)
}

func sameAuthz(a, b *token.Authz) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !slices.Equal(a.Roles, b.Roles) || !slices.Equal(a.Permissions, b.Permissions) || a.DCT != b.DCT || len(a.Tenants) != len(b.Tenants) {
		return false
	}
	for id, t := range a.Tenants {
		u, ok := b.Tenants[id]
		if !ok || !slices.Equal(t.Roles, u.Roles) || !slices.Equal(t.Permissions, u.Permissions) {
			return false
		}
	}
	return true
}

// TestStartWithTenant: loginOptions.tenantId gives the session dct when
// the user is a member; for a non-member (or a login id with no user) the
// start is refused and no code is sent. Under enumeration protection the
// start does not tell, and the verify gives dct only to a member.
func TestStartWithTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	st := store.NewRedisStore(c)
	first := signIn(t, e, p, snd, "bo@example.com")
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "viewer"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "other", Name: "Other"}))
	assign(t, st, first.User.UserID, nil, "acme", []string{"viewer"})

	sent := len(snd.msgs)
	for _, tc := range []struct{ login, tenant string }{{"bo@example.com", "other"}, {"bo@example.com", "nope"}, {"new@example.com", "acme"}} {
		_, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignUpOrIn, LoginID: tc.login, TenantID: tc.tenant})
		if err == nil || len(snd.msgs) != sent {
			t.Fatalf("%s in %s: %v, %d messages sent", tc.login, tc.tenant, err, len(snd.msgs)-sent)
		}
	}
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: "bo@example.com", TenantID: "acme"}); err != nil {
		t.Fatal(err)
	}
	v, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "bo@example.com", Code: snd.msgs[len(snd.msgs)-1].Code})
	must(t, err)
	sc, err := p.Issuer.VerifySession(v.Tokens.Session)
	must(t, err)
	if sc.Authz == nil || sc.Authz.DCT != "acme" {
		t.Fatalf("session authz %+v", sc.Authz)
	}

	// Enumeration protection: the start answers alike; no dct for a non-member.
	p.EnumerationProtection = true
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: "bo@example.com", TenantID: "other"}); err != nil {
		t.Fatal(err)
	}
	v, err = e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "bo@example.com", Code: snd.msgs[len(snd.msgs)-1].Code})
	must(t, err)
	sc, err = p.Issuer.VerifySession(v.Tokens.Session)
	must(t, err)
	if sc.Authz == nil || sc.Authz.DCT != "" {
		t.Fatalf("a non-member got dct: %+v", sc.Authz)
	}
}

// TestNewUserDefaults: a new user gets the project's default roles, and
// joins the tenant whose self-provisioning domain its verified email is
// at, with that tenant's default roles; an SMS sign-up whose unverified
// email is at that domain joins nothing.
func TestNewUserDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	st := store.NewRedisStore(c)
	must(t, st.CreatePermission(ctx, "P1", store.Permission{Name: "read"}))
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "member", Default: true, PermissionNames: []string{"read"}}))
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "staff"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme", SelfProvisioningDomains: []string{"acme.io"}, DefaultRoles: []string{"staff"}}))
	if err := st.CreateTenant(ctx, "P1", store.Tenant{ID: "copy", Name: "Copy", SelfProvisioningDomains: []string{"acme.io"}}); !errors.Is(err, store.ErrDomainTaken) {
		t.Fatalf("a second tenant took acme.io: %v", err)
	}

	v := signIn(t, e, p, snd, "Zed@ACME.io")
	sc, err := p.Issuer.VerifySession(v.Tokens.Session)
	must(t, err)
	want := &token.Authz{Roles: []string{"member"}, Permissions: []string{"read"},
		Tenants: map[string]token.TenantAuthz{"acme": {Roles: []string{"staff"}, Permissions: []string{}}}}
	if !sameAuthz(sc.Authz, want) {
		t.Fatalf("new acme.io user: %+v", sc.Authz)
	}
	// An unverified email at the domain (SMS sign-up) joins no tenant.
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.SMS, Op: flow.SignUpOrIn, LoginID: "+14155550111", OtherAddress: "eve@acme.io"}); err != nil {
		t.Fatal(err)
	}
	v, err = e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.SMS, LoginID: "+14155550111", Code: snd.msgs[len(snd.msgs)-1].Code})
	must(t, err)
	sc, err = p.Issuer.VerifySession(v.Tokens.Session)
	must(t, err)
	if sc.Authz == nil || len(sc.Authz.Tenants) != 0 || !slices.Equal(sc.Authz.Roles, []string{"member"}) {
		t.Fatalf("SMS user with an unverified acme.io email: %+v", sc.Authz)
	}
}

// TestSelectTenantWithRotation: with refresh rotation, tenant select
// answers the family's next generation carrying dct, which the next
// rotation keeps; a non-member select spends nothing (the same refresh JWT
// still refreshes).
func TestSelectTenantWithRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	p.RotateRefresh = true
	st := store.NewRedisStore(c)
	v := signIn(t, e, p, snd, "rot@example.com")
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "viewer"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "other", Name: "Other"}))
	assign(t, st, v.User.UserID, nil, "acme", []string{"viewer"})
	if _, err := e.SelectTenant(ctx, p, v.Tokens.Refresh, "other", ""); err == nil {
		t.Fatal("a non-member selected a tenant")
	}
	sel, err := e.SelectTenant(ctx, p, v.Tokens.Refresh, "acme", "")
	must(t, err)
	if sel.Tokens.Refresh == v.Tokens.Refresh {
		t.Fatal("rotation gave back the same refresh JWT")
	}
	r, err := e.Refresh(ctx, p, sel.Tokens.Refresh, "")
	must(t, err)
	sc, err := p.Issuer.VerifySession(r.Tokens.Session)
	must(t, err)
	if sc.Authz == nil || sc.Authz.DCT != "acme" {
		t.Fatalf("dct lost at rotation: %+v", sc.Authz)
	}
}
