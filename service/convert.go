package service

import (
	"context"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/inproc"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// Cookie names the SDKs read.
const (
	SessionCookie = "DS"
	RefreshCookie = "DSR"
)

// jwtResponse builds Descope's JWT response. In cookie mode, over REST, it
// also sets the DS/DSR cookies, and omits refreshJwt from the body when the
// refresh token travels as a cookie.
func jwtResponse(ctx context.Context, p *flow.Project, t token.Pair, u store.User, firstSeen bool) *otpv1.JWTResponse {
	resp := &otpv1.JWTResponse{
		SessionJwt:        t.Session,
		CookieDomain:      p.CookieDomain,
		CookiePath:        p.CookiePath,
		User:              userResponse(u),
		FirstSeen:         firstSeen,
		SessionExpiration: int32(t.SessionExpiry.Unix()),
	}
	if !t.RefreshExpiry.IsZero() {
		// The session was minted SessionTTL before it expires: that is now.
		issued := t.SessionExpiry.Add(-p.SessionTTL)
		resp.CookieMaxAge = int32(t.RefreshExpiry.Sub(issued) / time.Second)
		if resp.CookieMaxAge <= 0 || resp.CookieMaxAge > int32(p.RefreshTTL/time.Second) {
			resp.CookieMaxAge = int32(p.RefreshTTL / time.Second)
		}
		resp.CookieExpiration = int32(t.RefreshExpiry.Unix())
	}
	rest := inproc.IsInProcess(ctx)
	if t.Refresh != "" && !(rest && p.RefreshCookie) {
		refresh := t.Refresh
		resp.RefreshJwt = &refresh
	}
	if rest {
		var cookies []string
		if p.SessionCookie && t.Session != "" {
			cookies = append(cookies, cookie(p, SessionCookie, t.Session, int(p.SessionTTL/time.Second)))
		}
		if p.RefreshCookie && t.Refresh != "" {
			cookies = append(cookies, cookie(p, RefreshCookie, t.Refresh, int(resp.CookieMaxAge)))
		}
		setCookies(ctx, cookies...)
	}
	return resp
}

// cookie renders one Set-Cookie value: HttpOnly, Secure, SameSite=Strict,
// with the project's Domain and Path. maxAge < 0 deletes the cookie.
func cookie(p *flow.Project, name, value string, maxAge int) string {
	c := &http.Cookie{
		Name: name, Value: value, Domain: p.CookieDomain, Path: p.CookiePath,
		MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	}
	return c.String()
}

func setCookies(ctx context.Context, cookies ...string) {
	if len(cookies) == 0 {
		return
	}
	md := metadata.MD{}
	for _, c := range cookies {
		md.Append("set-cookie", c)
	}
	_ = grpc.SetHeader(ctx, md)
}

func userResponse(u store.User) *otpv1.UserResponse { return userResponseWith(u, store.Claims{}) }

// userResponseWith is userResponse with the user's roles and tenants, as
// resolved by name against the current model.
func userResponseWith(u store.User, c store.Claims) *otpv1.UserResponse {
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	tenants := make([]*otpv1.UserTenant, 0, len(c.Tenants))
	for _, m := range u.Authz.Tenants { // the user's order
		t, ok := c.Tenants[m.TenantID]
		if !ok {
			continue
		}
		tenants = append(tenants, &otpv1.UserTenant{TenantId: m.TenantID, TenantName: t.Name, RoleNames: t.Roles, Permissions: t.Permissions})
	}
	loginIDs := u.LoginIDs
	if loginIDs == nil {
		loginIDs = []string{}
	}
	return &otpv1.UserResponse{
		UserId:        u.UserID,
		LoginIds:      loginIDs,
		Name:          u.Name,
		GivenName:     u.GivenName,
		MiddleName:    u.MiddleName,
		FamilyName:    u.FamilyName,
		Email:         u.Email,
		Phone:         u.Phone,
		VerifiedEmail: u.VerifiedEmail,
		VerifiedPhone: u.VerifiedPhone,
		Status:        u.Status,
		CreatedTime:   int32(u.CreatedTime.Unix()),
		ModifiedTime:  int32(u.Modified().Unix()),
		RoleNames:     roles,
		// Always an object, never null: the SDKs index into it.
		CustomAttributes: attributes(u.CustomAttributes),
		UserTenants:      tenants,
		Test:             u.Test,
		Picture:          u.Picture,
	}
}

// attributes converts stored custom attributes (JSON values) to a Struct;
// always an object.
func attributes(m map[string]any) *structpb.Struct {
	if len(m) == 0 {
		return &structpb.Struct{}
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return &structpb.Struct{}
	}
	return st
}
