package accesskey

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// Limit names (the keys of a project's limits settings).
const (
	LimitPerKey = "accessKeyExchangesPerKey"
	LimitPerIP  = "accessKeyExchangesPerIp"
)

// Store is what an exchange reads: the key, the model (its claims) and
// the rate-limit buckets.
type Store interface {
	AccessKey(ctx context.Context, project, id string) (store.AccessKey, error)
	ChargeLimits(ctx context.Context, bs []store.Bucket, now time.Time, dry bool) (limited, would string, retry time.Duration, err error)
	Claims(ctx context.Context, project string, u store.UserAuthz) (store.Claims, error)
}

// Refusals counts rate-limit refusals (flow.Metrics); nil counts nothing.
type Refusals interface {
	Refused(project, limit string, dry bool)
}

// Exchanger exchanges access keys for session JWTs.
type Exchanger struct {
	st      Store
	clock   clock.Clock
	log     *slog.Logger
	refusal Refusals
}

// NewExchanger returns an Exchanger; refusals may be nil.
func NewExchanger(st Store, clk clock.Clock, log *slog.Logger, refusals Refusals) *Exchanger {
	return &Exchanger{st: st, clock: clk, log: log, refusal: refusals}
}

// Request is one exchange.
type Request struct {
	// Cleartext is the key from the Authorization value.
	Cleartext string
	// Addr is the client's address (permitted IPs); IPKey its per-IP
	// bucket key (ipkey.Of). Zero and "" when unknown.
	Addr  netip.Addr
	IPKey string
	// SelectedTenant, when set, becomes the token's dct; the key must be
	// in that tenant.
	SelectedTenant string
}

// Result is a session JWT for the key.
type Result struct {
	KeyID      string
	SessionJWT string
	Expiry     time.Time
}

// errInvalid is every refusal of a key that is not proven (unknown id,
// wrong secret, malformed): one answer, so nothing tells them apart.
var errInvalid = apierr.ErrUnauthorized.With("The access key is not valid")

// Exchange checks the key and mints a session JWT whose subject is the
// key id and whose claims are the key's roles and tenants under the
// current model.
//
// Order: the per-IP bucket is charged by every attempt (before the key is
// read); the per-key bucket only once the secret matched and the key may
// be used from this IP, so nobody who merely knows a key's id (it is every
// token's subject) can spend that key's budget.
func (x *Exchanger) Exchange(ctx context.Context, p *flow.Project, r Request) (Result, error) {
	now := x.clock.Now()
	l := p.Limits
	if r.IPKey != "" && on(l.AccessKeyExchangesPerIP) {
		b := store.Bucket{Name: LimitPerIP, Key: store.LimitKey(p.ID, "ak-ip", r.IPKey), Count: l.AccessKeyExchangesPerIP.Count,
			Window: l.AccessKeyExchangesPerIP.Window.D()}
		if err := x.charge(ctx, p, b, now); err != nil {
			return Result{}, err
		}
	}
	id, ok := ParseID(r.Cleartext)
	if !ok {
		return Result{}, errInvalid
	}
	k, err := x.st.AccessKey(ctx, p.ID, id)
	switch {
	case errors.Is(err, store.ErrAccessKeyNotFound):
		return Result{}, errInvalid
	case err != nil:
		return Result{}, storeErr(err)
	case !Matches(r.Cleartext, k.Hash):
		return Result{}, errInvalid
	case k.Status != store.AccessKeyActive:
		return Result{}, apierr.ErrUnauthorized.With("The access key is deactivated")
	case k.Expired(now):
		return Result{}, apierr.ErrUnauthorized.With("The access key expired")
	case !Permitted(k.PermittedIPs, r.Addr):
		x.log.WarnContext(ctx, "access key used from an IP outside its permittedIps", "project", p.ID, "key", k.ID)
		return Result{}, apierr.ErrUnauthorized.With("The access key may not be used from this IP address")
	}
	if on(l.AccessKeyExchangesPerKey) {
		b := store.Bucket{Name: LimitPerKey, Key: store.LimitKey(p.ID, "ak", k.ID), Count: l.AccessKeyExchangesPerKey.Count,
			Window: l.AccessKeyExchangesPerKey.Window.D()}
		if err := x.charge(ctx, p, b, now); err != nil {
			return Result{}, err
		}
	}
	var c store.Claims // a key that holds nothing has no claims and no tenant
	if !k.Authz.Empty() {
		if c, err = x.st.Claims(ctx, p.ID, k.Authz); err != nil {
			return Result{}, storeErr(err)
		}
	}
	if _, ok := c.Tenants[r.SelectedTenant]; r.SelectedTenant != "" && !ok {
		return Result{}, apierr.ErrInvalidArgument.With("The access key is not in tenant %q", r.SelectedTenant)
	}
	var az *token.Authz
	if !k.Authz.Empty() {
		az = flow.TokenAuthz(c, r.SelectedTenant)
	}
	jwt, exp, err := p.Issuer.MintSession(token.Subject{UserID: k.ID, Authz: az})
	if err != nil {
		return Result{}, err
	}
	return Result{KeyID: k.ID, SessionJWT: jwt, Expiry: exp}, nil
}

func (x *Exchanger) charge(ctx context.Context, p *flow.Project, b store.Bucket, now time.Time) error {
	limited, would, retry, err := x.st.ChargeLimits(ctx, []store.Bucket{b}, now, p.Limits.DryRun)
	switch {
	case err != nil:
		return storeErr(err)
	case limited != "":
		x.refused(p, limited, false)
		x.log.InfoContext(ctx, "rate limit", "project", p.ID, "limit", limited, "dryRun", false)
		secs := int(math.Ceil(retry.Seconds()))
		return apierr.ErrRateLimited.With("Rate limit exceeded (limits.%s); retry in %d s", limited, max(secs, 1)).WithRetryAfter(secs)
	case would != "":
		x.refused(p, would, true)
		x.log.InfoContext(ctx, "rate limit", "project", p.ID, "limit", would, "dryRun", true)
	}
	return nil
}

func (x *Exchanger) refused(p *flow.Project, limit string, dry bool) {
	if x.refusal != nil {
		x.refusal.Refused(p.ID, limit, dry)
	}
}

func storeErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return errors.Join(apierr.ErrUnavailable, err)
	}
	return err
}

func on(r *config.Rate) bool { return r != nil && r.Count > 0 && r.Window > 0 }
