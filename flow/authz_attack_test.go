package flow_test

import (
	"context"
	"testing"

	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// Attacker chains against the authorization claims (docs/security.md,
// "Authorization: what the rules do not cover").

// A refresh JWT that carries dct keeps it only while its user is still a
// member: removed, or the tenant deleted and created again under the same
// id (a new incarnation nobody holds), the next refresh has neither the
// tenant nor dct, and tenant/select refuses it.
func TestStaleDCTDiesWithTheMembership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	st := store.NewRedisStore(c)
	v := signIn(t, e, p, snd, "mia@example.com")
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "admin"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme"}))
	assign(t, st, v.User.UserID, nil, "acme", []string{"admin"})
	sel, err := e.SelectTenant(ctx, p, v.Tokens.Refresh, "acme", "")
	must(t, err)

	must(t, st.DeleteTenant(ctx, "P1", "acme"))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme again"}))
	r, err := e.Refresh(ctx, p, sel.Tokens.Refresh, "")
	must(t, err)
	sc, err := p.Issuer.VerifySession(r.Tokens.Session)
	must(t, err)
	if sc.Authz != nil {
		t.Fatalf("after the tenant was deleted and created again: %+v", sc.Authz)
	}
	if _, err := e.SelectTenant(ctx, p, sel.Tokens.Refresh, "acme", ""); err == nil {
		t.Fatal("tenant/select of the re-created tenant by a member of the old one")
	}
	ts, err := e.MyTenants(ctx, p, sel.Tokens.Refresh, false, nil)
	if err != nil || len(ts) != 0 {
		t.Fatalf("me/tenants lists the re-created tenant: %+v %v", ts, err)
	}
}

// A step-up start with loginOptions.tenantId is refused, nothing sent,
// for a tenant the signed-in caller is not in, even when the login id
// named is of a member (another user's login id is refused first).
func TestStepUpCannotBorrowATenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	st := store.NewRedisStore(c)
	member := signIn(t, e, p, snd, "member@example.com")
	eve := signIn(t, e, p, snd, "eve@example.com")
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "admin"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme"}))
	assign(t, st, member.User.UserID, nil, "acme", []string{"admin"})
	caller, err := e.Authenticate(ctx, p, eve.Tokens.Refresh)
	must(t, err)
	sent := len(snd.msgs)
	for _, login := range []string{"eve@example.com", "member@example.com"} {
		for _, mfa := range []bool{false, true} {
			_, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: login,
				TenantID: "acme", StepUp: !mfa, MFA: mfa, Caller: caller})
			if err == nil || len(snd.msgs) != sent {
				t.Fatalf("step-up (mfa %v) of %s into acme by eve: %v, %d sent", mfa, login, err, len(snd.msgs)-sent)
			}
		}
	}
	p.EnumerationProtection = true
	if _, err := e.Start(ctx, flow.StartInput{Project: p, Channel: flow.Email, Op: flow.SignIn, LoginID: "eve@example.com",
		TenantID: "acme", StepUp: true, Caller: caller}); err == nil || len(snd.msgs) != sent {
		t.Fatalf("step-up into acme under enumeration protection: %v", err)
	}
}

// A verified email changed later (update email) to an address at a
// tenant's self-provisioning domain joins nothing: only a new user's
// first verified email counts.
func TestEmailChangeToATenantDomainJoinsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := testredis.Mini(t)
	e, p, snd, _ := newEngineOn(t, c, nil)
	st := store.NewRedisStore(c)
	v := signIn(t, e, p, snd, "drifter@example.com")
	must(t, st.CreateRole(ctx, "P1", store.Role{Name: "staff"}))
	must(t, st.CreateTenant(ctx, "P1", store.Tenant{ID: "acme", Name: "Acme", SelfProvisioningDomains: []string{"acme.io"}, DefaultRoles: []string{"staff"}}))
	caller, err := e.Authenticate(ctx, p, v.Tokens.Refresh)
	must(t, err)
	if _, err := e.UpdateStart(ctx, flow.UpdateInput{Project: p, Channel: flow.Email, Caller: caller,
		LoginID: "drifter@example.com", Address: "drifter@acme.io", AddLoginID: true}); err != nil {
		t.Fatal(err)
	}
	u, err := e.Verify(ctx, flow.VerifyInput{Project: p, Channel: flow.Email, LoginID: "drifter@example.com", Code: snd.msgs[len(snd.msgs)-1].Code})
	must(t, err)
	if u.User.Email != "drifter@acme.io" || !u.User.Authz.Empty() {
		t.Fatalf("after the change: email %q authz %+v", u.User.Email, u.User.Authz)
	}
	// Signing in by the new address does not join either.
	v = signIn(t, e, p, snd, "drifter@acme.io")
	if sc, err := p.Issuer.VerifySession(v.Tokens.Session); err != nil || sc.Authz != nil {
		t.Fatalf("sign-in by the new address: %+v %v", sc.Authz, err)
	}
	// A sub-domain of a tenant's domain is another domain.
	v = signIn(t, e, p, snd, "mallory@evil.acme.io")
	if sc, err := p.Issuer.VerifySession(v.Tokens.Session); err != nil || sc.Authz != nil {
		t.Fatalf("a new user at a sub-domain: %+v %v", sc.Authz, err)
	}
}
