package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is a JWS signature algorithm supported for signing keys.
type Algorithm string

// The supported algorithms.
const (
	ES256 Algorithm = "ES256" // ECDSA P-256 with SHA-256 (the default)
	EdDSA Algorithm = "EdDSA" // Ed25519
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits
)

// minRSABits is the smallest RSA modulus accepted for signing.
const minRSABits = 2048

// ParseAlgorithm parses an algorithm name case-insensitively. The empty
// string selects ES256, and "Ed25519" is accepted as an alias of EdDSA.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "ES256":
		return ES256, nil
	case "EDDSA", "ED25519":
		return EdDSA, nil
	case "RS256":
		return RS256, nil
	}
	return "", fmt.Errorf("token: unknown signing algorithm %q (allowed: ES256, EdDSA, RS256)", s)
}

// Key is a private signing key with its key id.
//
// A Key is immutable and safe for concurrent use.
type Key struct {
	id      string
	alg     Algorithm
	private crypto.Signer
	public  crypto.PublicKey // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
	head    string           // base64url(protected header) + ".", built once
	jwk     JWK              // public JWK, published in the JWKS
}

// ID returns the key id: the RFC 7638 SHA-256 thumbprint of the public key,
// base64url without padding.
func (k *Key) ID() string { return k.id }

// Algorithm returns the algorithm the key signs with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// GenerateKey creates a fresh key from crypto/rand: a P-256 key for ES256,
// an Ed25519 key for EdDSA, a 2048-bit RSA key for RS256.
func GenerateKey(alg Algorithm) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, minRSABits)
	default:
		return nil, fmt.Errorf("token: unknown signing algorithm %q (allowed: ES256, EdDSA, RS256)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generating %s key: %w", alg, err)
	}
	return newKey(priv)
}

// ParseKeyPEM loads a private key from PEM: PKCS#8 ("PRIVATE KEY"), SEC1
// ("EC PRIVATE KEY", optionally preceded by the "EC PARAMETERS" block that
// openssl ecparam writes) or PKCS#1 ("RSA PRIVATE KEY"). The algorithm is
// inferred from the key: P-256 → ES256, Ed25519 → EdDSA, RSA of at least
// 2048 bits → RS256. Any other key is rejected.
func ParseKeyPEM(pemBytes []byte) (*Key, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("token: no PEM private key block found")
		}
		if len(block.Headers) != 0 {
			// Proc-Type/DEK-Info: legacy encrypted PEM.
			return nil, fmt.Errorf("token: PEM block %q has headers; encrypted keys are not supported", block.Type)
		}
		var (
			priv any
			err  error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue // emitted by `openssl ecparam -genkey` before the key itself
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			priv, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("token: unsupported PEM block %q (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("token: parsing %s: %w", block.Type, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("token: unsupported private key type %T", priv)
		}
		return newKey(signer)
	}
}

// MarshalPEM encodes the private key as a PKCS#8 "PRIVATE KEY" PEM block,
// which ParseKeyPEM loads back with the same key id.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, fmt.Errorf("token: marshaling key %s: %w", k.id, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newKey infers the algorithm of priv, rejects unsupported keys, and derives
// everything that signing and publishing need: kid, JWK and the encoded
// protected header.
func newKey(priv crypto.Signer) (*Key, error) {
	k := &Key{private: priv}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("token: unsupported ECDSA curve %s (only P-256 is supported)", p.Curve.Params().Name)
		}
		point, err := p.PublicKey.Bytes() // 0x04 || X || Y, fixed-size coordinates
		if err != nil {
			return nil, fmt.Errorf("token: invalid P-256 key: %w", err)
		}
		k.alg, k.public = ES256, &p.PublicKey
		k.jwk = JWK{
			Kty: "EC", Crv: "P-256",
			X: b64(point[1:33]), Y: b64(point[33:65]),
		}
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("token: invalid Ed25519 key length %d", len(p))
		}
		pub := p.Public().(ed25519.PublicKey)
		k.alg, k.public = EdDSA, pub
		k.jwk = JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub)}
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("token: RSA key of %d bits is too small (need at least %d)", bits, minRSABits)
		}
		k.alg, k.public = RS256, &p.PublicKey
		k.jwk = JWK{
			Kty: "RSA",
			N:   b64(p.N.Bytes()),
			E:   b64(big.NewInt(int64(p.E)).Bytes()),
		}
	default:
		return nil, fmt.Errorf("token: unsupported private key type %T (want P-256, Ed25519 or RSA)", priv)
	}

	thumb, err := (&jose.JSONWebKey{Key: k.public}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("token: computing key thumbprint: %w", err)
	}
	k.id = b64(thumb)
	k.jwk.Kid, k.jwk.Alg, k.jwk.Use = k.id, string(k.alg), "sig"

	k.head = b64([]byte(protectedHeader(k.alg, k.id))) + "."
	return k, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
