// Package seal encrypts delivery jobs at rest (AES-256-GCM), so that a
// Redis dump, backup or replica yields no one-time codes.
//
// Keys rotate: the first key seals, every key opens. A sealed value names
// the key that sealed it (the first 4 bytes of SHA-256 of the key), so
// opening never guesses. The caller binds each value to its context (the
// job id) as additional authenticated data, so a sealed job cannot be
// swapped into another job's entry.
//
// Format: 0x01 | key id (4) | nonce (12) | ciphertext+tag.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

const (
	version  = 0x01
	idLen    = 4
	nonceLen = 12
	// KeySize is the length of a sealing key (AES-256).
	KeySize = 32
)

// ErrOpen is returned for values that do not open: tampered, truncated,
// bound to other data, or sealed by a key no longer configured.
var ErrOpen = errors.New("seal: cannot open value")

type key struct {
	id   [idLen]byte
	aead cipher.AEAD
}

// Sealer seals and opens values. Safe for concurrent use.
type Sealer struct {
	keys []key
}

// New takes the keys, newest first; each must be KeySize bytes.
func New(keys [][]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	s := &Sealer{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		var id [idLen]byte
		copy(id[:], sum[:idLen])
		for _, prev := range s.keys {
			if prev.id == id {
				return nil, fmt.Errorf("seal: key %d is listed twice", i)
			}
		}
		s.keys = append(s.keys, key{id: id, aead: aead})
	}
	return s, nil
}

// Seal encrypts plaintext with the newest key, bound to aad.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	k := s.keys[0]
	out := make([]byte, 1+idLen+nonceLen, 1+idLen+nonceLen+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:], k.id[:])
	nonce := out[1+idLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a sealed value bound to aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+idLen+nonceLen || sealed[0] != version {
		return nil, ErrOpen
	}
	var id [idLen]byte
	copy(id[:], sealed[1:])
	for _, k := range s.keys {
		if k.id != id {
			continue
		}
		nonce := sealed[1+idLen : 1+idLen+nonceLen]
		pt, err := k.aead.Open(nil, nonce, sealed[1+idLen+nonceLen:], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}
