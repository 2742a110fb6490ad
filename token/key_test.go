package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestParseAlgorithm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Algorithm
		wantErr bool
	}{
		{"", ES256, false},
		{"ES256", ES256, false},
		{"es256", ES256, false},
		{"EdDSA", EdDSA, false},
		{"EDDSA", EdDSA, false},
		{"Ed25519", EdDSA, false},
		{"ed25519", EdDSA, false},
		{"RS256", RS256, false},
		{"rs256", RS256, false},
		{"HS256", "", true},
		{"none", "", true},
		{"ES384", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAlgorithm(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseAlgorithm(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil {
				for _, name := range []string{"ES256", "EdDSA", "RS256"} {
					if !strings.Contains(err.Error(), name) {
						t.Errorf("error %q does not name %s", err, name)
					}
				}
			}
		})
	}
}

func TestGenerateKeyRejectsUnknownAlgorithm(t *testing.T) {
	t.Parallel()
	if k, err := GenerateKey("HS256"); err == nil {
		t.Errorf("GenerateKey(HS256) = %v, want error", k)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := cachedKey(t, alg)
			if key.Algorithm() != alg {
				t.Fatalf("Algorithm() = %s, want %s", key.Algorithm(), alg)
			}
			pemBytes, err := key.MarshalPEM()
			if err != nil {
				t.Fatalf("MarshalPEM: %v", err)
			}
			if !strings.HasPrefix(string(pemBytes), "-----BEGIN PRIVATE KEY-----\n") {
				t.Errorf("MarshalPEM is not PKCS#8:\n%s", pemBytes)
			}
			forms := map[string][]byte{"PKCS#8": pemBytes}
			switch p := key.private.(type) {
			case *ecdsa.PrivateKey:
				der, err := x509.MarshalECPrivateKey(p)
				if err != nil {
					t.Fatal(err)
				}
				sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
				forms["SEC1"] = sec1
				// openssl ecparam -genkey writes the curve OID first.
				params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
				forms["ecparam"] = append(params, sec1...)
			case *rsa.PrivateKey:
				forms["PKCS#1"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(p)})
			}
			for name, b := range forms {
				got, err := ParseKeyPEM(b)
				if err != nil {
					t.Errorf("ParseKeyPEM(%s): %v", name, err)
					continue
				}
				if got.ID() != key.ID() || got.Algorithm() != alg {
					t.Errorf("ParseKeyPEM(%s) = kid %s alg %s, want kid %s alg %s", name, got.ID(), got.Algorithm(), key.ID(), alg)
				}
				if diff := cmp.Diff(key.jwk, got.jwk); diff != "" {
					t.Errorf("ParseKeyPEM(%s) JWK (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

func TestParseKeyPEMRejects(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	p384SEC1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024DER, err := x509.MarshalPKCS8PrivateKey(rsa1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := cachedKey(t, ES256)
	pubDER, err := x509.MarshalPKIXPublicKey(ecKey.public)
	if err != nil {
		t.Fatal(err)
	}
	good, err := ecKey.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	tests := []struct {
		name, pem, wantErr string
	}{
		{"P-384 PKCS#8", string(block("PRIVATE KEY", p384DER)), "P-384"},
		{"P-384 SEC1", string(block("EC PRIVATE KEY", p384SEC1)), "P-384"},
		{"RSA 1024 PKCS#8", string(block("PRIVATE KEY", rsa1024DER)), "1024 bits"},
		{"RSA 1024 PKCS#1", string(block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024))), "1024 bits"},
		{"garbage", "this is not a key", "no PEM"},
		{"empty", "", "no PEM"},
		{"only EC PARAMETERS", string(block("EC PARAMETERS", []byte{0x06, 0x01, 0x00})), "no PEM"},
		{"public key", string(block("PUBLIC KEY", pubDER)), "unsupported PEM block"},
		{"certificate", string(block("CERTIFICATE", []byte{0x30, 0x00})), "unsupported PEM block"},
		{"corrupt DER", string(block("PRIVATE KEY", []byte{0x30, 0x03, 0x01, 0x02})), "parsing PRIVATE KEY"},
		{"SEC1 bytes labeled PKCS#1", string(block("RSA PRIVATE KEY", p384SEC1)), "parsing RSA PRIVATE KEY"},
		{"encrypted", strings.Replace(string(good), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n", 1), "encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKeyPEM([]byte(tt.pem))
			if err == nil {
				t.Fatalf("ParseKeyPEM = key %s, want error", k.ID())
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestJWKShape(t *testing.T) {
	t.Parallel()
	fixed := func(n int) int { return base64.RawURLEncoding.EncodedLen(n) }
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := cachedKey(t, alg)
			jwks := mustKeySet(t, key).JWKS()
			if len(jwks) != 1 {
				t.Fatalf("JWKS has %d keys", len(jwks))
			}
			j := jwks[0]
			want := JWK{Kid: key.ID(), Alg: string(alg), Use: "sig"}
			switch alg {
			case ES256:
				want.Kty, want.Crv = "EC", "P-256"
				if len(j.X) != fixed(32) || len(j.Y) != fixed(32) {
					t.Errorf("EC coordinates %q, %q are not 32 bytes", j.X, j.Y)
				}
				want.X, want.Y = j.X, j.Y
			case EdDSA:
				want.Kty, want.Crv = "OKP", "Ed25519"
				if len(j.X) != fixed(32) {
					t.Errorf("Ed25519 x %q is not 32 bytes", j.X)
				}
				want.X = j.X
			case RS256:
				want.Kty, want.E = "RSA", "AQAB"
				if len(j.N) != fixed(256) {
					t.Errorf("RSA n has %d chars, want %d", len(j.N), fixed(256))
				}
				want.N = j.N
			}
			if diff := cmp.Diff(want, j); diff != "" {
				t.Errorf("JWK (-want +got):\n%s", diff)
			}

			// The published JWK is the key's public half and its kid is the
			// RFC 7638 thumbprint go-jose computes from it.
			raw, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			var parsed jose.JSONWebKey
			if err := json.Unmarshal(raw, &parsed); err != nil {
				t.Fatalf("go-jose cannot parse %s: %v", raw, err)
			}
			if !parsed.IsPublic() || !parsed.Valid() {
				t.Errorf("published JWK %s is not a valid public key", raw)
			}
			thumb, err := parsed.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.RawURLEncoding.EncodeToString(thumb); got != key.ID() {
				t.Errorf("thumbprint of published JWK = %s, kid = %s", got, key.ID())
			}
			if !publicEqual(t, parsed.Key, key.public) {
				t.Errorf("published key %v differs from the key's public half", parsed.Key)
			}
		})
	}
}

func publicEqual(tb testing.TB, a, b crypto.PublicKey) bool {
	tb.Helper()
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		tb.Fatalf("%T has no Equal", a)
	}
	return eq.Equal(b)
}

func TestNewKeySet(t *testing.T) {
	t.Parallel()
	a, b := cachedKey(t, ES256), cachedKey(t, EdDSA)
	aAgain, err := ParseKeyPEM(must(a.MarshalPEM()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		active  *Key
		retired []*Key
		wantErr bool
	}{
		{"active only", a, nil, false},
		{"active and retired", a, []*Key{b}, false},
		{"nil active", nil, []*Key{b}, true},
		{"nil retired", a, []*Key{nil}, true},
		{"same key twice", a, []*Key{b, a}, true},
		{"same key reloaded", a, []*Key{aAgain}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewKeySet(tt.active, tt.retired...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewKeySet: %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && s.Active() != tt.active {
				t.Errorf("Active() = %v, want %v", s.Active(), tt.active)
			}
		})
	}

	// JWKS returns a copy.
	s := mustKeySet(t, a, b)
	s.JWKS()[0].Kid = "mutated"
	if got := s.JWKS()[0].Kid; got != a.ID() {
		t.Errorf("JWKS()[0].Kid = %q after mutating a returned slice", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
