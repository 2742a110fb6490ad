package service

import (
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// jwtResponse builds Descope's JWT response from a verify.
func jwtResponse(p *flow.Project, out flow.VerifyOutput) *otpv1.JWTResponse {
	t := out.Tokens
	refresh := t.Refresh
	return &otpv1.JWTResponse{
		SessionJwt:        t.Session,
		RefreshJwt:        &refresh,
		CookieDomain:      p.CookieDomain,
		CookiePath:        p.CookiePath,
		CookieMaxAge:      int32(p.RefreshTTL / time.Second),
		CookieExpiration:  int32(t.RefreshExpiry.Unix()),
		User:              userResponse(out.User),
		FirstSeen:         out.FirstSeen,
		SessionExpiration: int32(t.SessionExpiry.Unix()),
	}
}

func userResponse(u store.User) *otpv1.UserResponse {
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
		RoleNames:     []string{},
		// Always an object, never null: the SDKs index into it.
		CustomAttributes: &structpb.Struct{},
		UserTenants:      []*otpv1.UserTenant{},
	}
}
