package service

import (
	"context"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/store"
)

// Engine is what the channel services need from the flow engine.
type Engine interface {
	Start(ctx context.Context, in flow.StartInput) (flow.StartOutput, error)
	Verify(ctx context.Context, in flow.VerifyInput) (flow.VerifyOutput, error)
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
	in := flow.StartInput{
		Project:    p,
		Channel:    c.ch,
		Op:         op,
		LoginID:    req.GetLoginId(),
		Address:    c.explicitAddress(req),
		ProviderID: req.GetProviderId(),
	}
	if u := req.GetUser(); u != nil && op != flow.SignIn {
		in.Profile = store.Profile{Name: u.GetName(), GivenName: u.GetGivenName(),
			MiddleName: u.GetMiddleName(), FamilyName: u.GetFamilyName()}
	}
	if o := req.GetLoginOptions(); o != nil {
		if o.GetStepup() || o.GetMfa() {
			return nil, apierr.ErrUnimplemented.With("loginOptions.stepup and loginOptions.mfa are not supported yet")
		}
		in.Locale, in.TemplateID, in.TemplateOptions = o.GetLocale(), o.GetTemplateId(), o.GetTemplateOptions()
	}
	out, err := c.engine.Start(ctx, in)
	if err != nil {
		return nil, err
	}
	if c.ch == flow.Email {
		return &otpv1.StartResponse{MaskedEmail: &out.Masked}, nil
	}
	return &otpv1.StartResponse{MaskedPhone: &out.Masked}, nil
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
	out, err := c.engine.Verify(ctx, flow.VerifyInput{Project: p, Channel: c.ch, LoginID: req.GetLoginId(), Code: req.GetCode()})
	if err != nil {
		return nil, err
	}
	return jwtResponse(p, out), nil
}

// Email is the OtpEmail service.
type Email struct{ channel }

// UpdateEmail is not implemented yet (issue: sessions and account changes).
func (Email) UpdateEmail(context.Context, *otpv1.UpdateEmailRequest) (*otpv1.StartResponse, error) {
	return nil, apierr.ErrUnimplemented
}

// Phone is the OtpSms, OtpVoice and OtpWhatsapp service.
type Phone struct{ channel }

// UpdatePhone is not implemented yet (issue: sessions and account changes).
func (Phone) UpdatePhone(context.Context, *otpv1.UpdatePhoneRequest) (*otpv1.StartResponse, error) {
	return nil, apierr.ErrUnimplemented
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
