package flow

import (
	"context"

	"github.com/otpd/otpd/store"
)

// VersionedAuthz is an Authz whose model is cached under a version
// (store.RedisStore): the version can be read on its own, alongside a
// verify's script, so that the verify's claims (and a new user's
// defaults) need no round trip after it.
type VersionedAuthz interface {
	// AuthzInUse: the project (probably) has a model; otherwise a verify
	// does not read the version ahead.
	AuthzInUse(project string) bool
	AuthzVersion(ctx context.Context, project string) (string, error)
	ClaimsAt(ctx context.Context, project, version string, u store.UserAuthz) (store.Claims, error)
	NewUserAuthzAt(ctx context.Context, project, version, userID, emailDomain string) (store.UserAuthz, error)
}

// modelAhead is the model's version, being read alongside a verify's
// script. It is read after the request began, so a model change answered
// before it is in the claims computed at it.
type modelAhead struct {
	va   VersionedAuthz
	done chan struct{}
	ver  string
	err  error
}

// readModelAhead starts reading the project's model version (nil when the
// authorizer has no versions, or the project had no roles or tenants when
// this process last read its model). The verify waits for it before it answers
// (wait), whether it used it or not, so that nothing of the request
// outlives it; the read ran alongside the verify's script, so the wait is
// short.
func (e *Engine) readModelAhead(ctx context.Context, p *Project) *modelAhead {
	va, ok := e.authz.(VersionedAuthz)
	if !ok || !va.AuthzInUse(p.ID) {
		return nil
	}
	a := &modelAhead{va: va, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.ver, a.err = va.AuthzVersion(ctx, p.ID)
	}()
	return a
}

// claims is Authz.Claims at the version read ahead (a nil a: Claims).
func (e *Engine) claimsAt(ctx context.Context, a *modelAhead, project string, u store.UserAuthz) (store.Claims, error) {
	if a == nil {
		return e.authz.Claims(ctx, project, u)
	}
	<-a.done
	if a.err != nil {
		return store.Claims{}, a.err
	}
	return a.va.ClaimsAt(ctx, project, a.ver, u)
}

// newUserAuthzAt is Authz.NewUserAuthz at the version read ahead.
func (e *Engine) newUserAuthzAt(ctx context.Context, a *modelAhead, project, userID, domain string) (store.UserAuthz, error) {
	if a == nil {
		return e.authz.NewUserAuthz(ctx, project, userID, domain)
	}
	<-a.done
	if a.err != nil {
		return store.UserAuthz{}, a.err
	}
	return a.va.NewUserAuthzAt(ctx, project, a.ver, userID, domain)
}

// wait waits for the read to end (nil: nothing to wait for).
func (a *modelAhead) wait() {
	if a != nil {
		<-a.done
	}
}
