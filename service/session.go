package service

import (
	"context"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// Session is the session service. GetKeys publishes each project's JWKS;
// refresh, logout and me come with the sessions issue and answer
// Unimplemented (E011501) until then.
type Session struct {
	projects flow.Projects
}

var _ otpv1.SessionServer = (*Session)(nil)

// NewSession returns the session service.
func NewSession(p flow.Projects) *Session { return &Session{projects: p} }

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

// Refresh is not implemented yet.
func (s *Session) Refresh(context.Context, *otpv1.RefreshRequest) (*otpv1.JWTResponse, error) {
	return nil, apierr.ErrUnimplemented
}

// TryRefresh is not implemented yet.
func (s *Session) TryRefresh(context.Context, *otpv1.RefreshRequest) (*otpv1.JWTResponse, error) {
	return nil, apierr.ErrUnimplemented
}

// Logout is not implemented yet.
func (s *Session) Logout(context.Context, *otpv1.LogoutRequest) (*otpv1.LogoutResponse, error) {
	return nil, apierr.ErrUnimplemented
}

// LogoutAll is not implemented yet.
func (s *Session) LogoutAll(context.Context, *otpv1.LogoutRequest) (*otpv1.LogoutResponse, error) {
	return nil, apierr.ErrUnimplemented
}

// Me is not implemented yet.
func (s *Session) Me(context.Context, *otpv1.MeRequest) (*otpv1.UserResponse, error) {
	return nil, apierr.ErrUnimplemented
}
