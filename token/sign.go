package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
)

// A compact JWS is base64url(header) "." base64url(claims) "."
// base64url(signature) (RFC 7515 §7.1). The header of a key never changes,
// so it is encoded once, by newKey (Key.head); each token then costs one
// claims encoding, one signature and the final string.

// protectedHeader is the JSON of the protected header of every token the key
// signs: the same bytes, in the same order, that go-jose wrote before this
// encoder replaced it (TestMintMatchesGoJose). kid is a base64url thumbprint
// and alg one of three names, so neither needs escaping.
func protectedHeader(alg Algorithm, kid string) string {
	return `{"alg":"` + string(alg) + `","kid":"` + kid + `","typ":"JWT"}`
}

// es256SigLen is the JWS form of an ES256 signature: r and s as 32-byte
// big-endian integers, concatenated (RFC 7518 §3.4).
const es256SigLen = 64

// maxPooledBuf is the largest scratch buffer kept for reuse; a token with
// unusually large custom claims gets its own buffers and does not pin them.
const maxPooledBuf = 8 << 10

// scratch holds the per-token buffers: the claims JSON and the token being
// built.
type scratch struct{ json, tok []byte }

var scratchPool = sync.Pool{New: func() any {
	return &scratch{json: make([]byte, 0, 512), tok: make([]byte, 0, 1024)}
}}

// sign encodes the claims (nsec pre-encoded, see appendClaims) and signs
// them into a compact JWS with the key's algorithm.
func (k *Key) sign(c *wireClaims, nsec []byte) (string, error) {
	s := scratchPool.Get().(*scratch)
	defer func() {
		if cap(s.json) <= maxPooledBuf && cap(s.tok) <= maxPooledBuf {
			scratchPool.Put(s)
		}
	}()
	s.json = appendClaims(s.json[:0], c, nsec)
	tok := append(s.tok[:0], k.head...)
	tok = base64.RawURLEncoding.AppendEncode(tok, s.json)
	signed := len(tok) // tok[:signed] is the JWS signing input
	tok = append(tok, '.')

	var err error
	switch priv := k.private.(type) {
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(tok[:signed])
		var der []byte
		if der, err = ecdsa.SignASN1(rand.Reader, priv, digest[:]); err == nil {
			var rs [es256SigLen]byte
			if err = derToFixed(&rs, der); err == nil {
				tok = base64.RawURLEncoding.AppendEncode(tok, rs[:])
			}
		}
	case ed25519.PrivateKey:
		tok = base64.RawURLEncoding.AppendEncode(tok, ed25519.Sign(priv, tok[:signed]))
	case *rsa.PrivateKey:
		digest := sha256.Sum256(tok[:signed])
		var sig []byte
		if sig, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err == nil {
			tok = base64.RawURLEncoding.AppendEncode(tok, sig)
		}
	default: // newKey admits no other key type
		err = fmt.Errorf("unsupported key type %T", k.private)
	}
	s.tok = tok
	if err != nil {
		return "", fmt.Errorf("token: signing with key %s: %w", k.id, err)
	}
	return string(tok), nil
}

var errBadDER = errors.New("ECDSA signature is not DER SEQUENCE { INTEGER r, INTEGER s } of P-256 size")

// derToFixed converts the ASN.1 DER signature that crypto/ecdsa returns,
// SEQUENCE { INTEGER r, INTEGER s }, into the fixed-size r || s that JWS
// uses. It accepts only what a P-256 signature can be: short-form lengths,
// positive integers of at most 32 significant bytes (33 with the sign byte),
// and nothing after s. appendDERInt (verify.go) is its inverse.
func derToFixed(dst *[es256SigLen]byte, der []byte) error {
	if len(der) < 2 || der[0] != 0x30 || der[1] >= 0x80 || int(der[1]) != len(der)-2 {
		return errBadDER
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 {
			return errBadDER
		}
		n := int(rest[1])
		if n == 0 || n > 33 || len(rest) < 2+n {
			return errBadDER
		}
		v := rest[2 : 2+n]
		if v[0]&0x80 != 0 { // negative: never an ECDSA r or s
			return errBadDER
		}
		if n == 33 {
			if v[0] != 0 {
				return errBadDER
			}
			v = v[1:]
		}
		half := dst[32*i : 32*(i+1)]
		clear(half[:32-len(v)])
		copy(half[32-len(v):], v)
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return errBadDER
	}
	return nil
}
