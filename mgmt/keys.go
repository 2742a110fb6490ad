package mgmt

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/otpd/otpd/config"
)

// MinKeyLen is the shortest management key accepted (characters).
const MinKeyLen = config.MinManagementKeyLen

// Key is one management key: an id for the logs and the SHA-256 of the
// secret (the secret itself is not kept).
type Key struct {
	ID   string
	hash [32]byte
}

// ParseKey reads one configured entry (see config.ParseManagementKey, the
// rules `otpd config check` applies too).
func ParseKey(entry string) (Key, error) {
	id, secret, err := config.ParseManagementKey(entry)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, hash: sha256.Sum256([]byte(secret))}, nil
}

// KeyRing holds each project's active management keys. Several keys may
// be active at once, so a new key can be rolled out before the old one is
// removed.
type KeyRing struct {
	keys map[string][]Key
}

// NewKeyRing parses each project's entries.
func NewKeyRing(entries map[string][]string) (*KeyRing, error) {
	r := &KeyRing{keys: map[string][]Key{}}
	for project, es := range entries {
		seen := map[string]bool{}
		for _, e := range es {
			k, err := ParseKey(e)
			if err != nil {
				return nil, fmt.Errorf("project %s: %w", project, err)
			}
			if seen[k.ID] {
				return nil, fmt.Errorf("project %s: management key id %q is listed twice", project, k.ID)
			}
			seen[k.ID] = true
			r.keys[project] = append(r.keys[project], k)
		}
	}
	return r, nil
}

// Check returns the id of the project's key that secret is, comparing the
// SHA-256 of secret with every key in constant time (no early exit).
func (r *KeyRing) Check(project, secret string) (string, bool) {
	if r == nil || secret == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(secret))
	var id string
	for _, k := range r.keys[project] {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			id = k.ID
		}
	}
	return id, id != ""
}

// Count is the number of keys of a project.
func (r *KeyRing) Count(project string) int {
	if r == nil {
		return 0
	}
	return len(r.keys[project])
}
