package config

import (
	"errors"
	"fmt"
	"strings"
)

// Report is what Check found. Problems stop startup and fail `otpd config
// check`; Warnings are logged at startup and printed by config check, and
// stop neither.
type Report struct {
	Problems []string
	Warnings []string
}

// Err is nil without problems, else one error listing them all.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration:\n" + strings.Join(r.Problems, "\n"))
}

// ProjectCheck checks what package config cannot itself (a project's
// templates and providers, which package server builds).
type ProjectCheck func(p *Project) []error

// Check is the one validation startup and `otpd config check` both run:
// Load's settings, secrets and management keys, listen addresses, every
// project's signing key files, and the given project checks (templates
// and provider secrets), reporting every problem in one pass. environ
// (os.Environ()) is scanned for OTPD_* variables otpd does not read: a
// misspelt name would otherwise leave its setting at the default without
// a word (OTPD_REDIS_ULR runs on the embedded Redis).
//
// The returned Config is complete only when Report has no problems.
func Check(env Env, read ReadFile, environ []string, checks ...ProjectCheck) (*Config, Report) {
	c, errs := load(env, read)
	var r Report
	for _, e := range errs {
		for _, l := range strings.Split(e.Error(), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				r.Problems = append(r.Problems, l)
			}
		}
	}
	for i := range c.Projects {
		p := &c.Projects[i]
		_, kerrs := SigningKeys(p, read)
		for _, e := range kerrs {
			r.Problems = append(r.Problems, fmt.Sprintf("project %d (%q): %v", i, p.ID, e))
		}
		// A delivery section config already refused is not built again
		// (the same problem would be reported twice).
		if len(p.Delivery.validate(c.Embedded())) > 0 {
			continue
		}
		for _, check := range checks {
			for _, e := range check(p) {
				r.Problems = append(r.Problems, fmt.Sprintf("project %d (%q): %v", i, p.ID, e))
			}
		}
	}
	r.Warnings = append(r.Warnings, unknownEnv(environ, c)...)
	return c, r
}
