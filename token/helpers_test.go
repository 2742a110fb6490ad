package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/otpd/otpd/clock"
)

var allAlgs = []Algorithm{ES256, EdDSA, RS256}

// t0 is the fixed instant the injected test clocks start at.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newClock(t time.Time) *clock.Fake { return clock.NewFake(t) }

// countingReader yields 0, 1, 2, ... so token ids are predictable.
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// expectedJTI is the jti minted from the bytes first, first+1, ... first+15.
func expectedJTI(first byte) string {
	b := make([]byte, jtiBytes)
	for i := range b {
		b[i] = first + byte(i)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// testKey generates a key or fails the test. RSA keys are slow to generate,
// so one per algorithm is cached for tests that don't care which key they
// get (cachedKey); fresh keys come from testKey.
func testKey(tb testing.TB, alg Algorithm) *Key {
	tb.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		tb.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

var keyCache sync.Map // Algorithm -> func() *Key

func cachedKey(tb testing.TB, alg Algorithm) *Key {
	tb.Helper()
	f, _ := keyCache.LoadOrStore(alg, sync.OnceValue(func() *Key {
		k, err := GenerateKey(alg)
		if err != nil {
			panic(err)
		}
		return k
	}))
	return f.(func() *Key)()
}

func mustKeySet(tb testing.TB, active *Key, retired ...*Key) *KeySet {
	tb.Helper()
	s, err := NewKeySet(active, retired...)
	if err != nil {
		tb.Fatalf("NewKeySet: %v", err)
	}
	return s
}

func mustIssuer(tb testing.TB, cfg Config, keys *KeySet, now func() time.Time) *Issuer {
	tb.Helper()
	i, err := NewIssuer(cfg, keys, now, &countingReader{})
	if err != nil {
		tb.Fatalf("NewIssuer: %v", err)
	}
	return i
}

// publishedJWKS serializes the key set's JWKS the way the server serves it
// and parses it back with go-jose, as a Descope SDK would.
func publishedJWKS(tb testing.TB, s *KeySet) jose.JSONWebKeySet {
	tb.Helper()
	doc, err := json.Marshal(struct {
		Keys []JWK `json:"keys"`
	}{s.JWKS()})
	if err != nil {
		tb.Fatalf("marshal JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		tb.Fatalf("go-jose cannot parse JWKS %s: %v", doc, err)
	}
	return set
}

// verifyWithJWKS verifies token the way an SDK does: pick the published key
// whose kid matches the header and check the signature with go-jose. It
// returns the decoded header and claims.
func verifyWithJWKS(tb testing.TB, set jose.JSONWebKeySet, token string) (hdr, claims map[string]any) {
	tb.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		tb.Fatalf("ParseSignedCompact: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		tb.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), kid)
	}
	if got, want := jws.Signatures[0].Header.Algorithm, keys[0].Algorithm; got != want {
		tb.Fatalf("header alg %q, JWKS alg %q", got, want)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		tb.Fatalf("go-jose rejects the signature: %v", err)
	}
	hdr = decodeSegment(tb, strings.Split(token, ".")[0])
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatalf("claims: %v", err)
	}
	return hdr, claims
}

func decodeSegment(tb testing.TB, seg string) map[string]any {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		tb.Fatalf("decode segment: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("segment %s: %v", raw, err)
	}
	return m
}

func encodeSegment(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}
