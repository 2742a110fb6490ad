package flow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// Caller is a signed-in user, proven by a live refresh JWT.
type Caller struct {
	UserID string
	AMR    []string
	Nsec   map[string]any
	Claims *token.Claims
	User   store.User
	// SignedInAt is when the sign-in that started the session happened
	// (the refresh JWT's auth_time; see signedInAt).
	SignedInAt time.Time
}

// Authenticate checks a refresh JWT: signature by a published key of the
// project, drn DSR, iss = project, not expired, and still live in Redis
// (not logged out or rotated away).
func (e *Engine) Authenticate(ctx context.Context, p *Project, refreshJWT string) (*Caller, error) {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return nil, err
	}
	res, err := e.session(ctx, p, c, store.SessionRequest{Op: store.OpCheck, Grace: p.RefreshGrace})
	if err != nil {
		return nil, err
	}
	return &Caller{UserID: c.Subject, AMR: c.AMR, Nsec: c.Nsec, Claims: c, User: res.User, SignedInAt: signedInAt(c)}, nil
}

func (e *Engine) verifyRefresh(p *Project, refreshJWT string) (*token.Claims, error) {
	if refreshJWT == "" {
		return nil, apierr.ErrRefreshInvalid.With("Send the refresh JWT: 'Bearer <ProjectID>:<RefreshJWT>' or the DSR cookie")
	}
	c, err := p.Issuer.VerifyRefresh(refreshJWT)
	switch {
	case errors.Is(err, token.ErrTokenExpired):
		return nil, apierr.ErrRefreshInvalid.With("The refresh token expired; sign in again")
	case err != nil:
		return nil, apierr.ErrRefreshInvalid
	case c.ID == "":
		return nil, apierr.ErrRefreshInvalid
	}
	return c, nil
}

// session runs one refresh-token operation and maps its outcome.
func (e *Engine) session(ctx context.Context, p *Project, c *token.Claims, r store.SessionRequest) (store.SessionResult, error) {
	id, ok := store.ParseRefreshID(c.ID)
	if !ok {
		return store.SessionResult{}, apierr.ErrRefreshInvalid
	}
	r.Project, r.UserID, r.Token, r.Now = p.ID, c.Subject, id, e.clock.Now()
	res, err := e.sessions.Session(ctx, r)
	if err != nil {
		return store.SessionResult{}, storeErr(err)
	}
	e.refused(ctx, p, res.WouldLimit, true)
	switch res.Status {
	case store.SessionOK:
		if res.User.Status == store.StatusDisabled {
			// Disabling revokes every token; this catches one minted
			// by a verify that raced the change.
			return store.SessionResult{}, apierr.ErrUserDisabled
		}
		return res, nil
	case store.SessionLimited:
		e.refused(ctx, p, res.Limit, false)
		return store.SessionResult{}, rateLimited(res.Limit, res.RetryAfter)
	case store.SessionRevoked, store.SessionNoUser:
		return store.SessionResult{}, apierr.ErrRefreshRevoked
	case store.SessionReused:
		e.log.WarnContext(ctx, "refresh token reuse: token family revoked", "project", p.ID, "user", c.Subject)
		return store.SessionResult{}, apierr.ErrRefreshRevoked.With("The refresh token was already used; its sessions were revoked. Sign in again")
	default:
		return store.SessionResult{}, fmt.Errorf("store: unknown session status %q", res.Status)
	}
}

// RefreshOutput is a refreshed session; Tokens.Refresh is empty unless the
// project rotates refresh tokens, in which case it is the new one.
type RefreshOutput struct {
	Tokens token.Pair
	User   store.User
}

// Refresh issues a new session JWT for a live refresh JWT, carrying its
// factors and custom claims. With rotation, it also issues a refresh JWT
// of the family's next generation (same end) and spends the old one; the
// previous generation presented again within the project's grace period
// gets another token of the current generation instead (two tabs
// refreshing at once, a retry whose answer was lost). ip is the client's
// address for the per-IP limit ("" when unknown).
func (e *Engine) Refresh(ctx context.Context, p *Project, refreshJWT, ip string) (RefreshOutput, error) {
	return e.refresh(ctx, p, refreshJWT, ip, nil)
}

// SelectTenant is a refresh that makes tenant the session's current one
// (the dct claim), in a new session JWT and a refresh JWT that carries it
// on (with rotation, the family's next generation; without, the same
// token id and end). A tenant the user is not a member of is refused
// before anything is spent.
func (e *Engine) SelectTenant(ctx context.Context, p *Project, refreshJWT, tenant, ip string) (RefreshOutput, error) {
	if tenant == "" {
		return RefreshOutput{}, apierr.ErrMissingArgument.With("The tenant field is required")
	}
	caller, err := e.Authenticate(ctx, p, refreshJWT)
	if err != nil {
		return RefreshOutput{}, err
	}
	az, err := e.authzClaims(ctx, p, caller.User, tenant)
	if err != nil {
		return RefreshOutput{}, err
	}
	if az == nil || az.DCT != tenant {
		return RefreshOutput{}, apierr.ErrTenantNotFound
	}
	return e.refresh(ctx, p, refreshJWT, ip, &tenant)
}

func (e *Engine) refresh(ctx context.Context, p *Project, refreshJWT, ip string, selectTenant *string) (RefreshOutput, error) {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return RefreshOutput{}, err
	}
	res, err := e.session(ctx, p, c, store.SessionRequest{Op: store.OpRefresh, Rotate: p.RotateRefresh,
		Grace: p.RefreshGrace, Limits: refreshLimits(p, c.Subject, ip)})
	if err != nil {
		return RefreshOutput{}, err
	}
	dct := dctOf(c)
	if selectTenant != nil {
		dct = *selectTenant
	}
	az, err := e.authzClaims(ctx, p, res.User, dct)
	if err != nil {
		return RefreshOutput{}, err
	}
	subj := token.Subject{UserID: c.Subject, AMR: c.AMR, Nsec: c.Nsec, Authz: az}
	if !p.RotateRefresh && selectTenant != nil {
		// The same tracked token (id, end, sign-in time), now carrying dct.
		subj.RefreshID, subj.RefreshUntil, subj.AuthTime = c.ID, c.Expiry, signedInAt(c)
		pair, err := p.Issuer.Mint(subj)
		if err != nil {
			return RefreshOutput{}, err
		}
		return RefreshOutput{Tokens: pair, User: res.User}, nil
	}
	if !p.RotateRefresh {
		sess, exp, err := p.Issuer.MintSession(subj)
		if err != nil {
			return RefreshOutput{}, err
		}
		return RefreshOutput{Tokens: token.Pair{Session: sess, SessionExpiry: exp, Refresh: refreshJWT, RefreshExpiry: c.Expiry, RefreshID: c.ID}, User: res.User}, nil
	}
	// The family's state has moved on; if minting fails now, the caller's
	// retry within the grace period is answered.
	var nonce [6]byte
	if _, err := io.ReadFull(e.random, nonce[:]); err != nil {
		return RefreshOutput{}, fmt.Errorf("refresh token nonce: %w", err)
	}
	id, _ := store.ParseRefreshID(c.ID)
	id.Generation = res.Generation
	subj.RefreshUntil, subj.RefreshID = c.Expiry, id.JTI(base64.RawURLEncoding.EncodeToString(nonce[:]))
	// The session's sign-in time, never the rotation's.
	subj.AuthTime = signedInAt(c)
	pair, err := p.Issuer.Mint(subj)
	if err != nil {
		return RefreshOutput{}, err
	}
	return RefreshOutput{Tokens: pair, User: res.User}, nil
}

// Logout revokes the presented refresh JWT, or with all every refresh JWT
// of its user. Session JWTs already issued live until they expire (they
// are validated locally); keep their lifetime short.
func (e *Engine) Logout(ctx context.Context, p *Project, refreshJWT string, all bool) error {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return err
	}
	op := store.OpLogout
	if all {
		op = store.OpLogoutAll
	}
	_, err = e.session(ctx, p, c, store.SessionRequest{Op: op, Grace: p.RefreshGrace})
	return err
}

// Me returns the user of a live refresh JWT.
func (e *Engine) Me(ctx context.Context, p *Project, refreshJWT string) (store.User, error) {
	c, err := e.Authenticate(ctx, p, refreshJWT)
	if err != nil {
		return store.User{}, err
	}
	return c.User, nil
}

// Tenant is one tenant of the signed-in user (me/tenants).
type Tenant struct {
	ID, Name         string
	CustomAttributes map[string]any
}

// MyTenants lists the signed-in user's tenants, in the user's order:
// with dct only the session's current tenant; with ids only those.
func (e *Engine) MyTenants(ctx context.Context, p *Project, refreshJWT string, dct bool, ids []string) ([]Tenant, error) {
	caller, err := e.Authenticate(ctx, p, refreshJWT)
	if err != nil {
		return nil, err
	}
	if e.authz == nil || caller.User.Authz.Empty() {
		return []Tenant{}, nil
	}
	c, err := e.authz.Claims(ctx, p.ID, caller.User.Authz)
	if err != nil {
		return nil, storeErr(err)
	}
	cur := dctOf(caller.Claims)
	out := []Tenant{}
	for _, m := range caller.User.Authz.Tenants {
		t, ok := c.Tenants[m.TenantID]
		switch {
		case !ok:
		case dct && m.TenantID != cur:
		case len(ids) > 0 && !slices.Contains(ids, m.TenantID):
		default:
			out = append(out, Tenant{ID: m.TenantID, Name: t.Name, CustomAttributes: t.CustomAttributes})
		}
	}
	return out, nil
}
