package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
)

// verifyGrace is how long a pending code's record outlives the code, so a
// late verify hears "expired" rather than "wrong code".
const verifyGrace = 10 * time.Minute

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
	indexer  Indexer
}

// Indexer keeps the management API's search indexes in step with a user
// whose searchable fields a login changed (first login, contact update).
type Indexer interface {
	Index(ctx context.Context, project string, u store.User) error
}

// Jobs seals a message into a delivery job for the start script to enqueue.
type Jobs interface {
	Prepare(m delivery.Message) (*store.Job, error)
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
	// Indexer, when set, hears about new and changed users (search).
	Indexer Indexer
}

// New returns an Engine.
func New(d Deps) *Engine {
	return &Engine{codes: d.Codes, users: d.Users, sessions: d.Sessions, accounts: d.Accounts, gen: d.Gen, hasher: d.Hasher,
		sender: d.Sender, clock: d.Clock, random: d.Random, log: d.Log, metrics: d.Metrics, jobs: d.Jobs, indexer: d.Indexer}
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
	// Caller is the signed-in user behind a step-up or MFA start (from the
	// refresh JWT); nil otherwise.
	Caller *Caller
	StepUp bool
	MFA    bool
	// CustomClaims land in the nsec claim of both tokens.
	CustomClaims map[string]any
	// RevokeOthers revokes the user's other sessions on a successful verify.
	RevokeOthers bool
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
func (e *Engine) Start(ctx context.Context, in StartInput) (StartOutput, error) {
	p := in.Project
	loginID, loginAddr, err := normalizeLoginID(in.LoginID, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return StartOutput{}, err
	}
	newAddr := loginAddr
	if in.Address != "" {
		if newAddr, err = normalizeAddress(in.Address, in.Channel, p.DefaultPhoneRegion); err != nil {
			return StartOutput{}, err
		}
	}
	if err := checkCustomClaims(in.CustomClaims); err != nil {
		return StartOutput{}, err
	}
	pend := pending{Profile: in.Profile, Nsec: in.CustomClaims, RevokeOthers: in.RevokeOthers}
	rule := in.Op.rule()
	if in.StepUp || in.MFA {
		if in.Caller == nil {
			return StartOutput{}, apierr.ErrRefreshInvalid.With("loginOptions.stepup and loginOptions.mfa need the refresh JWT: send 'Bearer <ProjectID>:<RefreshJWT>'")
		}
		if in.Op == SignUp {
			return StartOutput{}, apierr.ErrValidation.With("stepup and mfa apply to sign-in, not sign-up")
		}
		rule = store.RuleOwner
		pend.OwnerID, pend.StepUp, pend.MFA, pend.AMR = in.Caller.UserID, in.StepUp, in.MFA, in.Caller.AMR
	}
	return e.start(ctx, startArgs{
		project: p, channel: in.Channel, op: in.Op, rule: rule, loginID: loginID, ip: in.ClientIP,
		newAddr: newAddr, loginAddr: loginAddr, owner: pend.OwnerID, pending: pend,
		msg: delivery.Message{Locale: in.Locale, TemplateID: in.TemplateID,
			TemplateOptions: in.TemplateOptions, ProviderID: in.ProviderID},
	})
}

// startArgs is a validated start, shared by sign-in/up and update.
type startArgs struct {
	project            *Project
	channel            Channel
	op                 Op
	rule               store.Rule
	loginID            string
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
		if job, err = e.jobs.Prepare(msg); err != nil {
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
		LoginAddress:   loginAddr,
		OwnerID:        a.owner,
		Payload:        payload,
		MaxAttempts:    p.MaxAttempts,
		ExpiresAt:      expires,
		Retain:         p.CodeTTL + verifyGrace,
		Now:            now,
		Limits:         startLimits(p, a.channel, loginID, dest, a.ip),
	})
	if err != nil {
		return StartOutput{}, storeErr(err)
	}
	e.refused(ctx, p, res.WouldLimit, true)
	switch res.Status {
	case store.StartLimited:
		e.refused(ctx, p, res.Limit, false)
		return StartOutput{}, rateLimited(res.Limit, res.RetryAfter)
	case store.StartOK:
	case store.StartExists:
		return StartOutput{}, apierr.ErrUserExists
	case store.StartNotFound:
		if p.EnumerationProtection && a.op == SignIn {
			// Answer as for a known user; send nothing.
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
