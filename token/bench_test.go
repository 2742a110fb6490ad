package token

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func benchIssuer(b *testing.B, alg Algorithm) (*Issuer, *KeySet) {
	b.Helper()
	keys := mustKeySet(b, testKey(b, alg))
	iss, err := NewIssuer(Config{ProjectID: "P2abcdefghijklmnopqrstuvwxyz"}, keys, func() time.Time { return t0 }, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return iss, keys
}

var benchSubject = Subject{UserID: "U2abcdefghijklmnopqrstuvwxyz", AMR: []string{"email"}}

// BenchmarkMint mints one session + refresh pair (two signatures).
func BenchmarkMint(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(string(alg), func(b *testing.B) {
			iss, _ := benchIssuer(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Mint(benchSubject); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify verifies one session token.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(string(alg), func(b *testing.B) {
			iss, keys := benchIssuer(b, alg)
			pair, err := iss.Mint(benchSubject)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keys.Verify(pair.Session, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawES256 is the floor for ES256: one SHA-256 + ECDSA operation
// over the same signing input, without any JWT handling.
func BenchmarkRawES256(b *testing.B) {
	iss, _ := benchIssuer(b, ES256)
	pair, err := iss.Mint(benchSubject)
	if err != nil {
		b.Fatal(err)
	}
	priv := iss.keys.active.private.(*ecdsa.PrivateKey)
	input := []byte(pair.Session[:strings.LastIndexByte(pair.Session, '.')])
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(input)
			if _, err := ecdsa.SignASN1(rand.Reader, priv, d[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(input)
			if !ecdsa.VerifyASN1(&priv.PublicKey, d[:], sig) {
				b.Fatal("bad signature")
			}
		}
	})
}

// BenchmarkVerifyGoJose is the same ES256 session check done through
// go-jose's JWS parser, for comparison with KeySet.Verify.
func BenchmarkVerifyGoJose(b *testing.B) {
	iss, keys := benchIssuer(b, ES256)
	pair, err := iss.Mint(benchSubject)
	if err != nil {
		b.Fatal(err)
	}
	pub := keys.active.public
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(pair.Session, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			b.Fatal(err)
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			b.Fatal(err)
		}
		var c wireClaims
		if err := json.Unmarshal(payload, &c); err != nil {
			b.Fatal(err)
		}
	}
}
