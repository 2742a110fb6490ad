package service

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otpd/otpd/accesskey"
	"github.com/otpd/otpd/apierr"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/mgmt"
)

// Access keys: their management (service Management) and their exchange
// for a session JWT (service Session). docs/authorization.md.

// stringList reads a JSON array of strings; set is false when the field
// was absent (or null).
func akStringList(field string, l *structpb.ListValue) (vs []string, set bool, err error) {
	if l == nil {
		return nil, false, nil
	}
	vs = make([]string, 0, len(l.GetValues()))
	for _, v := range l.GetValues() {
		s, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, true, apierr.ErrInvalidArgument.With("The %s field must be an array of strings", field)
		}
		vs = append(vs, s.StringValue)
	}
	return vs, true, nil
}

// keyTenants reads keyTenants: [{"tenantId", "roleNames"}]. tenantName
// (what load answers) is accepted and ignored: it is the tenant's own name.
func keyTenants(l *structpb.ListValue) (ts []mgmt.UserTenant, set bool, err error) {
	if l == nil {
		return nil, false, nil
	}
	ts = make([]mgmt.UserTenant, 0, len(l.GetValues()))
	for _, v := range l.GetValues() {
		o := v.GetStructValue()
		if o == nil {
			return nil, true, apierr.ErrInvalidArgument.With("The keyTenants field must be an array of {tenantId, roleNames} objects")
		}
		var t mgmt.UserTenant
		for k, f := range o.GetFields() {
			switch k {
			case "tenantId":
				s, ok := f.GetKind().(*structpb.Value_StringValue)
				if !ok {
					return nil, true, apierr.ErrInvalidArgument.With("keyTenants.tenantId must be a string")
				}
				t.TenantID = s.StringValue
			case "roleNames":
				if _, null := f.GetKind().(*structpb.Value_NullValue); null {
					continue
				}
				if f.GetListValue() == nil {
					return nil, true, apierr.ErrInvalidArgument.With("keyTenants.roleNames must be an array of strings")
				}
				if t.RoleNames, _, err = akStringList("keyTenants.roleNames", f.GetListValue()); err != nil {
					return nil, true, err
				}
			case "tenantName":
			default:
				return nil, true, refuseField("keyTenants."+truncate(k, 64), "an access key's tenant has tenantId and roleNames only")
			}
		}
		ts = append(ts, t)
	}
	return ts, true, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func accessKeyInput(r *otpv1.MgmtAccessKeyRequest) (mgmt.AccessKeyInput, error) {
	switch {
	case r.GetUserId() != "":
		return mgmt.AccessKeyInput{}, refuseField("userId", "otpd has no access keys bound to a user")
	case len(r.GetCustomClaims().GetFields()) > 0:
		return mgmt.AccessKeyInput{}, refuseField("customClaims", "otpd's access-key JWTs carry no custom claims")
	case len(r.GetCustomAttributes().GetFields()) > 0:
		return mgmt.AccessKeyInput{}, refuseField("customAttributes", "otpd's access keys have no custom attributes")
	}
	in := mgmt.AccessKeyInput{ID: r.GetId(), Name: r.GetName(), ExpireTime: r.GetExpireTime()}
	if r.Description != nil {
		in.SetDescription, in.Description = true, r.GetDescription()
	}
	var err error
	if in.RoleNames, in.SetRoles, err = akStringList("roleNames", r.GetRoleNames()); err != nil {
		return in, err
	}
	if in.Tenants, in.SetTenants, err = keyTenants(r.GetKeyTenants()); err != nil {
		return in, err
	}
	if in.PermittedIPs, in.SetPermittedIPs, err = akStringList("permittedIps", r.GetPermittedIps()); err != nil {
		return in, err
	}
	return in, nil
}

func accessKeyOut(v mgmt.AccessKeyView) *otpv1.AccessKey {
	k := v.Key
	out := &otpv1.AccessKey{Id: k.ID, Name: k.Name, RoleNames: v.Roles, KeyTenants: make([]*otpv1.AccessKeyTenant, 0, len(v.Tenants)),
		Status: k.Status, CreatedTime: int32(k.Created.Unix()), CreatedBy: k.CreatedBy, Description: k.Description,
		PermittedIps: k.PermittedIPs}
	if out.PermittedIps == nil {
		out.PermittedIps = []string{}
	}
	if !k.Expires.IsZero() {
		out.ExpireTime = int32(k.Expires.Unix())
	}
	for _, t := range v.Tenants {
		out.KeyTenants = append(out.KeyTenants, &otpv1.AccessKeyTenant{TenantId: t.TenantID, TenantName: t.TenantName, RoleNames: t.Roles})
	}
	return out
}

// CreateAccessKey makes an access key and answers its cleartext, once.
func (s *Management) CreateAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRequest) (*otpv1.MgmtCreatedAccessKeyResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if r.GetId() != "" {
		return nil, refuseField("id", "create makes the key's id")
	}
	in, err := accessKeyInput(r)
	if err != nil {
		return nil, err
	}
	v, clear, err := s.m.CreateAccessKey(ctx, p, in, MgmtKeyFrom(ctx))
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtCreatedAccessKeyResponse{Cleartext: clear, Key: accessKeyOut(v)}, nil
}

// LoadAccessKey loads an access key.
func (s *Management) LoadAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRef) (*otpv1.MgmtAccessKeyResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.m.LoadAccessKey(ctx, p, r.GetId())
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtAccessKeyResponse{Key: accessKeyOut(v)}, nil
}

// SearchAccessKeys lists access keys.
func (s *Management) SearchAccessKeys(ctx context.Context, r *otpv1.MgmtAccessKeySearchRequest) (*otpv1.MgmtAccessKeysResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case r.GetBoundUserId() != "":
		return nil, refuseField("boundUserId", "otpd has no access keys bound to a user")
	case r.GetCreatingUser() != "":
		return nil, refuseField("creatingUser", "otpd's keys are created by management keys, not users")
	case len(r.GetCustomAttributes().GetFields()) > 0:
		return nil, refuseField("customAttributes", "otpd's access keys have no custom attributes")
	case len(r.GetSort()) > 0:
		return nil, refuseField("sort", "keys are listed by id")
	}
	vs, err := s.m.SearchAccessKeys(ctx, p, r.GetTenantIds())
	if err != nil {
		return nil, err
	}
	out := &otpv1.MgmtAccessKeysResponse{Keys: make([]*otpv1.AccessKey, 0, len(vs))}
	for _, v := range vs {
		out.Keys = append(out.Keys, accessKeyOut(v))
	}
	return out, nil
}

// UpdateAccessKey changes an access key.
func (s *Management) UpdateAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRequest) (*otpv1.MgmtAccessKeyResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if r.GetExpireTime() != 0 {
		return nil, refuseField("expireTime", "a key's expiry is set at create")
	}
	in, err := accessKeyInput(r)
	if err != nil {
		return nil, err
	}
	v, err := s.m.UpdateAccessKey(ctx, p, in)
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtAccessKeyResponse{Key: accessKeyOut(v)}, nil
}

func (s *Management) setActive(ctx context.Context, r *otpv1.MgmtAccessKeyRef, active bool) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return empty(s.m.SetAccessKeyActive(ctx, p, r.GetId(), active))
}

// DeactivateAccessKey deactivates an access key.
func (s *Management) DeactivateAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRef) (*otpv1.MgmtEmpty, error) {
	return s.setActive(ctx, r, false)
}

// ActivateAccessKey activates an access key.
func (s *Management) ActivateAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRef) (*otpv1.MgmtEmpty, error) {
	return s.setActive(ctx, r, true)
}

// DeleteAccessKey deletes an access key.
func (s *Management) DeleteAccessKey(ctx context.Context, r *otpv1.MgmtAccessKeyRef) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return empty(s.m.DeleteAccessKey(ctx, p, r.GetId()))
}

// WithAccessKeys lets the service answer ExchangeAccessKey.
func (s *Session) WithAccessKeys(x *accesskey.Exchanger) *Session {
	s.keys = x
	return s
}

// ExchangeAccessKey exchanges the access key of the Authorization value
// for a session JWT.
func (s *Session) ExchangeAccessKey(ctx context.Context, r *otpv1.ExchangeAccessKeyRequest) (*otpv1.ExchangeAccessKeyResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok || s.keys == nil {
		return nil, apierr.ErrUnauthorized
	}
	if len(r.GetLoginOptions().GetCustomClaims().GetFields()) > 0 {
		return nil, refuseField("loginOptions.customClaims", "otpd's access-key JWTs carry no custom claims")
	}
	res, err := s.keys.Exchange(ctx, p, accesskey.Request{Cleartext: accessKeyFrom(ctx), Addr: ClientAddrFrom(ctx),
		IPKey: ClientIPFrom(ctx), SelectedTenant: r.GetLoginOptions().GetSelectedTenant()})
	if err != nil {
		return nil, err
	}
	return &otpv1.ExchangeAccessKeyResponse{KeyId: res.KeyID, SessionJwt: res.SessionJWT, Expiration: int32(res.Expiry.Unix())}, nil
}
