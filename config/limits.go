package config

import (
	"fmt"
	"regexp"
	"time"
)

// Rate is Count events per Window. Count 0 disables the limit.
type Rate struct {
	Count  int      `json:"count"`
	Window Duration `json:"window"`
}

// Limits are a project's abuse limits. Unset fields take the defaults
// below; set a Rate's count to 0 to turn it off.
type Limits struct {
	// DryRun logs and counts refusals without refusing.
	DryRun bool `json:"dryRun,omitempty"`
	// SendsPerRecipient is the primary per-user limit, like Descope's
	// "number of retries and attempts timeframe": codes one recipient (a
	// destination address, per channel) may receive.
	SendsPerRecipient *Rate `json:"sendsPerRecipient,omitempty"`
	// Sends (starts that store a code) per login id, all channels: a
	// broader cap over every channel and flow of one login id.
	SendsPerLoginID *Rate `json:"sendsPerLoginId,omitempty"`
	// ResendCooldown is the least time between two codes for one login id
	// on one channel (an update's: for its new address). Off (0) by
	// default; a verified code clears it.
	ResendCooldown *Duration `json:"resendCooldown,omitempty"`
	// Starts per client IP, all channels.
	SendsPerIP *Rate `json:"sendsPerIp,omitempty"`
	// Starts per phone-number prefix (the first PhonePrefixDigits digits of
	// the E.164 number) per channel.
	SendsPerPhonePrefix *Rate `json:"sendsPerPhonePrefix,omitempty"`
	PhonePrefixDigits   int   `json:"phonePrefixDigits,omitempty"`
	// Starts per destination country per channel.
	SendsPerCountry *Rate `json:"sendsPerCountry,omitempty"`
	// ProjectSendsPerHour is the project-wide budget per channel.
	ProjectSendsPerHour map[string]int `json:"projectSendsPerHour,omitempty"`
	// Verify attempts per client IP and per login id (on top of the
	// per-code attempt cap).
	VerifiesPerIP      *Rate `json:"verifiesPerIp,omitempty"`
	VerifiesPerLoginID *Rate `json:"verifiesPerLoginId,omitempty"`
	// Refreshes (POST /v1/auth/refresh) per user and per client IP.
	RefreshesPerUser *Rate `json:"refreshesPerUser,omitempty"`
	RefreshesPerIP   *Rate `json:"refreshesPerIp,omitempty"`
	// Access-key exchanges (POST /v1/auth/accesskey/exchange) per key
	// (charged once the key is proven) and per client IP (every attempt).
	AccessKeyExchangesPerKey *Rate `json:"accessKeyExchangesPerKey,omitempty"`
	AccessKeyExchangesPerIP  *Rate `json:"accessKeyExchangesPerIp,omitempty"`
}

// The default limits.
var (
	DefaultSendsPerRecipient   = Rate{10, Duration(10 * time.Minute)}
	DefaultSendsPerLoginID     = Rate{30, Duration(time.Hour)}
	DefaultResendCooldown      = Duration(0)
	DefaultSendsPerIP          = Rate{100, Duration(time.Hour)}
	DefaultSendsPerPhonePrefix = Rate{30, Duration(time.Hour)}
	DefaultPhonePrefixDigits   = 8
	DefaultSendsPerCountry     = Rate{500, Duration(time.Hour)}
	DefaultVerifiesPerIP       = Rate{60, Duration(10 * time.Minute)}
	DefaultVerifiesPerLoginID  = Rate{20, Duration(10 * time.Minute)}
	// A service exchanges its key about once per session TTL per
	// replica; these leave room for hundreds of replicas.
	DefaultAccessKeyExchangesPerKey = Rate{600, Duration(10 * time.Minute)}
	DefaultAccessKeyExchangesPerIP  = Rate{600, Duration(10 * time.Minute)}
)

// DefaultProjectSendsPerHour returns the default per-channel budget.
func DefaultProjectSendsPerHour() map[string]int {
	return map[string]int{"email": 10000, "sms": 1000, "voice": 300, "whatsapp": 1000}
}

// Unlimited returns Limits with every limit off (tests, benchmarks).
func Unlimited() Limits {
	zero, zd := &Rate{}, Duration(0)
	return Limits{SendsPerRecipient: zero, SendsPerLoginID: zero, ResendCooldown: &zd, SendsPerIP: zero, SendsPerPhonePrefix: zero,
		SendsPerCountry: zero, VerifiesPerIP: zero, VerifiesPerLoginID: zero, RefreshesPerUser: zero, RefreshesPerIP: zero,
		AccessKeyExchangesPerKey: zero, AccessKeyExchangesPerIP: zero,
		ProjectSendsPerHour: map[string]int{"email": 0, "sms": 0, "voice": 0, "whatsapp": 0}}
}

func (l *Limits) applyDefaults() {
	set := func(r **Rate, def Rate) {
		if *r == nil {
			v := def
			*r = &v
		}
	}
	set(&l.SendsPerRecipient, DefaultSendsPerRecipient)
	set(&l.SendsPerLoginID, DefaultSendsPerLoginID)
	set(&l.SendsPerIP, DefaultSendsPerIP)
	set(&l.SendsPerPhonePrefix, DefaultSendsPerPhonePrefix)
	set(&l.SendsPerCountry, DefaultSendsPerCountry)
	set(&l.VerifiesPerIP, DefaultVerifiesPerIP)
	set(&l.VerifiesPerLoginID, DefaultVerifiesPerLoginID)
	set(&l.RefreshesPerUser, DefaultRefreshesPerUser)
	set(&l.RefreshesPerIP, DefaultRefreshesPerIP)
	set(&l.AccessKeyExchangesPerKey, DefaultAccessKeyExchangesPerKey)
	set(&l.AccessKeyExchangesPerIP, DefaultAccessKeyExchangesPerIP)
	if l.ResendCooldown == nil {
		d := DefaultResendCooldown
		l.ResendCooldown = &d
	}
	if l.PhonePrefixDigits == 0 {
		l.PhonePrefixDigits = DefaultPhonePrefixDigits
	}
	def := DefaultProjectSendsPerHour()
	if l.ProjectSendsPerHour == nil {
		l.ProjectSendsPerHour = def
	}
	for ch, n := range def {
		if _, ok := l.ProjectSendsPerHour[ch]; !ok {
			l.ProjectSendsPerHour[ch] = n
		}
	}
}

func (l *Limits) validate() []error {
	var errs []error
	for name, r := range map[string]*Rate{"sendsPerRecipient": l.SendsPerRecipient, "sendsPerLoginId": l.SendsPerLoginID, "sendsPerIp": l.SendsPerIP,
		"sendsPerPhonePrefix": l.SendsPerPhonePrefix, "sendsPerCountry": l.SendsPerCountry,
		"verifiesPerIp": l.VerifiesPerIP, "verifiesPerLoginId": l.VerifiesPerLoginID,
		"refreshesPerUser": l.RefreshesPerUser, "refreshesPerIp": l.RefreshesPerIP,
		"accessKeyExchangesPerKey": l.AccessKeyExchangesPerKey, "accessKeyExchangesPerIp": l.AccessKeyExchangesPerIP} {
		if r.Count < 0 || (r.Count > 0 && r.Window.D() < time.Second) || r.Window.D() > 31*24*time.Hour {
			errs = append(errs, fmt.Errorf("limits.%s: count must be >= 0 and window between 1s and 31 days", name))
		}
	}
	if d := l.ResendCooldown.D(); d < 0 || d > time.Hour {
		errs = append(errs, fmt.Errorf("limits.resendCooldown %s: must be 0..1h", d))
	}
	if l.PhonePrefixDigits < 2 || l.PhonePrefixDigits > 15 {
		errs = append(errs, fmt.Errorf("limits.phonePrefixDigits %d: must be 2..15", l.PhonePrefixDigits))
	}
	for ch, n := range l.ProjectSendsPerHour {
		if !isChannel(ch) || n < 0 {
			errs = append(errs, fmt.Errorf("limits.projectSendsPerHour: %q: channel must be email, sms, voice or whatsapp and the budget >= 0", ch))
		}
	}
	return errs
}

// PhonePolicy is which phone numbers a channel may send to.
type PhonePolicy struct {
	// AllowCountries, when not empty, is the only countries allowed
	// (ISO 3166 alpha-2). DenyCountries are refused.
	AllowCountries []string `json:"allowCountries,omitempty"`
	DenyCountries  []string `json:"denyCountries,omitempty"`
	// AllowLandlines lets sms/whatsapp send to fixed-line numbers (refused
	// by default; voice always allows them).
	AllowLandlines bool `json:"allowLandlines,omitempty"`
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

func validatePolicies(ps map[string]PhonePolicy) []error {
	var errs []error
	for ch, p := range ps {
		if !isChannel(ch) || ch == "email" {
			errs = append(errs, fmt.Errorf("phonePolicy: %q is not a phone channel (sms, voice, whatsapp)", ch))
		}
		for _, c := range append(append([]string{}, p.AllowCountries...), p.DenyCountries...) {
			if !countryCode.MatchString(c) {
				errs = append(errs, fmt.Errorf("phonePolicy.%s: %q is not an upper-case ISO 3166 alpha-2 code", ch, c))
			}
		}
	}
	return errs
}

func isChannel(ch string) bool {
	return ch == "email" || ch == "sms" || ch == "voice" || ch == "whatsapp"
}
