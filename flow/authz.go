package flow

import (
	"context"
	"errors"
	"strings"

	"github.com/otpd/otpd/apierr"

	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// Authz resolves a user's roles and tenants against the project's current
// authorization model (store.Authorizer's Claims).
type Authz interface {
	Claims(ctx context.Context, project string, u store.UserAuthz) (store.Claims, error)
	NewUserAuthz(ctx context.Context, project, userID, emailDomain string) (store.UserAuthz, error)
	SetUserAuthz(ctx context.Context, project, userID string, a store.UserAuthz) (store.User, error)
}

// grantNew gives a user the verify just created the project's default
// roles and, when its verified email's domain is a tenant's
// self-provisioning domain, that tenant with its default roles. Only a
// verified email counts (a code went to it): an unverified address of the
// other contact type never joins a tenant.
func (e *Engine) grantNew(ctx context.Context, p *Project, u store.User, res store.VerifyResult, ahead *modelAhead) (store.User, error) {
	if e.authz == nil {
		return u, nil
	}
	domain := ""
	if res.Contact == store.ContactEmail {
		if at := strings.LastIndexByte(res.Address, '@'); at >= 0 {
			domain = strings.ToLower(res.Address[at+1:])
		}
	}
	a, err := e.newUserAuthzAt(ctx, ahead, p.ID, u.UserID, domain)
	if err != nil {
		return u, storeErr(err)
	}
	if a.Empty() {
		return u, nil
	}
	out, err := e.authz.SetUserAuthz(ctx, p.ID, u.UserID, a)
	if err != nil {
		return u, storeErr(err)
	}
	return out, nil
}

// authzClaims is the authorization claims to mint for u, computed from
// the current model (so a role or tenant removed since the last mint is
// gone); dct is kept only while u is still a member of that tenant. Nil
// when there is nothing to claim; no store round trip for a user who
// holds nothing.
func (e *Engine) authzClaims(ctx context.Context, p *Project, u store.User, dct string) (*token.Authz, error) {
	return e.authzClaimsAt(ctx, p, u, dct, nil)
}

// authzClaimsAt is authzClaims at the model version read ahead (nil: read
// now).
func (e *Engine) authzClaimsAt(ctx context.Context, p *Project, u store.User, dct string, ahead *modelAhead) (*token.Authz, error) {
	if e.authz == nil || u.Authz.Empty() {
		return nil, nil
	}
	c, err := e.claimsAt(ctx, ahead, p.ID, u.Authz)
	if err != nil {
		return nil, storeErr(err)
	}
	return tokenAuthz(c, dct), nil
}

// tokenAuthz converts resolved claims to token claims.
func tokenAuthz(c store.Claims, dct string) *token.Authz {
	if len(c.Roles) == 0 && len(c.Permissions) == 0 && len(c.Tenants) == 0 {
		return nil
	}
	a := &token.Authz{Roles: c.Roles, Permissions: c.Permissions}
	if len(c.Tenants) > 0 {
		a.Tenants = make(map[string]token.TenantAuthz, len(c.Tenants))
		for id, t := range c.Tenants {
			a.Tenants[id] = token.TenantAuthz{Roles: t.Roles, Permissions: t.Permissions}
		}
	}
	if _, ok := c.Tenants[dct]; ok {
		a.DCT = dct
	}
	return a
}

// dctOf is the tenant a verified token selected ("" for none).
func dctOf(c *token.Claims) string {
	if c == nil || c.Authz == nil {
		return ""
	}
	return c.Authz.DCT
}

// splitAuthz is authzClaims for a verify whose login runs as its own
// script after the mint (split slots): the user record is read first,
// unless the verify created the user (nothing held yet) or an update
// already returned it (have).
func (e *Engine) splitAuthz(ctx context.Context, p *Project, uid string, newUser bool, u store.User, have bool, dct string, ahead *modelAhead) (*token.Authz, error) {
	if e.authz == nil || newUser {
		return nil, nil
	}
	if !have {
		var err error
		if u, err = e.accounts.User(ctx, p.ID, uid); err != nil {
			if errors.Is(err, store.ErrNoUser) {
				return nil, nil
			}
			return nil, storeErr(err)
		}
	}
	return e.authzClaimsAt(ctx, p, u, dct, ahead)
}

// checkTenant refuses a start whose loginOptions.tenantId names a tenant
// the login id's user (the signed-in caller for step-up and MFA) is not a
// member of, before any code is made or sent. A login id with no user is
// in no tenant.
func (e *Engine) checkTenant(ctx context.Context, p *Project, caller *Caller, loginID, tenant string) error {
	if len(tenant) > store.MaxAuthzName {
		return apierr.ErrValidation.With("loginOptions.tenantId is longer than %d bytes", store.MaxAuthzName)
	}
	var u store.User
	if caller != nil {
		u = caller.User
	} else {
		uid, err := e.accounts.LoginOwner(ctx, p.ID, loginID)
		if err != nil {
			return storeErr(err)
		}
		if uid == "" {
			return apierr.ErrTenantNotFound
		}
		if u, err = e.accounts.User(ctx, p.ID, uid); err != nil {
			if errors.Is(err, store.ErrNoUser) {
				return apierr.ErrTenantNotFound
			}
			return storeErr(err)
		}
	}
	az, err := e.authzClaims(ctx, p, u, tenant)
	if err != nil {
		return err
	}
	if az == nil || az.DCT != tenant {
		return apierr.ErrTenantNotFound
	}
	return nil
}

// UserClaims is what u holds of the current model, by name (me).
func (e *Engine) UserClaims(ctx context.Context, p *Project, u store.User) (store.Claims, error) {
	if e.authz == nil || u.Authz.Empty() {
		return store.Claims{}, nil
	}
	c, err := e.authz.Claims(ctx, p.ID, u.Authz)
	if err != nil {
		return store.Claims{}, storeErr(err)
	}
	return c, nil
}
