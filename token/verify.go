package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidToken is wrapped by every verification failure.
var ErrInvalidToken = errors.New("token: invalid token")

// ErrTokenExpired is returned for a token that is well-formed and correctly
// signed but whose exp has passed. It wraps ErrInvalidToken.
var ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// maxIatSkew is how far in the future iat may be (clock skew between
// replicas).
const maxIatSkew = 5 * time.Second

// maxTokenLen bounds the work spent on a token before its signature is
// checked; real tokens are a fraction of it (cookies cap at 4 KiB).
const maxTokenLen = 64 << 10

// Claims are the verified claims of a token.
type Claims struct {
	Issuer, Subject, DRN, ID string
	AMR                      []string
	Nsec                     map[string]any
	StepUp                   bool
	IssuedAt, Expiry         time.Time
	// AuthTime is the refresh token's auth_time: when the sign-in that
	// started its session happened. Zero when the token has none (minted
	// before the claim existed).
	AuthTime time.Time
	// Authz holds the authorization claims (nil when the token has none).
	Authz *Authz
}

// header is the protected JWS header.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks a compact JWS token signed by one of the set's keys (active
// or retired) and returns its claims. The header kid must name a key of the
// set and the header alg must be that key's algorithm; the signature must
// verify; exp must be after now, and iat no more than 5 s after now. The
// issuer and drn are not checked here (see Issuer.VerifySession and
// Issuer.VerifyRefresh).
func (s *KeySet) Verify(token string, now time.Time) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, sig64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig64, ".") {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}

	// A header byte for byte a key's own (every token otpd mints) names
	// that key with its algorithm, typ JWT and no crit: the checks below
	// would pass, so it is not decoded.
	key, ok := s.byHead[h64]
	if !ok {
		var err error
		if key, err = s.keyOfHeader(h64); err != nil {
			return nil, err
		}
	}

	sig, err := base64.RawURLEncoding.Strict().DecodeString(sig64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding: %v", ErrInvalidToken, err)
	}
	if !key.verify(token[:len(h64)+1+len(p64)], sig) {
		return nil, fmt.Errorf("%w: bad signature for key %s", ErrInvalidToken, key.id)
	}

	var c wireClaims
	if err := decodeJSON(p64, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	if c.Sub == "" || c.Exp == 0 || c.Iat == 0 {
		return nil, fmt.Errorf("%w: missing sub, exp or iat", ErrInvalidToken)
	}
	exp, iat := time.Unix(c.Exp, 0), time.Unix(c.Iat, 0)
	if !exp.After(now) {
		return nil, fmt.Errorf("%w at %s", ErrTokenExpired, exp.UTC().Format(time.RFC3339))
	}
	if iat.After(now.Add(maxIatSkew)) {
		return nil, fmt.Errorf("%w: issued in the future (%s)", ErrInvalidToken, iat.UTC().Format(time.RFC3339))
	}
	return &Claims{
		Issuer:   c.Iss,
		Subject:  c.Sub,
		DRN:      c.DRN,
		ID:       c.JTI,
		AMR:      c.AMR,
		Nsec:     c.Nsec,
		StepUp:   c.SU,
		IssuedAt: iat,
		Expiry:   exp,
		AuthTime: authTime(c.AuthTime),
		Authz:    authzOf(&c),
	}, nil
}

// keyOfHeader decodes a protected header and returns the key it names,
// after checking that it holds what otpd can verify: that key's algorithm,
// typ JWT (or none) and no crit.
func (s *KeySet) keyOfHeader(h64 string) (*Key, error) {
	var h header
	if err := decodeJSON(h64, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalidToken, err)
	}
	key, ok := s.key(h.Kid)
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrInvalidToken, h.Kid)
	}
	if h.Alg != string(key.alg) {
		return nil, fmt.Errorf("%w: alg %q does not match key %s (%s)", ErrInvalidToken, h.Alg, key.id, key.alg)
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") {
		return nil, fmt.Errorf("%w: typ %q is not JWT", ErrInvalidToken, h.Typ)
	}
	if h.Crit != nil {
		return nil, fmt.Errorf("%w: unsupported crit header", ErrInvalidToken)
	}
	return key, nil
}

func authTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// verify checks sig over the JWS signing input with the key's algorithm.
func (k *Key) verify(signingInput string, sig []byte) bool {
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey: // ES256: R || S, 32 bytes each
		if len(sig) != 64 {
			return false
		}
		digest := sha256Of(signingInput)
		var der [72]byte // SEQUENCE { INTEGER r, INTEGER s }, at most 2 + 2·35 bytes
		b := appendDERInt(der[:2], sig[:32])
		b = appendDERInt(b, sig[32:])
		der[0], der[1] = 0x30, byte(len(b)-2)
		return ecdsa.VerifyASN1(pub, digest[:], b)
	case ed25519.PublicKey:
		return ed25519.Verify(pub, []byte(signingInput), sig)
	case *rsa.PublicKey:
		digest := sha256Of(signingInput)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// sha256Of is the SHA-256 of s, copied through a stack buffer when it
// fits: []byte(s) of a token's length is a heap allocation.
func sha256Of(s string) [sha256.Size]byte {
	var buf [2048]byte
	return sha256.Sum256(append(buf[:0], s...))
}

// appendDERInt appends the unsigned big-endian integer v (at most 32 bytes)
// as a minimal DER INTEGER.
func appendDERInt(b, v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if v[0]&0x80 != 0 { // keep it positive
		b = append(b, 0x02, byte(len(v)+1), 0)
	} else {
		b = append(b, 0x02, byte(len(v)))
	}
	return append(b, v...)
}

// decodeJSON decodes a base64url segment holding one JSON object into v.
func decodeJSON(seg string, v any) error {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
