package mgmt

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// MinKeyLen is the shortest management key accepted (characters).
const MinKeyLen = 32

// Key is one management key: an id for the logs and the SHA-256 of the
// secret (the secret itself is not kept).
type Key struct {
	ID   string
	hash [32]byte
}

// ParseKey reads one configured entry: "<id>=<secret>" or a bare secret,
// whose id is then "sha256:" and the first 12 hex digits of its SHA-256.
// An entry is named only when the part before the first '=' is an id
// (1–64 of [A-Za-z0-9_.-]) and the rest is long enough to be a secret, so
// a bare base64 secret ("…=" padding) is not split into an "id" that is
// most of the secret. The secret must be at least MinKeyLen characters and
// contain no ':' (the Authorization value splits on it) and no white
// space. Errors never repeat the entry.
func ParseKey(entry string) (Key, error) {
	entry = strings.TrimSpace(entry)
	id, secret, named := strings.Cut(entry, "=")
	if named && id == "" {
		return Key{}, fmt.Errorf("management key: the id before '=' is empty")
	}
	if !named || !isKeyID(id) || len(secret) < MinKeyLen {
		id, secret, named = "", entry, false
	}
	if len(secret) < MinKeyLen || strings.ContainsAny(secret, ": \t\r\n") {
		what := "management key"
		if named {
			what += " " + fmt.Sprintf("%q", id)
		}
		return Key{}, fmt.Errorf("%s: must be at least %d characters, without ':' or spaces (an entry is <id>=<secret> or a bare secret)", what, MinKeyLen)
	}
	k := Key{hash: sha256.Sum256([]byte(secret))}
	if named {
		k.ID = id
	} else {
		k.ID = "sha256:" + hex.EncodeToString(k.hash[:6])
	}
	return k, nil
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
