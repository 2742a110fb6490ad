package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// Caller is a signed-in user, proven by a live refresh JWT.
type Caller struct {
	UserID string
	AMR    []string
	Nsec   map[string]any
	Claims *token.Claims
	User   store.User
}

// Authenticate checks a refresh JWT: signature by a published key of the
// project, drn DSR, iss = project, not expired, and still live in Redis
// (not logged out or rotated away).
func (e *Engine) Authenticate(ctx context.Context, p *Project, refreshJWT string) (*Caller, error) {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return nil, err
	}
	u, err := e.session(ctx, p, c, store.OpCheck, "", time.Time{})
	if err != nil {
		return nil, err
	}
	return &Caller{UserID: c.Subject, AMR: c.AMR, Nsec: c.Nsec, Claims: c, User: u}, nil
}

func (e *Engine) verifyRefresh(p *Project, refreshJWT string) (*token.Claims, error) {
	if refreshJWT == "" {
		return nil, apierr.ErrRefreshInvalid.With("Send the refresh JWT: 'Bearer <ProjectID>:<RefreshJWT>' or the DSR cookie")
	}
	c, err := p.Issuer.VerifyRefresh(refreshJWT)
	switch {
	case errors.Is(err, token.ErrTokenExpired):
		return nil, apierr.ErrRefreshInvalid.With("The refresh token expired; sign in again")
	case err != nil:
		return nil, apierr.ErrRefreshInvalid
	case c.ID == "":
		return nil, apierr.ErrRefreshInvalid
	}
	return c, nil
}

// session runs one refresh-token operation and maps its outcome.
func (e *Engine) session(ctx context.Context, p *Project, c *token.Claims, op store.SessionOp, newID string, newExp time.Time) (store.User, error) {
	u, st, err := e.sessions.Session(ctx, store.SessionRequest{
		Op: op, Project: p.ID, UserID: c.Subject, ID: c.ID, Now: e.clock.Now(), NewID: newID, NewExpiry: newExp,
	})
	if err != nil {
		return store.User{}, storeErr(err)
	}
	switch st {
	case store.SessionOK:
		if u.Status == store.StatusDisabled {
			// Disabling revokes every token; this catches one minted
			// by a verify that raced the change.
			return store.User{}, apierr.ErrUserDisabled
		}
		return u, nil
	case store.SessionRevoked, store.SessionNoUser:
		return store.User{}, apierr.ErrRefreshRevoked
	case store.SessionReused:
		e.log.WarnContext(ctx, "refresh token reuse: token family revoked", "project", p.ID, "user", c.Subject)
		return store.User{}, apierr.ErrRefreshRevoked.With("The refresh token was already used; its sessions were revoked. Sign in again")
	default:
		return store.User{}, fmt.Errorf("store: unknown session status %q", st)
	}
}

// RefreshOutput is a refreshed session; Tokens.Refresh is empty unless the
// project rotates refresh tokens, in which case it is the new one.
type RefreshOutput struct {
	Tokens token.Pair
	User   store.User
}

// Refresh issues a new session JWT for a live refresh JWT, carrying its
// factors and custom claims. With rotation, it also issues a new refresh
// JWT (same family, same end) and spends the old one.
func (e *Engine) Refresh(ctx context.Context, p *Project, refreshJWT string) (RefreshOutput, error) {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return RefreshOutput{}, err
	}
	subj := token.Subject{UserID: c.Subject, AMR: c.AMR, Nsec: c.Nsec}
	if !p.RotateRefresh {
		u, err := e.session(ctx, p, c, store.OpRefresh, "", time.Time{})
		if err != nil {
			return RefreshOutput{}, err
		}
		sess, exp, err := p.Issuer.MintSession(subj)
		if err != nil {
			return RefreshOutput{}, err
		}
		return RefreshOutput{Tokens: token.Pair{Session: sess, SessionExpiry: exp, Refresh: refreshJWT, RefreshExpiry: c.Expiry, RefreshID: c.ID}, User: u}, nil
	}
	subj.RefreshUntil = c.Expiry
	pair, err := p.Issuer.Mint(subj)
	if err != nil {
		return RefreshOutput{}, err
	}
	u, err := e.session(ctx, p, c, store.OpRefresh, pair.RefreshID, pair.RefreshExpiry)
	if err != nil {
		return RefreshOutput{}, err
	}
	return RefreshOutput{Tokens: pair, User: u}, nil
}

// Logout revokes the presented refresh JWT, or with all every refresh JWT
// of its user. Session JWTs already issued live until they expire (they
// are validated locally); keep their lifetime short.
func (e *Engine) Logout(ctx context.Context, p *Project, refreshJWT string, all bool) error {
	c, err := e.verifyRefresh(p, refreshJWT)
	if err != nil {
		return err
	}
	op := store.OpLogout
	if all {
		op = store.OpLogoutAll
	}
	_, err = e.session(ctx, p, c, op, "", time.Time{})
	return err
}

// Me returns the user of a live refresh JWT.
func (e *Engine) Me(ctx context.Context, p *Project, refreshJWT string) (store.User, error) {
	c, err := e.Authenticate(ctx, p, refreshJWT)
	if err != nil {
		return store.User{}, err
	}
	return c.User, nil
}
