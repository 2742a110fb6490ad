package config

import (
	"fmt"
	"slices"
	"strings"
)

// NotForProduction lists the settings of c that make it a development or
// load-test configuration, one line each naming the setting: the embedded
// Redis, limits switched off (the load-test preset, docs/load-testing.md),
// the noop and log providers, a forced dev console. Such a configuration is
// valid (otpd serves it), so these are warnings, not problems; `otpd config
// check` prints them loudly and the server logs them at startup.
func NotForProduction(c *Config) []string {
	var out []string
	if c.Embedded() {
		out = append(out, "embedded Redis (no OTPD_REDIS_URL): every code, user and session is lost when otpd stops")
	}
	if c.DevConsoleForced {
		out = append(out, "OTPD_DEV_CONSOLE=true: the development console shows every code in clear")
	}
	for _, p := range c.Projects {
		if off := p.Limits.Off(); len(off) > 0 {
			out = append(out, fmt.Sprintf("project %q: limits off (%s): nothing stops a flood of sends, SMS pumping or code guessing",
				p.ID, strings.Join(off, ", ")))
		}
		if p.Limits.DryRun {
			out = append(out, fmt.Sprintf("project %q: limits.dryRun: limits count but refuse nothing", p.ID))
		}
		for _, pr := range p.Delivery.Providers {
			switch pr.Type {
			case "noop":
				out = append(out, fmt.Sprintf("project %q: provider %q is noop: codes are stored but never sent to anyone", p.ID, pr.ID))
			case "log":
				out = append(out, fmt.Sprintf("project %q: provider %q is log: codes are written to otpd's output in clear", p.ID, pr.ID))
			}
		}
		if len(p.Delivery.Providers) == 0 && c.Embedded() {
			out = append(out, fmt.Sprintf("project %q: no provider: the development log provider writes codes to otpd's output in clear", p.ID))
		}
	}
	return out
}

// Off returns the keys of the limits that are switched off (count 0, or a
// zero project budget), sorted. The defaults switch off only
// resendCooldown, which is not listed: it is off by design (abuse-protection.md).
func (l *Limits) Off() []string {
	var off []string
	for name, r := range map[string]*Rate{"sendsPerRecipient": l.SendsPerRecipient, "sendsPerLoginId": l.SendsPerLoginID, "sendsPerIp": l.SendsPerIP,
		"sendsPerPhonePrefix": l.SendsPerPhonePrefix, "sendsPerCountry": l.SendsPerCountry,
		"verifiesPerIp": l.VerifiesPerIP, "verifiesPerLoginId": l.VerifiesPerLoginID,
		"refreshesPerUser": l.RefreshesPerUser, "refreshesPerIp": l.RefreshesPerIP} {
		if r != nil && (r.Count <= 0 || r.Window <= 0) {
			off = append(off, name)
		}
	}
	for ch, n := range l.ProjectSendsPerHour {
		if n <= 0 {
			off = append(off, "projectSendsPerHour."+ch)
		}
	}
	slices.Sort(off)
	return off
}
