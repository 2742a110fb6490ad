package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/token"
)

// buildProjects loads (or, in embedded mode, generates) each project's
// signing keys and makes its issuer.
func buildProjects(o Options) (flow.ProjectMap, error) {
	read := o.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	out := flow.ProjectMap{}
	for _, pc := range o.Config.Projects {
		// The same reading and checks as `otpd config check` (config.Check).
		keys, errs := config.SigningKeys(&pc, read)
		if len(errs) > 0 {
			return nil, fmt.Errorf("project %s: %w", pc.ID, errors.Join(errs...))
		}
		if len(keys) == 0 {
			alg, err := token.ParseAlgorithm(pc.Algorithm)
			if err != nil {
				return nil, fmt.Errorf("project %s: %w", pc.ID, err)
			}
			k, err := token.GenerateKey(alg)
			if err != nil {
				return nil, err
			}
			o.Log.Warn("no signing key file: generated a key for this process; its tokens stop validating when otpd restarts",
				"project", pc.ID, "algorithm", alg, "kid", k.ID())
			keys = []*token.Key{k}
		}
		ks, err := token.NewKeySet(keys[0], keys[1:]...)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", pc.ID, err)
		}
		iss, err := token.NewIssuer(token.Config{
			ProjectID: pc.ID, SessionTTL: pc.SessionTTL.D(), RefreshTTL: pc.RefreshTTL.D(),
		}, ks, o.Clock.Now, o.Random)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", pc.ID, err)
		}
		out[pc.ID] = &flow.Project{
			ID: pc.ID, CodeLength: pc.CodeLength, CodeTTL: pc.CodeTTL.D(), MaxAttempts: pc.MaxAttempts,
			DefaultPhoneRegion: pc.DefaultPhoneRegion, CookieDomain: pc.CookieDomain, CookiePath: pc.CookiePath,
			RefreshTTL: pc.RefreshTTL.D(), SessionTTL: pc.SessionTTL.D(), Issuer: iss, Keys: ks,
			RotateRefresh: pc.RefreshRotation, RefreshGrace: pc.RefreshRotationGrace.D(),
			MaxRefreshTokens: pc.MaxRefreshTokensPerUser,
			SessionCookie:    pc.SessionTokenResponseMethod == "cookies",
			RefreshCookie:    pc.RefreshTokenResponseMethod == "cookies",
			Limits:           pc.Limits, PhonePolicy: pc.PhonePolicy,
			EnumerationProtection: pc.EnumerationProtection,
			RecentSignIn:          pc.RecentSignInMaxAge.D(),
		}
	}
	return out, nil
}

// managementKeys reads each project's management keys (from files or the
// environment, never the config file) into a key ring.
func managementKeys(c *config.Config) (*mgmt.KeyRing, error) {
	entries := map[string][]string{}
	for _, p := range c.Projects {
		entries[p.ID] = p.ManagementKeys
	}
	return mgmt.NewKeyRing(entries)
}
