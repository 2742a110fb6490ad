package config

import (
	"fmt"

	"github.com/otpd/otpd/token"
)

// SigningKeys reads and parses a project's signingKeyFiles and checks the
// first against its algorithm. It returns every problem, each naming the
// file's position in the list (never the key). Startup builds the
// project's key set from what it returns; `otpd config check` runs it
// through Check.
func SigningKeys(p *Project, read ReadFile) ([]*token.Key, []error) {
	var keys []*token.Key
	var errs []error
	for i, f := range p.SigningKeyFiles {
		b, err := read(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("signingKeyFiles[%d]: %w", i, err))
			continue
		}
		k, err := token.ParseKeyPEM(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("signingKeyFiles[%d] %s: %w", i, f, err))
			continue
		}
		if i == 0 && p.Algorithm != "" {
			if want, err := token.ParseAlgorithm(p.Algorithm); err == nil && want != k.Algorithm() {
				errs = append(errs, fmt.Errorf("algorithm %s, but signingKeyFiles[0] is an %s key", want, k.Algorithm()))
			}
		}
		keys = append(keys, k)
	}
	return keys, errs
}
