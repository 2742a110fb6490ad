package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// JWK is the public half of a signing key as published in the JWKS document
// (RFC 7517). Binary values are base64url without padding; EC coordinates
// are fixed-size (32 bytes for P-256). Use is always "sig".
//
// Kty "EC" carries Crv "P-256", X and Y; kty "OKP" carries Crv "Ed25519"
// and X; kty "RSA" carries N and E.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// KeySet is one project's keys: the active key signs new tokens; retired keys
// only verify (they stay published until every token they signed has
// expired).
//
// A KeySet is immutable and safe for concurrent use; rotate by building a
// new one.
type KeySet struct {
	active *Key
	byID   map[string]*Key // active and retired keys
	// byHead maps each key's encoded protected header (base64url, as its
	// tokens carry it) to the key: a token minted by otpd is matched by
	// its header's bytes, without decoding its JSON.
	byHead map[string]*Key
	jwks   []JWK // active first, then retired in the order given
}

// NewKeySet builds a key set. It fails if active is nil, if a retired key is
// nil, or if two keys share a key id (the same key listed twice).
func NewKeySet(active *Key, retired ...*Key) (*KeySet, error) {
	if active == nil {
		return nil, errors.New("token: key set needs an active key")
	}
	s := &KeySet{
		active: active,
		byID:   make(map[string]*Key, 1+len(retired)),
		byHead: make(map[string]*Key, 1+len(retired)),
		jwks:   make([]JWK, 0, 1+len(retired)),
	}
	for i, k := range append([]*Key{active}, retired...) {
		if k == nil {
			return nil, fmt.Errorf("token: retired key %d is nil", i-1)
		}
		if _, dup := s.byID[k.id]; dup {
			return nil, fmt.Errorf("token: duplicate key id %s in key set", k.id)
		}
		s.byID[k.id] = k
		s.byHead[strings.TrimSuffix(k.head, ".")] = k
		s.jwks = append(s.jwks, k.jwk)
	}
	return s, nil
}

// Active returns the key that signs new tokens.
func (s *KeySet) Active() *Key { return s.active }

// JWKS returns the public keys of the set, active first, then the retired
// keys. Serialized as {"keys": [...]} it is the JWKS document. The slice is
// a copy the caller may keep or modify.
func (s *KeySet) JWKS() []JWK { return slices.Clone(s.jwks) }

// key returns the key with the given id, active or retired.
func (s *KeySet) key(kid string) (*Key, bool) {
	k, ok := s.byID[kid]
	return k, ok
}
