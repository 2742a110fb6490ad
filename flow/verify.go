package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/otpcode"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// VerifyInput is a verify request.
type VerifyInput struct {
	Project *Project
	Channel Channel
	LoginID string
	Code    string
	// ClientIP is the end user's address (rate limits); "" when unknown.
	ClientIP string
	// UserAgent is the client's User-Agent, for the login history.
	UserAgent string
}

// VerifyOutput is a successful verify: the tokens and the user.
type VerifyOutput struct {
	Tokens    token.Pair
	User      store.User
	FirstSeen bool
}

// Verify checks a code and, on success, signs the user in.
func (e *Engine) Verify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	p := in.Project
	id, err := normalizeLoginID(in.LoginID, in.Channel, p.DefaultPhoneRegion)
	if err != nil {
		return VerifyOutput{}, err
	}
	loginID := id.ID
	code, err := normalizeCode(in.Code, p.CodeLength)
	if err != nil {
		return VerifyOutput{}, err
	}
	newID, err := store.NewUserID(e.random, p.ID, loginID)
	if err != nil {
		return VerifyOutput{}, err
	}
	now := e.clock.Now()
	// The model's version is read alongside the verify's script: the
	// claims and a new user's defaults then need no round trip after it.
	ahead := e.readModelAhead(ctx, p)
	defer ahead.wait()
	res, done, pre, err := e.verifyCode(ctx, p, store.Attempt{
		Key: store.CodeKey{Project: p.ID, LoginID: loginID, Channel: string(in.Channel)},
		Candidates: e.hasher.Candidates(otpcode.Input{
			Project: p.ID, Channel: string(in.Channel), LoginID: loginID, Code: code,
		}, purposes),
		Now:       now,
		NewUserID: newID,
		Limits:    verifyLimits(p, loginID, in.Channel, in.ClientIP),
	}, store.LoginRecord{Time: now, IP: in.ClientIP, UserAgent: in.UserAgent, Channel: string(in.Channel)})
	if err != nil {
		return VerifyOutput{}, storeErr(err)
	}
	e.refused(ctx, p, res.WouldLimit, true)
	switch res.Status {
	case store.VerifyOK:
	case store.VerifyLimited:
		e.refused(ctx, p, res.Limit, false)
		return VerifyOutput{}, rateLimited(res.Limit, res.RetryAfter)
	case store.VerifyNoCode:
		return VerifyOutput{}, apierr.ErrWrongCode
	case store.VerifyWrong:
		if p.EnumerationProtection {
			// A code-less verify must look the same: no attempt counts.
			return VerifyOutput{}, apierr.ErrWrongCode
		}
		return VerifyOutput{}, apierr.ErrWrongCode.With("One time code is invalid (%d attempts left)", res.AttemptsLeft).WithAttemptsLeft(res.AttemptsLeft)
	case store.VerifyDead:
		return VerifyOutput{}, e.deadCode(p, res, now)
	case store.VerifyExpired:
		return VerifyOutput{}, apierr.ErrCodeExpired
	case store.VerifyExists:
		return VerifyOutput{}, apierr.ErrUserExists
	case store.VerifyNotFound:
		return VerifyOutput{}, apierr.ErrUserNotFound
	case store.VerifyDisabled:
		return VerifyOutput{}, apierr.ErrUserDisabled
	default:
		return VerifyOutput{}, fmt.Errorf("store: unknown verify status %q", res.Status)
	}
	if e.guard != nil && in.Channel != Email && strings.HasPrefix(res.Address, "+") {
		// [fraud] a verified code raises its destination's conversion.
		e.guard.Verified(ctx, p.ID, string(in.Channel), res.Address)
	}
	pend, err := decodePending(res.Payload)
	if err != nil {
		return VerifyOutput{}, fmt.Errorf("pending code payload: %w", err)
	}
	uid := res.UserID
	if pend.OwnerID != "" && pend.OwnerID != uid {
		// The login id changed hands between start and verify.
		return VerifyOutput{}, apierr.ErrRefreshInvalid.With("The loginId no longer belongs to the signed-in user")
	}
	key := store.CodeKey{Project: p.ID, LoginID: loginID, Channel: string(in.Channel)}
	if done != nil {
		// The store signed the user in with the verify (one script): mint
		// the tokens it registered.
		if res.NewUser && pend.Update == nil {
			if done.User, err = e.grantNew(ctx, p, done.User, res, ahead); err != nil {
				return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, true), err)
			}
		}
		az, err := e.authzClaimsAt(ctx, p, done.User, pend.DCT, ahead)
		if err != nil {
			return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, true), err)
		}
		pair, err := p.Issuer.Mint(token.Subject{UserID: uid, AMR: pend.amr(in.Channel), Nsec: pend.Nsec, StepUp: pend.StepUp,
			RefreshID: pre.RefreshID, RefreshUntil: pre.RefreshExpiry, AuthTime: pend.authTime(), Authz: az})
		if err != nil {
			return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, true), fmt.Errorf("minting tokens: %w", err))
		}
		if res.NewUser && !done.Indexed {
			e.index(ctx, p, done.User)
		}
		return VerifyOutput{Tokens: pair, User: done.User, FirstSeen: done.FirstSeen}, nil
	}
	var user store.User
	if pend.Update != nil {
		if pend.Session == "" {
			// A record of an older release names no session to check:
			// refused (the code is spent), never applied unchecked.
			return VerifyOutput{}, errSessionEnded
		}
		if user, err = e.applyUpdate(ctx, p, in.Channel, uid, res.Address, pend.Session, pend.Update, now); err != nil {
			return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, false), err)
		}
		uid = user.UserID
	}
	az, err := e.splitAuthz(ctx, p, uid, res.NewUser, user, pend.Update != nil, pend.DCT, ahead)
	if err != nil {
		return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, false), err)
	}
	pair, err := p.Issuer.Mint(token.Subject{UserID: uid, AMR: pend.amr(in.Channel), Nsec: pend.Nsec, StepUp: pend.StepUp, AuthTime: pend.authTime(), Authz: az})
	if err != nil {
		return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, false), fmt.Errorf("minting tokens: %w", err))
	}
	login := store.Login{
		Project: p.ID, UserID: uid, LoginID: loginID, Contact: res.Contact,
		Address: res.Address, Profile: pend.Profile, Unverified: pend.Other, RefreshID: pair.RefreshID,
		RefreshExpiry: pair.RefreshExpiry, Now: now, RevokeOthers: pend.RevokeOthers,
		History:          pre.History,
		MaxRefreshTokens: p.MaxRefreshTokens,
		New:              res.NewUser,
	}
	if pend.Update != nil || pend.OwnerID != "" {
		// An update is applied already; a step-up or MFA code went to a
		// contact the user had proven. Either way only register the
		// session: a second factor never writes a contact or a login id.
		login.Address = ""
	}
	if pend.Update != nil && uid == pend.OwnerID {
		// The update's session must still be live when this one is
		// registered (a merge signs into another user, whose keys do not
		// hold it; the merged user's sessions are gone with it).
		login.Session = pend.Session
	}
	if res.NewUser && pend.Update == nil {
		// What login.lua creates, indexed in the same round trip.
		ix := store.User{UserID: uid, Status: "enabled", CreatedTime: time.UnixMilli(now.UnixMilli())}
		// The login address last: it wins over an unverified address of
		// its own type, which the user record does not keep either.
		for _, a := range []string{pend.Other, res.Address} {
			switch {
			case a == "":
			case strings.HasPrefix(a, "+"):
				ix.Phone = a
			default:
				ix.Email = a
			}
		}
		login.Index = &ix
	}
	user, first, err := e.users.CompleteLogin(ctx, login)
	if errors.Is(err, store.ErrDisabled) {
		return VerifyOutput{}, apierr.ErrUserDisabled
	}
	if errors.Is(err, store.ErrSessionEnded) {
		// Logged out (everywhere) after the change was made: no session.
		return VerifyOutput{}, errSessionEnded
	}
	if errors.Is(err, store.ErrNoUser) {
		// Erased (or merged away) since the verify read the login id:
		// the code is spent, nobody is signed in.
		return VerifyOutput{}, apierr.ErrUserNotFound
	}
	if err != nil {
		return VerifyOutput{}, e.giveBack(ctx, key, undoOf(res, false), storeErr(err))
	}
	if pend.Update != nil {
		e.index(ctx, p, user)
	}
	if res.NewUser && pend.Update == nil {
		// Split slots (the tokens are minted before the login): the
		// defaults reach the tokens at the first refresh.
		if granted, err := e.grantNew(ctx, p, user, res, ahead); err != nil {
			e.log.WarnContext(ctx, "default roles not granted to a new user", "project", p.ID, "error", err)
		} else {
			user = granted
		}
	}
	return VerifyOutput{Tokens: pair, User: user, FirstSeen: first}, nil
}

// verifyCode runs the verify; when the store can, with the login in the
// same script (done is then set, and pre holds the refresh token id and
// expiry it registered for the tokens to mint). pre.History is hist.
func (e *Engine) verifyCode(ctx context.Context, p *Project, a store.Attempt, hist store.LoginRecord) (res store.VerifyResult, done *store.LoginDone, pre store.Login, err error) {
	pre = store.Login{Project: p.ID, LoginID: a.Key.LoginID, Now: a.Now, History: hist, MaxRefreshTokens: p.MaxRefreshTokens}
	one, ok := e.codes.(store.OneTripVerifier)
	if !ok {
		res, err = e.codes.VerifyCode(ctx, a)
		return res, nil, pre, err
	}
	if pre.RefreshID, err = p.Issuer.NewTokenID(); err != nil {
		return res, nil, pre, err
	}
	pre.RefreshExpiry = p.Issuer.RefreshExpiry()
	res, done, err = one.VerifyLogin(ctx, a, pre)
	return res, done, pre, err
}

// giveBack is the failure path of a verify whose code was consumed: when a
// later step failed for a reason the SDK's retry may not meet again (Redis
// unreachable, an internal error: 503 or 500), the code is given back and a
// fresh binding undone, so that the retry is answered as the first try
// would have been rather than "wrong code", and no login id is left
// pointing at a user record that was never written. Refusals (a conflict,
// a disabled user) keep the code spent.
func (e *Engine) giveBack(ctx context.Context, key store.CodeKey, u store.Undo, err error) error {
	var domain *apierr.Error
	if errors.As(err, &domain) && !errors.Is(err, apierr.ErrUnavailable) && !errors.Is(err, apierr.ErrInternal) {
		return err
	}
	if uerr := e.codes.UndoVerify(ctx, key, u); uerr != nil {
		e.log.WarnContext(ctx, "could not give back a consumed code after a failed verify", "project", key.Project, "error", uerr)
	}
	return err
}

// undoOf is what a successful verify did; loginRan when the store
// completed the login in the verify's script.
func undoOf(res store.VerifyResult, loginRan bool) store.Undo {
	return store.Undo{UserID: res.UserID, Fresh: res.NewUser, Contact: res.Contact, LoginRan: loginRan}
}

// deadCode tells when a new code may be requested: after the resend
// cooldown that began when the dead code was sent.
func (e *Engine) deadCode(p *Project, res store.VerifyResult, now time.Time) error {
	var wait time.Duration
	if cd := p.Limits.ResendCooldown; cd != nil && !res.CreatedAt.IsZero() && res.CreatedAt.Unix() > 0 {
		wait = res.CreatedAt.Add(cd.D()).Sub(now)
	}
	if wait <= 0 {
		return apierr.ErrTooManyAttempts.With("Too many wrong attempts; request a new code now")
	}
	secs := int(math.Ceil(wait.Seconds()))
	return apierr.ErrTooManyAttempts.With("Too many wrong attempts; request a new code in %d s", secs).WithRetryAfter(secs)
}
