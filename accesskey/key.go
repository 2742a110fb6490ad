// Package accesskey is access keys' own logic: the cleartext format, its
// hash, permitted IPs, and the exchange of a key for a session JWT
// (docs/authorization.md, "Access keys"). Storage is store.AccessKeys;
// the management operations are in package mgmt.
package accesskey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// The format of a key:
//
//	id        "K" + 26 base32 characters (16 random bytes)
//	cleartext id + "." + 43 base64url characters (32 random bytes)
//
// The id is not secret (it is the subject of the key's session JWTs and
// is listed by the management API); the 256 random bits after it are.
// The store keeps SHA-256(cleartext), never the cleartext. A plain
// SHA-256 is enough, and a slow password hash or a keyed HMAC would add
// nothing: the secret is 256 uniformly random bits, so nobody who reads
// the hash (a Redis dump) can find a preimage by guessing, and the hash
// needs no server-side secret that would have to be shared by every
// replica and rotated. The comparison is in constant time.
const (
	IDPrefix    = "K"
	idBytes     = 16
	secretBytes = 32
	// IDLen and ClearLen are the lengths of an id and a cleartext.
	IDLen    = 1 + 26
	ClearLen = IDLen + 1 + 43
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New makes a key from random: its id, its cleartext (shown once) and the
// hash to store.
func New(random io.Reader) (id, cleartext string, hash []byte, err error) {
	var b [idBytes + secretBytes]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", "", nil, fmt.Errorf("accesskey: reading random: %w", err)
	}
	id = IDPrefix + idEncoding.EncodeToString(b[:idBytes])
	cleartext = id + "." + base64.RawURLEncoding.EncodeToString(b[idBytes:])
	return id, cleartext, Hash(cleartext), nil
}

// Hash is what the store keeps of a cleartext.
func Hash(cleartext string) []byte {
	h := sha256.Sum256([]byte(cleartext))
	return h[:]
}

// Matches compares a cleartext with a stored hash in constant time.
func Matches(cleartext string, hash []byte) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(Hash(cleartext), hash) == 1
}

// ParseID returns the key id of a well-formed cleartext.
func ParseID(cleartext string) (string, bool) {
	if len(cleartext) != ClearLen || cleartext[IDLen] != '.' || !ValidID(cleartext[:IDLen]) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(cleartext[IDLen+1:]); err != nil {
		return "", false
	}
	return cleartext[:IDLen], true
}

// ValidID reports whether id has the shape of a key id.
func ValidID(id string) bool {
	if len(id) != IDLen || !strings.HasPrefix(id, IDPrefix) {
		return false
	}
	b, err := idEncoding.DecodeString(id[1:])
	return err == nil && idEncoding.EncodeToString(b) == id[1:] // canonical: no stray trailing bits
}
