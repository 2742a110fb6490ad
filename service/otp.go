package service

import (
	"context"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// Engine is what the services need from the flow engine.
type Engine interface {
	Start(ctx context.Context, in flow.StartInput) (flow.StartOutput, error)
	Verify(ctx context.Context, in flow.VerifyInput) (flow.VerifyOutput, error)
	UpdateStart(ctx context.Context, in flow.UpdateInput) (flow.StartOutput, error)
	Authenticate(ctx context.Context, p *flow.Project, refreshJWT string) (*flow.Caller, error)
	Refresh(ctx context.Context, p *flow.Project, refreshJWT, clientIP string) (flow.RefreshOutput, error)
	Logout(ctx context.Context, p *flow.Project, refreshJWT string, all bool) error
	Me(ctx context.Context, p *flow.Project, refreshJWT string) (store.User, error)
	SelectTenant(ctx context.Context, p *flow.Project, refreshJWT, tenant, clientIP string) (flow.RefreshOutput, error)
	MyTenants(ctx context.Context, p *flow.Project, refreshJWT string, dct bool, ids []string) ([]flow.Tenant, error)
	UserClaims(ctx context.Context, p *flow.Project, u store.User) (store.Claims, error)
}

// channel implements SignUp, SignIn, SignUpOrIn and Verify for one channel.
type channel struct {
	ch     flow.Channel
	engine Engine
}

func (c channel) start(ctx context.Context, op flow.Op, req *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	if err := checkStart(req); err != nil {
		return nil, err
	}
	in := flow.StartInput{
		Project:    p,
		Channel:    c.ch,
		Op:         op,
		LoginID:    req.GetLoginId(),
		Address:    c.explicitAddress(req),
		ProviderID: req.GetProviderId(),
		ClientIP:   ClientIPFrom(ctx),
	}
	if u := req.GetUser(); u != nil && op != flow.SignIn {
		in.Profile = store.Profile{Name: u.GetName(), GivenName: u.GetGivenName(),
			MiddleName: u.GetMiddleName(), FamilyName: u.GetFamilyName()}
		in.OtherAddress = u.GetPhone()
		if c.ch != flow.Email {
			in.OtherAddress = u.GetEmail()
		}
	}
	if o := req.GetLoginOptions(); o != nil {
		in.Locale, in.TemplateID, in.TemplateOptions = o.GetLocale(), o.GetTemplateId(), o.GetTemplateOptions()
		in.StepUp, in.MFA, in.RevokeOthers = o.GetStepup(), o.GetMfa(), o.GetRevokeOtherSessions()
		in.CustomClaims = o.GetCustomClaims().AsMap()
		in.TenantID = o.GetTenantId()
		if in.StepUp || in.MFA {
			caller, err := c.engine.Authenticate(ctx, p, RefreshJWTFrom(ctx))
			if err != nil {
				return nil, err
			}
			in.Caller = caller
		}
	}
	out, err := c.engine.Start(ctx, in)
	if err != nil {
		return nil, err
	}
	return c.masked(out), nil
}

func (c channel) masked(out flow.StartOutput) *otpv1.StartResponse {
	if c.ch == flow.Email {
		return &otpv1.StartResponse{MaskedEmail: &out.Masked}
	}
	return &otpv1.StartResponse{MaskedPhone: &out.Masked}
}

// updateStart is UpdateEmail and UpdatePhone.
func (c channel) updateStart(ctx context.Context, in flow.UpdateInput) (*otpv1.StartResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	caller, err := c.engine.Authenticate(ctx, p, RefreshJWTFrom(ctx))
	if err != nil {
		return nil, err
	}
	in.Project, in.Channel, in.Caller, in.ClientIP = p, c.ch, caller, ClientIPFrom(ctx)
	out, err := c.engine.UpdateStart(ctx, in)
	if err != nil {
		return nil, err
	}
	return c.masked(out), nil
}

// explicitAddress picks the address the body names for the channel: the
// channel's top-level field, then user.email / user.phone. Sign-in bodies
// carry none; an address only ever applies to a new user.
func (c channel) explicitAddress(req *otpv1.StartRequest) string {
	var top, fromUser string
	switch c.ch {
	case flow.Email:
		top, fromUser = req.GetEmail(), req.GetUser().GetEmail()
	case flow.SMS:
		top, fromUser = req.GetPhone(), req.GetUser().GetPhone()
	case flow.Voice:
		top, fromUser = firstNonEmpty(req.GetVoice(), req.GetPhone()), req.GetUser().GetPhone()
	case flow.WhatsApp:
		top, fromUser = firstNonEmpty(req.GetWhatsapp(), req.GetPhone()), req.GetUser().GetPhone()
	}
	return firstNonEmpty(top, fromUser)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (c channel) SignUp(ctx context.Context, req *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	return c.start(ctx, flow.SignUp, req)
}

func (c channel) SignIn(ctx context.Context, req *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	return c.start(ctx, flow.SignIn, req)
}

func (c channel) SignUpOrIn(ctx context.Context, req *otpv1.StartRequest) (*otpv1.StartResponse, error) {
	return c.start(ctx, flow.SignUpOrIn, req)
}

func (c channel) Verify(ctx context.Context, req *otpv1.VerifyRequest) (*otpv1.JWTResponse, error) {
	p, ok := ProjectFrom(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	out, err := c.engine.Verify(ctx, flow.VerifyInput{Project: p, Channel: c.ch, LoginID: req.GetLoginId(), Code: req.GetCode(),
		ClientIP: ClientIPFrom(ctx), UserAgent: userAgent(ctx)})
	if err != nil {
		return nil, err
	}
	return jwtResponse(ctx, p, out.Tokens, out.User, out.FirstSeen), nil
}

// Email is the OtpEmail service.
type Email struct{ channel }

// UpdateEmail sends a code to a signed-in user's new email address.
func (e Email) UpdateEmail(ctx context.Context, r *otpv1.UpdateEmailRequest) (*otpv1.StartResponse, error) {
	if err := checkUpdateOptions(r.GetFailOnConflict(), r.GetOnMergeUseExisting(), r.GetLocale()); err != nil {
		return nil, err
	}
	return e.updateStart(ctx, flow.UpdateInput{
		LoginID: r.GetLoginId(), Address: r.GetEmail(), AddLoginID: r.GetAddToLoginIds(),
		MergeExisting: r.GetOnMergeUseExisting(), MFA: r.GetMfa(),
		Locale: r.GetLocale(), TemplateID: r.GetTemplateId(), ProviderID: r.GetProviderId(), TemplateOptions: r.GetTemplateOptions(),
	})
}

// Phone is the OtpSms, OtpVoice and OtpWhatsapp service.
type Phone struct{ channel }

// UpdatePhone sends a code to a signed-in user's new phone number.
func (ph Phone) UpdatePhone(ctx context.Context, r *otpv1.UpdatePhoneRequest) (*otpv1.StartResponse, error) {
	if err := checkUpdateOptions(r.GetFailOnConflict(), r.GetOnMergeUseExisting(), r.GetLocale()); err != nil {
		return nil, err
	}
	return ph.updateStart(ctx, flow.UpdateInput{
		LoginID: r.GetLoginId(), Address: r.GetPhone(), AddLoginID: r.GetAddToLoginIds(),
		MergeExisting: r.GetOnMergeUseExisting(), MFA: r.GetMfa(),
		Locale: r.GetLocale(), TemplateID: r.GetTemplateId(), ProviderID: r.GetProviderId(), TemplateOptions: r.GetTemplateOptions(),
	})
}

var (
	_ otpv1.OtpEmailServer    = Email{}
	_ otpv1.OtpSmsServer      = Phone{}
	_ otpv1.OtpVoiceServer    = Phone{}
	_ otpv1.OtpWhatsappServer = Phone{}
)

// NewEmail returns the OtpEmail service.
func NewEmail(e Engine) Email { return Email{channel{flow.Email, e}} }

// NewPhone returns the service of one phone channel.
func NewPhone(ch flow.Channel, e Engine) Phone { return Phone{channel{ch, e}} }
