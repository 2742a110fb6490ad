package config

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
)

// Delivery status callbacks and provider failover (docs/delivery.md).
type Callbacks struct {
	// StatusCallbackURL is the public base URL of otpd's REST port as the
	// providers reach it (OTPD_STATUS_CALLBACK_URL, e.g.
	// https://otp.example.com); "" asks providers for no status callbacks.
	// Twilio signs the full URL it calls, so this must be exactly what it
	// calls (scheme, host, port, path prefix).
	StatusCallbackURL string
	// StatusCallbackRate is how many signed callback requests per second
	// the endpoint takes in all (OTPD_STATUS_CALLBACK_RATE, 200; a burst of
	// twice that; unsigned ones are refused before it); beyond it answers 429 and the status is lost (Twilio
	// does not retry status callbacks), never a code.
	StatusCallbackRate int
	// CircuitFailures transient failures of one provider within
	// CircuitWindow open its circuit for CircuitWindow: jobs skip it for the
	// next provider of the channel (OTPD_PROVIDER_CIRCUIT_FAILURES, 5;
	// OTPD_PROVIDER_CIRCUIT_WINDOW, 30s).
	CircuitFailures int
	CircuitWindow   time.Duration
}

// loadCallbacks reads the status callback and failover settings.
func (c *Config) loadCallbacks(get func(string, string) string, intVar func(string, string, int, int) int) []error {
	var errs []error
	if raw := get("OTPD_STATUS_CALLBACK_URL", ""); raw != "" {
		if err := checkCallbackURL(raw); err != nil {
			errs = append(errs, err)
		} else {
			c.StatusCallbackURL = strings.TrimRight(raw, "/")
		}
	}
	c.StatusCallbackRate = intVar("OTPD_STATUS_CALLBACK_RATE", "200", 1, 100000)
	c.CircuitFailures = intVar("OTPD_PROVIDER_CIRCUIT_FAILURES", "5", 1, 1000)
	if d, err := time.ParseDuration(get("OTPD_PROVIDER_CIRCUIT_WINDOW", "30s")); err != nil || d < time.Second || d > time.Hour {
		errs = append(errs, errors.New("OTPD_PROVIDER_CIRCUIT_WINDOW: must be a duration 1s..1h"))
	} else {
		c.CircuitWindow = d
	}
	return errs
}

// checkCallbackURL accepts an absolute https URL without credentials,
// query or fragment; http only for a loopback host (development).
func checkCallbackURL(raw string) error {
	bad := func(why string) error { return errors.New("OTPD_STATUS_CALLBACK_URL: " + why) }
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return bad("must be an absolute URL such as https://otp.example.com")
	case u.User != nil:
		return bad("must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return bad("must have no query or fragment")
	case len(raw) > 256:
		return bad("must be at most 256 characters")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return bad("http is allowed only for a loopback host; use https")
	}
	return bad("scheme must be https")
}
