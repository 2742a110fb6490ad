package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
)

// Engine runs the OTP flows.
type Engine struct {
	codes    store.Codes
	users    store.Users
	sessions store.Sessions
	accounts store.Accounts
	gen      *otpcode.Generator
	hasher   *otpcode.Hasher
	sender   delivery.Sender
	clock    clock.Clock
	random   io.Reader
	log      *slog.Logger
	metrics  *Metrics
	jobs     Jobs
	options  DeliveryOptions
	indexer  Indexer
	outbox   store.Outbox
	guard    Guard
	authz    Authz
	limiter  Limiter
}

// Guard is the pumping guard (package fraud): it judges a start's
// destination number, and hears about verified codes.
type Guard interface {
	// Plan is the store's part of a start to e164 (nil: not judged).
	Plan(project, channel, loginID, e164 string) *store.Guard
	// Refused reports a refused start (shadow: one that would have been).
	Refused(ctx context.Context, project, channel, entity string, shadow bool)
	// Verified counts a verified code sent to e164.
	Verified(ctx context.Context, project, channel, e164 string)
}

// Indexer keeps the management API's search indexes in step with a user
// whose searchable fields a login changed (a contact update).
type Indexer interface {
	Index(ctx context.Context, project string, u store.User) error
}

// Jobs seals a message into a delivery job for the start script to enqueue.
type Jobs interface {
	Prepare(ctx context.Context, m delivery.Message) (*store.Job, error)
}

// Deps are the Engine's collaborators.
type Deps struct {
	Codes    store.Codes
	Users    store.Users
	Sessions store.Sessions
	Accounts store.Accounts
	Gen      *otpcode.Generator
	Hasher   *otpcode.Hasher
	Sender   delivery.Sender
	Clock    clock.Clock
	// Random makes user ids (crypto/rand.Reader in production).
	Random io.Reader
	Log    *slog.Logger
	// Metrics counts limit refusals (nil: not counted).
	Metrics *Metrics
	// Jobs, when set, sends codes through the durable queue; otherwise
	// Sender is called inline after the start.
	Jobs Jobs
	// Options, when set, refuses starts naming a template or provider the
	// project does not have.
	Options DeliveryOptions
	// Indexer, when set, hears about new and changed users (search).
	Indexer Indexer
	// Outbox, with Jobs, queues security notices (a verified contact
	// changed); without them notices go through Sender.
	Outbox store.Outbox
	// Guard, when set, is the pumping guard (package fraud).
	Guard Guard
	// Authz, when set, puts the user's roles, permissions and tenants in
	// the tokens (docs/authorization.md).
	Authz Authz
	// Limiter, when set, charges the per-IP send limit for a start the
	// engine refuses before the start script (loginOptions.tenantId naming
	// a tenant the user is not in), as the script charges it for its own
	// refusals.
	Limiter Limiter
}

// New returns an Engine.
func New(d Deps) *Engine {
	return &Engine{codes: d.Codes, users: d.Users, sessions: d.Sessions, accounts: d.Accounts, gen: d.Gen, hasher: d.Hasher,
		sender: d.Sender, clock: d.Clock, random: d.Random, log: d.Log, metrics: d.Metrics, jobs: d.Jobs, options: d.Options,
		indexer: d.Indexer, outbox: d.Outbox, guard: d.Guard, authz: d.Authz, limiter: d.Limiter}
}

// StartInput is a sign-up, sign-in or sign-up-or-in request.
type StartInput struct {
	Project *Project
	Channel Channel
	Op      Op
	LoginID string
	// Address is the explicit address from the request body (top-level
	// email/phone/voice/whatsapp, else user.email/user.phone); "" if none.
	Address string
	Profile store.Profile
	// OtherAddress is the request's address of the other contact type
	// (user.email on a phone channel, user.phone on email): a new user
	// gets it unverified.
	OtherAddress string
	// Caller is the signed-in user behind a step-up or MFA start (from the
	// refresh JWT); nil otherwise.
	Caller *Caller
	StepUp bool
	MFA    bool
	// CustomClaims land in the nsec claim of both tokens.
	CustomClaims map[string]any
	// RevokeOthers revokes the user's other sessions on a successful verify.
	RevokeOthers bool
	// TenantID (loginOptions.tenantId) selects the session's tenant (dct);
	// the user must be a member.
	TenantID string
	// ClientIP is the end user's address (rate limits); "" when unknown.
	ClientIP string
	// Delivery options carried to the provider.
	Locale          string
	TemplateID      string
	TemplateOptions map[string]string
	ProviderID      string
}

// StartOutput is what the caller learns: the masked address.
type StartOutput struct {
	Masked string
}

// Start begins a flow: validate, check the user rule, store the code's
// hash, hand the code to delivery.
//
// Where the code goes (DESIGN.md: a code reaches only an address its user
// has proven):
//   - an existing user: the stored, verified contact of the channel,
//     whatever the request says (start.lua reads it from the login index,
//     which only ever holds verified addresses);
//   - step-up and MFA: the signed-in user's verified contact; a request
//     address is refused;
//   - a new login id that is an address of the channel: that address; a
//     different request address is refused;
//   - a new user-name login id: the request address;
//   - a new login id that is an address of the other contact type (a phone
//     number on the email channel): never bound; sign-up is refused and
//     sign-up-or-in acts as sign-in.
func (e *Engine) Start(ctx context.Context, in StartInput) (StartOutput, error) {
	p := in.Project
	id, err := normalizeLoginID(in.LoginID, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return StartOutput{}, err
	}
	var body string
	if in.Address != "" {
		if body, err = normalizeAddress(in.Address, in.Channel, p.DefaultPhoneRegion); err != nil {
			return StartOutput{}, err
		}
	}
	if err := checkCustomClaims(in.CustomClaims); err != nil {
		return StartOutput{}, err
	}
	if err := e.checkDelivery(p, in.Channel, in.TemplateID, in.ProviderID, in.TemplateOptions); err != nil {
		return StartOutput{}, err
	}
	pend := pending{Profile: in.Profile, Nsec: in.CustomClaims, RevokeOthers: in.RevokeOthers}
	if pend.Other, err = unverifiedContact(in.OtherAddress, in.Channel, p.DefaultPhoneRegion); err != nil {
		return StartOutput{}, err
	}
	a := startArgs{
		project: p, channel: in.Channel, op: in.Op, rule: in.Op.rule(), loginID: id.ID, ip: in.ClientIP,
		loginAddr: id.Addr, pending: pend,
		msg: delivery.Message{Locale: in.Locale, TemplateID: in.TemplateID,
			TemplateOptions: in.TemplateOptions, ProviderID: in.ProviderID},
	}
	switch {
	case in.StepUp || in.MFA:
		if err := e.secondFactor(ctx, &a, in, id.ID, body); err != nil {
			return StartOutput{}, err
		}
	case id.Kind != kindName && id.Addr == "":
		// An address of the other contact type: only its proven owner may
		// bind it, through its own channel (or update with addToLoginIDs).
		if in.Op == SignUp {
			return StartOutput{}, apierr.ErrInvalidArgument.With("A loginId that is %s is registered through the %s channel, where the code goes to it; "+
				"to add it to an account, verify it with update %s and addToLoginIDs", kindNoun(id.Kind), kindChannels(id.Kind), id.Kind.contact())
		}
		a.rule = store.RuleExisting
	case id.Addr != "":
		if body != "" && body != id.Addr && in.Op != SignIn {
			return StartOutput{}, apierr.ErrInvalidArgument.With("A loginId that is %s receives the code itself: leave the %s field out or send the same address", kindNoun(id.Kind), id.Kind.contact())
		}
		a.newAddr = id.Addr
	default:
		a.newAddr = body
	}
	if a.rule == store.RuleExisting {
		// Existing users get the code at their stored address; a request
		// address is never used.
		a.newAddr = ""
	}
	if in.TenantID != "" {
		// Refused before anything is sent, as Descope does; under
		// enumeration protection the start must not tell who is in which
		// tenant, so the verify alone decides (dct only for a member).
		if !p.EnumerationProtection || in.Caller != nil {
			if err := e.checkTenant(ctx, p, in.Caller, id.ID, in.TenantID); err != nil {
				if in.Caller == nil {
					// Who is in which tenant is told at most as often as
					// who exists: at the per-IP send rate.
					if lerr := e.chargeRefusedStart(ctx, p, in.ClientIP); lerr != nil {
						return StartOutput{}, lerr
					}
				}
				return StartOutput{}, err
			}
		} else if len(in.TenantID) > store.MaxAuthzName {
			return StartOutput{}, apierr.ErrValidation.With("loginOptions.tenantId is longer than %d bytes", store.MaxAuthzName)
		}
		a.pending.DCT = in.TenantID
	}
	return e.start(ctx, a)
}

// secondFactor sets up a step-up or MFA start: the signed-in owner of the
// login id gets the code at their own verified contact for the channel.
//
// Order: the refresh JWT, then the login id's owner (401 for another
// user's, whoever asks), then what depends on the caller's record.
func (e *Engine) secondFactor(ctx context.Context, a *startArgs, in StartInput, loginID, body string) error {
	if in.Caller == nil {
		return apierr.ErrRefreshInvalid.With("loginOptions.stepup and loginOptions.mfa need the refresh JWT: send 'Bearer <ProjectID>:<RefreshJWT>'")
	}
	if err := e.checkOwner(ctx, in.Project, loginID, in.Caller); err != nil {
		return err
	}
	if in.Op == SignUp {
		return apierr.ErrValidation.With("stepup and mfa apply to sign-in, not sign-up")
	}
	if body != "" {
		return apierr.ErrInvalidArgument.With("A step-up or MFA code goes to the user's verified %s; the request may not name an address", in.Channel.Contact())
	}
	dest := verifiedContact(in.Caller.User, in.Channel.Contact())
	if dest == "" {
		if in.Channel == Email {
			return apierr.ErrInvalidArgument.With("The user has no verified email address: add one with update email (POST /v1/auth/otp/update/email), which proves it")
		}
		return apierr.ErrInvalidArgument.With("The user has no verified phone number: add one with update phone (POST /v1/auth/otp/update/phone/%s), which proves it", in.Channel)
	}
	if !contactPredatesSession(in.Caller.User, in.Channel.Contact(), in.Caller.SignedInAt) {
		// Changed by an update after this session signed in: perhaps by
		// whoever holds this refresh JWT, to their own address.
		return apierr.ErrContactNewerThanSession.With("The user's verified %s was changed after this session signed in; "+
			"a step-up or MFA code goes only to a contact the user had then: use another channel, or sign in again", in.Channel.Contact())
	}
	a.rule, a.newAddr, a.owner = store.RuleOwner, dest, in.Caller.UserID
	a.pending.OwnerID, a.pending.StepUp, a.pending.MFA, a.pending.AMR = in.Caller.UserID, in.StepUp, in.MFA, in.Caller.AMR
	return nil
}

// verifiedContact is the user's proven address of a contact type, or "".
func verifiedContact(u store.User, c store.Contact) string {
	if c == store.ContactEmail && u.VerifiedEmail {
		return u.Email
	}
	if c == store.ContactPhone && u.VerifiedPhone {
		return u.Phone
	}
	return ""
}

func kindNoun(k idKind) string {
	if k == kindEmail {
		return "an email address"
	}
	return "a phone number"
}

func kindChannels(k idKind) string {
	if k == kindEmail {
		return "email"
	}
	return "sms, voice or whatsapp"
}

// startArgs is a validated start, shared by sign-in/up and update.
type startArgs struct {
	project *Project
	channel Channel
	op      Op
	rule    store.Rule
	loginID string
	// newAddr is where the code goes when start.lua does not pick the
	// stored address: a new user's address, an update's new address, or a
	// second factor's verified contact. loginAddr is the login id when it
	// is an address of the channel (rate limits and phone policy only).
	newAddr, loginAddr string
	owner              string
	ip                 string
	pending            pending
	msg                delivery.Message // delivery options; the rest is filled here
}

func (e *Engine) start(ctx context.Context, a startArgs) (StartOutput, error) {
	p := a.project
	payload, err := a.pending.encode()
	if err != nil {
		return StartOutput{}, err
	}
	loginID, newAddr, loginAddr := a.loginID, a.newAddr, a.loginAddr
	// The destination number, when the request decides it: limits and the
	// phone policy apply to it. (An existing user reached through a user
	// name gets the code at a number that was checked when it was stored.)
	var dest string
	if a.channel != Email {
		for _, n := range []string{newAddr, loginAddr} {
			if n == "" {
				continue
			}
			if err := checkPhone(p, a.channel, n); err != nil {
				return StartOutput{}, err
			}
			if dest == "" {
				dest = n
			}
		}
	}
	var guard *store.Guard
	if e.guard != nil && dest != "" {
		guard = e.guard.Plan(p.ID, string(a.channel), loginID, dest)
	}
	code, err := e.gen.New(p.CodeLength)
	if err != nil {
		return StartOutput{}, fmt.Errorf("generating code: %w", err)
	}
	now := e.clock.Now()
	expires := now.Add(p.CodeTTL)
	msg := a.msg
	msg.Project, msg.Channel, msg.Code = p.ID, string(a.channel), code
	msg.Purpose, msg.ExpiresAt = string(a.op), expires
	var job *store.Job
	if e.jobs != nil {
		// Sealed now; enqueued by the start script with the address it picks.
		if job, err = e.jobs.Prepare(ctx, msg); err != nil {
			return StartOutput{}, fmt.Errorf("sealing the delivery job: %w", err)
		}
	}
	res, err := e.codes.StartCode(ctx, store.NewCode{
		Job:            job,
		Key:            store.CodeKey{Project: p.ID, LoginID: loginID, Channel: string(a.channel)},
		Rule:           a.rule,
		Purpose:        string(a.op),
		Hash:           e.hasher.Sum(otpcode.Input{Project: p.ID, Channel: string(a.channel), LoginID: loginID, Purpose: string(a.op), Code: code}),
		Contact:        a.channel.Contact(),
		NewUserAddress: newAddr,
		OwnerID:        a.owner,
		Payload:        payload,
		MaxAttempts:    p.MaxAttempts,
		ExpiresAt:      expires,
		Retain:         p.CodeTTL + store.CodeRecordGrace,
		Now:            now,
		Limits:         startLimits(p, a, dest),
		Guard:          guard,
	})
	if err != nil {
		return StartOutput{}, storeErr(err)
	}
	e.refused(ctx, p, res.WouldLimit, true)
	if res.WouldBlock != "" {
		e.guard.Refused(ctx, p.ID, string(a.channel), res.WouldBlock, true)
	}
	switch res.Status {
	case store.StartBlocked:
		e.guard.Refused(ctx, p.ID, string(a.channel), res.Blocked, false)
		return StartOutput{}, apierr.ErrPumpingBlocked
	case store.StartLimited:
		e.refused(ctx, p, res.Limit, false)
		return StartOutput{}, rateLimited(res.Limit, res.RetryAfter)
	case store.StartOK:
	case store.StartExists:
		return StartOutput{}, apierr.ErrUserExists
	case store.StartNotFound:
		if p.EnumerationProtection {
			// Answer as for a known user; send nothing (start.lua left a
			// decoy record, so verify attempts count the same way).
			return StartOutput{Masked: e.decoyMask(p, a.channel, loginID, loginAddr)}, nil
		}
		return StartOutput{}, apierr.ErrUserNotFound
	case store.StartDisabled:
		if p.EnumerationProtection && a.op == SignIn {
			return StartOutput{Masked: e.decoyMask(p, a.channel, loginID, loginAddr)}, nil
		}
		return StartOutput{}, apierr.ErrUserDisabled
	case store.StartNotOwner:
		return StartOutput{}, apierr.ErrRefreshInvalid.With("The loginId does not belong to the signed-in user")
	case store.StartNoAddress:
		if p.EnumerationProtection && a.rule != store.RuleNew && a.rule != store.RuleOwner {
			// A known user with no address on this channel looks like an
			// unknown one.
			return StartOutput{Masked: e.decoyMask(p, a.channel, loginID, loginAddr)}, nil
		}
		if a.channel == Email {
			return StartOutput{}, apierr.ErrInvalidArgument.With("No email address to send the code to: send an email address as loginId or in the email field")
		}
		return StartOutput{}, apierr.ErrInvalidArgument.With("No phone number to send the code to: send a phone number as loginId or in the phone field")
	default:
		return StartOutput{}, fmt.Errorf("store: unknown start status %q", res.Status)
	}
	if job == nil {
		// Inline delivery (no queue configured).
		msg.To = res.Address
		if err := e.sender.Send(ctx, msg); err != nil {
			// The code is stored; the user can ask for another. Do not
			// fail the start on a provider problem, but say so in the log.
			e.log.ErrorContext(ctx, "delivery failed", "project", p.ID, "channel", a.channel, "error", err)
		}
	}
	return StartOutput{Masked: maskAddress(a.channel, res.Address)}, nil
}

// storeErr maps store failures: unreachable Redis is real unavailability.
func storeErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return errors.Join(apierr.ErrUnavailable, err)
	}
	return err
}
