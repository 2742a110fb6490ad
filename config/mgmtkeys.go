package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MinManagementKeyLen is the shortest management key accepted (characters).
const MinManagementKeyLen = 32

// ParseManagementKey reads one configured management key entry:
// "<id>=<secret>" or a bare secret, whose id is then "sha256:" and the
// first 12 hex digits of its SHA-256. An entry is named only when the part
// before the first '=' is an id (1–64 of [A-Za-z0-9_.-]) and the rest is
// long enough to be a secret, so a bare base64 secret ("…=" padding) is
// not split into an "id" that is most of the secret. The secret must be
// at least MinManagementKeyLen characters and contain no ':' (the
// Authorization value splits on it) and no white space. Errors never
// repeat the entry. Startup (package mgmt) and `otpd config check` both
// read keys through this function.
func ParseManagementKey(entry string) (id, secret string, err error) {
	entry = strings.TrimSpace(entry)
	id, secret, named := strings.Cut(entry, "=")
	if named && id == "" {
		return "", "", fmt.Errorf("management key: the id before '=' is empty")
	}
	if !named || !isKeyID(id) || len(secret) < MinManagementKeyLen {
		id, secret, named = "", entry, false
	}
	if len(secret) < MinManagementKeyLen || strings.ContainsAny(secret, ": \t\r\n") {
		what := "management key"
		if named {
			what += " " + fmt.Sprintf("%q", id)
		}
		return "", "", fmt.Errorf("%s: must be at least %d characters, without ':' or spaces (an entry is <id>=<secret> or a bare secret)", what, MinManagementKeyLen)
	}
	if !named {
		h := sha256.Sum256([]byte(secret))
		id = "sha256:" + hex.EncodeToString(h[:6])
	}
	return id, secret, nil
}

// checkManagementKeys reports every entry that does not parse and every
// id listed twice.
func checkManagementKeys(entries []string) []error {
	var errs []error
	seen := map[string]bool{}
	for i, e := range entries {
		id, _, err := ParseManagementKey(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("management keys, entry %d of %d: %w", i+1, len(entries), err))
			continue
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("management key id %q is listed twice", id))
		}
		seen[id] = true
	}
	return errs
}

// isKeyID reports whether s can name a management key in the logs.
func isKeyID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
