package flow

import (
	"github.com/otpd/otpd/apierr"
)

// DeliveryOptions tells whether a project can deliver with the options a
// start names, so that a start naming an unknown template or provider is
// refused before anything is stored or charged (rather than replacing the
// live code and dead-lettering the message).
type DeliveryOptions interface {
	// HasTemplate reports whether templateID ("" for the default) exists.
	HasTemplate(project, templateID string) bool
	// HasProvider reports whether providerID ("" for the channel's
	// default) can deliver on channel.
	HasProvider(project, channel, providerID string) bool
}

// Bounds of loginOptions.templateOptions: they are sealed into every
// delivery job and rendered into the message, so one client must not make
// either grow at will.
const (
	MaxTemplateOptions      = 20
	MaxTemplateOptionKey    = 64
	MaxTemplateOptionValue  = 512
	MaxTemplateOptionsTotal = 4096
)

func checkTemplateOptions(opts map[string]string) error {
	if len(opts) > MaxTemplateOptions {
		return apierr.ErrInvalidArgument.With("templateOptions may hold at most %d entries", MaxTemplateOptions)
	}
	total := 0
	for k, v := range opts {
		if k == "" || len(k) > MaxTemplateOptionKey || len(v) > MaxTemplateOptionValue {
			return apierr.ErrInvalidArgument.With("templateOptions: keys are 1-%d bytes and values at most %d bytes", MaxTemplateOptionKey, MaxTemplateOptionValue)
		}
		total += len(k) + len(v)
	}
	if total > MaxTemplateOptionsTotal {
		return apierr.ErrInvalidArgument.With("templateOptions may hold at most %d bytes in all", MaxTemplateOptionsTotal)
	}
	return nil
}

func (e *Engine) checkDelivery(p *Project, ch Channel, templateID, providerID string, opts map[string]string) error {
	if err := checkTemplateOptions(opts); err != nil {
		return err
	}
	if e.options == nil {
		return nil
	}
	if !e.options.HasTemplate(p.ID, templateID) {
		return apierr.ErrInvalidArgument.With("Unknown templateId %q", truncate(templateID, 64))
	}
	if !e.options.HasProvider(p.ID, string(ch), providerID) {
		if providerID == "" {
			return apierr.ErrInvalidArgument.With("No provider is configured for %s", ch)
		}
		return apierr.ErrInvalidArgument.With("Unknown providerId %q", truncate(providerID, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// unverifiedContact validates the address of the other contact type a
// sign-up names (user.email on a phone channel, user.phone on email). It
// is stored on a new user unverified: shown by me, never a destination or
// a login id until an update proves it.
func unverifiedContact(raw string, ch Channel, region string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if ch == Email {
		return normalizeAddress(raw, SMS, region)
	}
	return normalizeAddress(raw, Email, region)
}
