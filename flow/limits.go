package flow

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/store"
)

// Limit names, as reported in errors, logs and metrics: each is the
// limit's key in a project's `limits:` settings (sendsPerIp, not
// sends_per_ip), so an operator who sees a refusal finds the setting to
// change by its name.
const (
	LimitSendsPerLoginID   = "sendsPerLoginId"
	LimitSendsPerRecipient = "sendsPerRecipient"
	LimitResendCooldown    = "resendCooldown"
	LimitSendsPerIP        = "sendsPerIp"
	LimitSendsPerPrefix    = "sendsPerPhonePrefix"
	LimitSendsPerCountry   = "sendsPerCountry"
	LimitProjectBudget     = "projectSendsPerHour"
	LimitVerifiesPerIP     = "verifiesPerIp"
	LimitVerifiesPerID     = "verifiesPerLoginId"
	LimitRefreshesPerIP    = "refreshesPerIp"
	LimitRefreshesPerUser  = "refreshesPerUser"
)

// Metrics count refusals by limit.
type Metrics struct {
	refusals *prometheus.CounterVec
	// notices counts security notices that could not be queued.
	notices prometheus.Counter
}

// NewMetrics registers the flow metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpd_limit_refusals_total",
		Help: "Requests refused (or, in dry run, that would have been) by limit name.",
	}, []string{"project", "limit", "dry_run"}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpd_security_notice_failures_total",
			Help: "Security notices (a verified email or phone changed) that could not be queued; the change was made.",
		})}
	for _, c := range []prometheus.Collector{m.refusals, m.notices} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) noticeFailed() {
	if m != nil {
		m.notices.Inc()
	}
}

func (e *Engine) refused(ctx context.Context, p *Project, limit string, dry bool) {
	if limit == "" {
		return
	}
	if e.metrics != nil {
		e.metrics.refusals.WithLabelValues(p.ID, limit, fmt.Sprint(dry)).Inc()
	}
	e.log.InfoContext(ctx, "rate limit", "project", p.ID, "limit", limit, "dryRun", dry)
}

// rateLimited is the caller-facing refusal.
func rateLimited(limit string, retry time.Duration) error {
	secs := int(math.Ceil(retry.Seconds()))
	return apierr.ErrRateLimited.With("Rate limit exceeded (limits.%s); retry in %d s", limit, max(secs, 1)).WithRetryAfter(secs)
}

// on reports whether a limit is configured (count > 0).
func on(r *config.Rate) bool { return r != nil && r.Count > 0 && r.Window > 0 }

func bucket(name, key string, r *config.Rate) store.Bucket {
	return store.Bucket{Name: name, Key: key, Count: r.Count, Window: r.Window.D()}
}

// startLimits are the buckets a start charges. phone is the destination
// number when the request determines it ("" otherwise: email, or an
// existing user reached through a user name, whose number was checked when
// it was stored).
//
// Per-recipient budgets are the primary per-user limit. The recipient of a
// start is fixed by its login id and channel (an existing user's stored
// contact, an address-shaped login id, a second factor's verified contact):
// that bucket lives on the login id's slot and is charged only when a code
// is stored, so a start that sends nothing answers its own error. When the
// request names the recipient (a new user name's address, an update's new
// address) the address itself is charged as well, project-wide, so many
// login ids cannot flood one address; an update is charged to the address
// it sends to, not to the login id.
func startLimits(p *Project, a startArgs, phone string) store.Limits {
	l := p.Limits
	ch, loginID := a.channel, a.loginID
	out := store.Limits{DryRun: l.DryRun, ChargeRefused: p.EnumerationProtection}
	if a.ip != "" && on(l.SendsPerIP) {
		out.Global = append(out.Global, bucket(LimitSendsPerIP, store.LimitKey(p.ID, "send-ip", a.ip), l.SendsPerIP))
	}
	if phone != "" && (on(l.SendsPerPhonePrefix) || on(l.SendsPerCountry)) {
		digits := phone[1:]
		if len(digits) > l.PhonePrefixDigits {
			digits = digits[:l.PhonePrefixDigits]
		}
		if on(l.SendsPerPhonePrefix) {
			out.Global = append(out.Global, bucket(LimitSendsPerPrefix, store.LimitKey(p.ID, "send-prefix", string(ch), digits), l.SendsPerPhonePrefix))
		}
		if cc := regionOf(phone); cc != "" && on(l.SendsPerCountry) {
			out.Global = append(out.Global, bucket(LimitSendsPerCountry, store.LimitKey(p.ID, "send-country", string(ch), cc), l.SendsPerCountry))
		}
	}
	if n := l.ProjectSendsPerHour[string(ch)]; n > 0 {
		// Every start of the project charges it: on Cluster the store
		// splits it over sub-buckets (docs/abuse-protection.md).
		out.Global = append(out.Global, store.Bucket{Name: LimitProjectBudget, Key: store.LimitKey(p.ID, "send-project", string(ch)),
			Count: n, Window: time.Hour, Sharded: true})
	}
	named := a.namedRecipient()
	if on(l.SendsPerRecipient) {
		if named != "" {
			out.Global = append(out.Global, bucket(LimitSendsPerRecipient, store.LimitKey(p.ID, "send-to", string(ch), named), l.SendsPerRecipient))
		}
		if a.op != update {
			out.Login = append(out.Login, bucket(LimitSendsPerRecipient, store.LoginLimitKey(p.ID, loginID, "send:"+string(ch)), l.SendsPerRecipient))
		}
	}
	if on(l.SendsPerLoginID) {
		out.Login = append(out.Login, bucket(LimitSendsPerLoginID, store.LoginLimitKey(p.ID, loginID, "send"), l.SendsPerLoginID))
	}
	if cd := l.ResendCooldown; cd != nil && *cd > 0 {
		if a.op == update {
			out.Global = append(out.Global, store.Bucket{Name: LimitResendCooldown, Key: store.LimitKey(p.ID, "cooldown", string(ch), a.newAddr), Count: 1, Window: cd.D()})
		} else {
			out.Login = append(out.Login, store.Bucket{Name: LimitResendCooldown, Key: cooldownKey(p, loginID, ch), Count: 1, Window: cd.D()})
		}
	}
	return out
}

// cooldownKey is a login id's resend cooldown on a channel; a verified
// code clears it, so the next flow is never held back.
func cooldownKey(p *Project, loginID string, ch Channel) string {
	return store.LoginLimitKey(p.ID, loginID, "cooldown:"+string(ch))
}

// namedRecipient is the address the request chose for this start, when it
// is not fixed by the login id: an update's new address, or a new user
// name's address ("" otherwise).
func (a startArgs) namedRecipient() string {
	switch {
	case a.op == update:
		return a.newAddr
	case a.rule != store.RuleOwner && a.newAddr != "" && a.newAddr != a.loginAddr:
		return a.newAddr
	}
	return ""
}

// verifyLimits are the buckets every verify attempt charges.
func verifyLimits(p *Project, loginID string, ch Channel, ip string) store.Limits {
	l := p.Limits
	out := store.Limits{DryRun: l.DryRun}
	if cd := l.ResendCooldown; cd != nil && *cd > 0 {
		out.Clear = cooldownKey(p, loginID, ch)
	}
	if ip != "" && on(l.VerifiesPerIP) {
		out.Global = append(out.Global, bucket(LimitVerifiesPerIP, store.LimitKey(p.ID, "verify-ip", ip), l.VerifiesPerIP))
	}
	if on(l.VerifiesPerLoginID) {
		out.Login = append(out.Login, bucket(LimitVerifiesPerID, store.LoginLimitKey(p.ID, loginID, "verify"), l.VerifiesPerLoginID))
	}
	return out
}

// refreshLimits are the buckets a refresh charges: the client IP's (every
// refresh with a valid signature) and the user's (live tokens only).
func refreshLimits(p *Project, userID, ip string) store.Limits {
	l := p.Limits
	out := store.Limits{DryRun: l.DryRun}
	if ip != "" && on(l.RefreshesPerIP) {
		out.Global = append(out.Global, bucket(LimitRefreshesPerIP, store.LimitKey(p.ID, "refresh-ip", ip), l.RefreshesPerIP))
	}
	if on(l.RefreshesPerUser) {
		out.Login = append(out.Login, bucket(LimitRefreshesPerUser, store.UserLimitKey(p.ID, userID, "refresh"), l.RefreshesPerUser))
	}
	return out
}

func regionOf(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}

// checkPhone applies the project's phone policy for the channel: country
// allow/deny lists, and number types that cannot (or must not) receive it.
func checkPhone(p *Project, ch Channel, e164 string) error {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return apierr.ErrInvalidArgument.With("The phone number is not valid")
	}
	pol := p.PhonePolicy[string(ch)]
	cc := phonenumbers.GetRegionCodeForNumber(n)
	if len(pol.AllowCountries) > 0 && !slices.Contains(pol.AllowCountries, cc) || slices.Contains(pol.DenyCountries, cc) {
		return apierr.ErrNumberNotAllowed.With("Phone numbers of country %s cannot receive codes by %s", cc, ch)
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.PREMIUM_RATE:
		return apierr.ErrNumberNotAllowed.With("Premium-rate numbers cannot receive codes")
	case phonenumbers.SHARED_COST:
		return apierr.ErrNumberNotAllowed.With("Shared-cost numbers cannot receive codes")
	case phonenumbers.FIXED_LINE:
		if ch != Voice && !pol.AllowLandlines {
			return apierr.ErrNumberNotAllowed.With("Landline numbers cannot receive codes by %s", ch)
		}
	}
	return nil
}

// Limiter charges project-wide buckets on their own (store.RedisStore).
type Limiter interface {
	ChargeLimits(ctx context.Context, bs []store.Bucket, now time.Time, dry bool) (limited, would string, retry time.Duration, err error)
}

// chargeRefusedStart charges the per-IP send limit for a start refused
// before the start script, which charges it first for its own refusals
// (an unknown user): a refusal that tells something about a user costs a
// client what asking by a start costs. Nil when within the limit; then
// the caller answers its own refusal.
func (e *Engine) chargeRefusedStart(ctx context.Context, p *Project, ip string) error {
	l := p.Limits
	if e.limiter == nil || ip == "" || !on(l.SendsPerIP) {
		return nil
	}
	limited, would, retry, err := e.limiter.ChargeLimits(ctx,
		[]store.Bucket{bucket(LimitSendsPerIP, store.LimitKey(p.ID, "send-ip", ip), l.SendsPerIP)}, e.clock.Now(), l.DryRun)
	if err != nil {
		return storeErr(err)
	}
	e.refused(ctx, p, would, true)
	if limited != "" {
		e.refused(ctx, p, limited, false)
		return rateLimited(limited, retry)
	}
	return nil
}
