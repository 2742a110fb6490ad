package service

import (
	"context"
	"errors"
	"github.com/otpd/otpd/accesskey"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/inproc"
	"github.com/otpd/otpd/store"
)

// Session is the session service: refresh, logout, me, and each project's
// JWKS. Everything but GetKeys needs "Bearer <ProjectID>:<RefreshJWT>" (or
// the DSR cookie on REST).
type Session struct {
	projects flow.Projects
	engine   Engine
	history  HistoryReader
	now      func() time.Time
	keys     *accesskey.Exchanger
}

var _ otpv1.SessionServer = (*Session)(nil)

// NewSession returns the session service.
func NewSession(p flow.Projects, e Engine) *Session { return &Session{projects: p, engine: e} }

// GetKeys returns the project's public keys: every key that may still have
// live tokens. It needs no authentication.
func (s *Session) GetKeys(_ context.Context, req *otpv1.GetKeysRequest) (*otpv1.GetKeysResponse, error) {
	p, ok := s.projects.Project(req.GetProjectId())
	if !ok {
		return nil, apierr.ErrNotFound.With("Unknown project")
	}
	jwks := p.Keys.JWKS()
	out := &otpv1.GetKeysResponse{Keys: make([]*otpv1.Jwk, 0, len(jwks))}
	for _, k := range jwks {
		j := &otpv1.Jwk{Kty: k.Kty, Kid: k.Kid, Alg: k.Alg, Use: k.Use}
		j.Crv, j.X, j.Y, j.N, j.E = opt(k.Crv), opt(k.X), opt(k.Y), opt(k.N), opt(k.E)
		out.Keys = append(out.Keys, j)
	}
	return out, nil
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Refresh returns a new session JWT (and, when the project rotates refresh
// tokens, a new refresh JWT).
func (s *Session) Refresh(ctx context.Context, r *otpv1.RefreshRequest) (*otpv1.JWTResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	if r.GetExternalToken() != "" {
		return nil, refuseField("externalToken", "otpd exchanges no external tokens")
	}
	out, err := s.engine.Refresh(ctx, p, RefreshJWTFrom(ctx), ClientIPFrom(ctx))
	if err != nil {
		return nil, err
	}
	return jwtResponse(ctx, p, out.Tokens, out.User, false), nil
}

// TryRefresh is Refresh for web clients probing for a session: with no
// refresh token, or a dead one, it answers 200 with empty tokens instead of
// an error.
func (s *Session) TryRefresh(ctx context.Context, r *otpv1.RefreshRequest) (*otpv1.JWTResponse, error) {
	resp, err := s.Refresh(ctx, r)
	if err != nil {
		if e := apierr.As(err); e.Code == apierr.ErrRefreshInvalid.Code || e.Code == apierr.ErrRefreshRevoked.Code {
			return &otpv1.JWTResponse{}, nil
		}
		return nil, err
	}
	return resp, nil
}

// Logout revokes the presented refresh JWT.
func (s *Session) Logout(ctx context.Context, _ *otpv1.LogoutRequest) (*otpv1.LogoutResponse, error) {
	return s.logout(ctx, false)
}

// LogoutAll revokes every refresh JWT of the user.
func (s *Session) LogoutAll(ctx context.Context, _ *otpv1.LogoutRequest) (*otpv1.LogoutResponse, error) {
	return s.logout(ctx, true)
}

func (s *Session) logout(ctx context.Context, all bool) (*otpv1.LogoutResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	if err := s.engine.Logout(ctx, p, RefreshJWTFrom(ctx), all); err != nil {
		return nil, err
	}
	if inproc.IsInProcess(ctx) && (p.SessionCookie || p.RefreshCookie) {
		setCookies(ctx, cookie(p, SessionCookie, "", -1), cookie(p, RefreshCookie, "", -1))
	}
	return &otpv1.LogoutResponse{}, nil
}

// Me returns the signed-in user.
func (s *Session) Me(ctx context.Context, _ *otpv1.MeRequest) (*otpv1.UserResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	u, err := s.engine.Me(ctx, p, RefreshJWTFrom(ctx))
	if err != nil {
		return nil, err
	}
	c, err := s.engine.UserClaims(ctx, p, u)
	if err != nil {
		return nil, err
	}
	return userResponseWith(u, c), nil
}

// HistoryReader reads a user's login history (the store).
type HistoryReader interface {
	History(ctx context.Context, project, userID string, now time.Time) ([]store.LoginRecord, error)
}

// WithHistory lets the service answer History from r, with now as the
// clock.
func (s *Session) WithHistory(r HistoryReader, now func() time.Time) *Session {
	s.history, s.now = r, now
	return s
}

// History returns the signed-in user's recent logins, newest first: at
// most store.HistoryMaxEntries, none older than store.HistoryMaxAge. City
// and country are empty (no GeoIP database).
func (s *Session) History(ctx context.Context, _ *otpv1.MeRequest) (*otpv1.LoginHistoryResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	c, err := s.engine.Authenticate(ctx, p, RefreshJWTFrom(ctx))
	if err != nil {
		return nil, err
	}
	out := &otpv1.LoginHistoryResponse{History: []*otpv1.LoginHistoryEntry{}}
	if s.history == nil {
		return out, nil
	}
	rs, err := s.history.History(ctx, p.ID, c.UserID, s.now())
	if err != nil {
		return nil, errors.Join(apierr.ErrUnavailable, err)
	}
	for _, r := range rs {
		out.History = append(out.History, historyEntry(c.UserID, r))
	}
	return out, nil
}

// MyTenants lists the signed-in user's tenants ({"dct": true}: only the
// session's current one; "ids": only those).
func (s *Session) MyTenants(ctx context.Context, r *otpv1.MyTenantsRequest) (*otpv1.MyTenantsResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	if len(r.GetIds()) > maxTenantIDs {
		return nil, apierr.ErrValidation.With("The ids field has more than %d entries", maxTenantIDs)
	}
	ts, err := s.engine.MyTenants(ctx, p, RefreshJWTFrom(ctx), r.GetDct(), r.GetIds())
	if err != nil {
		return nil, err
	}
	out := &otpv1.MyTenantsResponse{Tenants: make([]*otpv1.Tenant, 0, len(ts))}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, &otpv1.Tenant{Id: t.ID, Name: t.Name, CustomAttributes: attributes(t.CustomAttributes)})
	}
	return out, nil
}

// maxTenantIDs bounds me/tenants' ids filter.
const maxTenantIDs = 100

// SelectTenant makes a tenant the session's current one (dct); a tenant
// the user is not a member of is refused (E011002, 400), nothing spent.
func (s *Session) SelectTenant(ctx context.Context, r *otpv1.SelectTenantRequest) (*otpv1.JWTResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	out, err := s.engine.SelectTenant(ctx, p, RefreshJWTFrom(ctx), r.GetTenant(), ClientIPFrom(ctx))
	if err != nil {
		return nil, err
	}
	return jwtResponse(ctx, p, out.Tokens, out.User, false), nil
}
