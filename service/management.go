package service

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/store"
)

// Management is the management service: thin request/response mapping
// over package mgmt. The management key was checked by the interceptor
// chain (middleware.ManagementAuth).
type Management struct {
	otpv1.UnimplementedManagementServer
	m *mgmt.Service
}

var _ otpv1.ManagementServer = (*Management)(nil)

// NewManagement returns the management service.
func NewManagement(m *mgmt.Service) *Management { return &Management{m: m} }

func project(ctx context.Context) (*flow.Project, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrMgmtUnauthorized
	}
	return p, nil
}

// unsupported refuses what otpd does not have: invitations.
func unsupported(invite bool) error {
	if invite {
		return apierr.ErrValidation.With("otpd sends no invitations: invite must be false")
	}
	return nil
}

func userInput(r *otpv1.MgmtUserRequest, test bool) mgmt.UserInput {
	return mgmt.UserInput{
		LoginID: r.GetLoginId(), AdditionalLoginIDs: r.GetAdditionalLoginIds(),
		Email: r.GetEmail(), Phone: r.GetPhone(), VerifiedEmail: r.GetVerifiedEmail(), VerifiedPhone: r.GetVerifiedPhone(),
		Name: r.GetDisplayName(), GivenName: r.GetGivenName(), MiddleName: r.GetMiddleName(), FamilyName: r.GetFamilyName(),
		Picture: r.GetPicture(), CustomAttributes: r.GetCustomAttributes().AsMap(), Test: test || r.GetTest(), Status: r.GetStatus(),
		// Create and update both set the roles and tenants (update
		// replaces them, as Descope's does).
		Assignments: assignments(r.GetRoleNames(), r.GetUserTenants(), true),
	}
}

func (s *Management) create(ctx context.Context, r *otpv1.MgmtUserRequest, test bool) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := unsupported(r.GetInvite()); err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.Create(ctx, p, userInput(r, test)))
}

// CreateUser creates a user.
func (s *Management) CreateUser(ctx context.Context, r *otpv1.MgmtUserRequest) (*otpv1.MgmtUserResponse, error) {
	return s.create(ctx, r, false)
}

// CreateTestUser creates a test user.
func (s *Management) CreateTestUser(ctx context.Context, r *otpv1.MgmtUserRequest) (*otpv1.MgmtUserResponse, error) {
	return s.create(ctx, r, true)
}

// UpdateUser replaces a user's fields.
func (s *Management) UpdateUser(ctx context.Context, r *otpv1.MgmtUserRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := unsupported(r.GetInvite()); err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.Update(ctx, p, userInput(r, false)))
}

// PatchUser changes the fields it carries.
func (s *Management) PatchUser(ctx context.Context, r *otpv1.MgmtPatchRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	pt, err := patchOf(r)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.PatchUser(ctx, p, r.GetLoginId(), pt))
}

// LoadUser loads a user by login id or user id.
func (s *Management) LoadUser(ctx context.Context, r *otpv1.MgmtUserRef) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.Load(ctx, p, mgmt.Ref{LoginID: r.GetLoginId(), UserID: r.GetUserId()}))
}

// usersOut lists users with their roles and tenants resolved by name
// (one model read for the whole list).
func (s *Management) usersOut(ctx context.Context, p *flow.Project) func([]store.User, int, error) (*otpv1.MgmtUsersResponse, error) {
	return func(us []store.User, total int, err error) (*otpv1.MgmtUsersResponse, error) {
		if err != nil {
			return nil, err
		}
		out := &otpv1.MgmtUsersResponse{Users: make([]*otpv1.UserResponse, 0, len(us)), Total: int32(total)}
		cs, err := s.m.ResolvedAll(ctx, p, us)
		if err != nil {
			return nil, err
		}
		for i, u := range us {
			out.Users = append(out.Users, userResponseWith(u, cs[i]))
		}
		return out, nil
	}
}

// LoadUsers loads users by id.
func (s *Management) LoadUsers(ctx context.Context, r *otpv1.MgmtLoadUsersRequest) (*otpv1.MgmtUsersResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	us, err := s.m.LoadMany(ctx, p, r.GetUserIds())
	return s.usersOut(ctx, p)(us, len(us), err)
}

// SearchUsers pages through matching users.
func (s *Management) SearchUsers(ctx context.Context, r *otpv1.MgmtSearchRequest) (*otpv1.MgmtUsersResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	q, err := searchQuery(r)
	if err != nil {
		return nil, err
	}
	return s.usersOut(ctx, p)(s.m.Search(ctx, p, q))
}

// DeleteUser erases a user.
func (s *Management) DeleteUser(ctx context.Context, r *otpv1.MgmtUserRef) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtEmpty{}, s.m.Delete(ctx, p, mgmt.Ref{LoginID: r.GetLoginId(), UserID: r.GetUserId()})
}

// DeleteAllTestUsers erases the project's test users.
func (s *Management) DeleteAllTestUsers(ctx context.Context, _ *otpv1.MgmtEmpty) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	_, err = s.m.DeleteAllTestUsers(ctx, p)
	return &otpv1.MgmtEmpty{}, err
}

// UpdateStatus enables or disables a user.
func (s *Management) UpdateStatus(ctx context.Context, r *otpv1.MgmtStatusRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.SetStatus(ctx, p, mgmt.Ref{LoginID: r.GetLoginId(), UserID: r.GetUserId()}, r.GetStatus()))
}

// UpdateLoginId replaces (or removes) a login id.
func (s *Management) UpdateLoginId(ctx context.Context, r *otpv1.MgmtLoginIdRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.UpdateLoginID(ctx, p, r.GetLoginId(), r.GetNewLoginId()))
}

// UpdateEmail sets a user's email.
func (s *Management) UpdateEmail(ctx context.Context, r *otpv1.MgmtEmailRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.SetEmail(ctx, p, r.GetLoginId(), r.GetEmail(), r.GetVerified(), r.GetFailOnConflict()))
}

// UpdatePhone sets a user's phone.
func (s *Management) UpdatePhone(ctx context.Context, r *otpv1.MgmtPhoneRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.SetPhone(ctx, p, r.GetLoginId(), r.GetPhone(), r.GetVerified(), r.GetFailOnConflict()))
}

// UpdateName sets a user's names.
func (s *Management) UpdateName(ctx context.Context, r *otpv1.MgmtNameRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return s.out(ctx, p)(s.m.PatchUser(ctx, p, r.GetLoginId(), mgmt.Patch{
		Name: r.DisplayName, GivenName: r.GivenName, MiddleName: r.MiddleName, FamilyName: r.FamilyName,
	}))
}

// UpdateCustomAttribute sets one custom attribute.
func (s *Management) UpdateCustomAttribute(ctx context.Context, r *otpv1.MgmtCustomAttributeRequest) (*otpv1.MgmtUserResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	var v any
	if av := r.GetAttributeValue(); av != nil {
		if _, null := av.GetKind().(*structpb.Value_NullValue); !null {
			v = av.AsInterface()
		}
	}
	return s.out(ctx, p)(s.m.SetAttribute(ctx, p, r.GetLoginId(), r.GetAttributeKey(), v))
}

// LogoutUser revokes every session of a user.
func (s *Management) LogoutUser(ctx context.Context, r *otpv1.MgmtUserRef) (*otpv1.MgmtEmpty, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtEmpty{}, s.m.Logout(ctx, p, mgmt.Ref{LoginID: r.GetLoginId(), UserID: r.GetUserId()})
}

// UsersHistory returns the login history of users.
func (s *Management) UsersHistory(ctx context.Context, r *otpv1.MgmtHistoryRequest) (*otpv1.LoginHistoryResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	hs, err := s.m.History(ctx, p, r.GetUserIds())
	if err != nil {
		return nil, err
	}
	out := &otpv1.LoginHistoryResponse{History: make([]*otpv1.LoginHistoryEntry, 0, len(hs))}
	for _, h := range hs {
		out.History = append(out.History, historyEntry(h.UserID, h.LoginRecord))
	}
	return out, nil
}

func historyEntry(uid string, r store.LoginRecord) *otpv1.LoginHistoryEntry {
	return &otpv1.LoginHistoryEntry{UserId: uid, LoginTime: int32(r.Time.Unix()), Ip: r.IP, UserAgent: r.UserAgent, Channel: r.Channel}
}

// GenerateOtpForTestUser returns a live code for a test user.
func (s *Management) GenerateOtpForTestUser(ctx context.Context, r *otpv1.MgmtGenerateOtpRequest) (*otpv1.MgmtGenerateOtpResponse, error) {
	p, err := project(ctx)
	if err != nil {
		return nil, err
	}
	o, err := testCodeOptions(r.GetLoginOptions())
	if err != nil {
		return nil, err
	}
	id, code, err := s.m.TestOTP(ctx, p, r.GetDeliveryMethod(), r.GetLoginId(), o)
	if err != nil {
		return nil, err
	}
	return &otpv1.MgmtGenerateOtpResponse{LoginId: id, Code: code}, nil
}
