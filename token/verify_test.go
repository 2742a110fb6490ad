package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestVerifyRejectsForgedTokens(t *testing.T) {
	t.Parallel()
	key := cachedKey(t, ES256)
	keys := mustKeySet(t, key)
	iss := mustIssuer(t, Config{ProjectID: "P1"}, keys, func() time.Time { return t0 })
	pair, err := iss.Mint(Subject{UserID: "U1", AMR: []string{"sms"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(pair.Session, ".")
	h64, p64, s64 := parts[0], parts[1], parts[2]
	claims := decodeSegment(t, p64)

	withClaim := func(k string, v any) string {
		c := map[string]any{}
		for ck, cv := range claims {
			c[ck] = cv
		}
		c[k] = v
		return encodeSegment(t, c)
	}
	header := func(h map[string]any) string { return encodeSegment(t, h) }
	other := testKey(t, ES256) // not in the set
	otherKeys := mustKeySet(t, other)
	otherPair, err := mustIssuer(t, Config{ProjectID: "P1"}, otherKeys, func() time.Time { return t0 }).Mint(Subject{UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	otherSig := strings.Split(otherPair.Session, ".")[2]

	// An HS256 token keyed with the public JWK, the classic confusion attack.
	hsInput := header(map[string]any{"alg": "HS256", "kid": key.ID(), "typ": "JWT"}) + "." + p64
	mac := hmac.New(sha256.New, []byte(key.jwk.X+key.jwk.Y))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"one part", h64},
		{"two parts", h64 + "." + p64},
		{"four parts", pair.Session + "." + s64},
		{"tampered payload", h64 + "." + withClaim("sub", "admin") + "." + s64},
		{"tampered exp", h64 + "." + withClaim("exp", claims["exp"].(float64)+3600) + "." + s64},
		{"tampered signature", h64 + "." + p64 + "." + strings.Repeat("A", len(s64))},
		{"empty signature", h64 + "." + p64 + "."},
		{"padded signature", h64 + "." + p64 + "." + s64 + "="},
		{"signature from another key", h64 + "." + p64 + "." + otherSig},
		{"token from key not in set", otherPair.Session},
		{"unknown kid", header(map[string]any{"alg": "ES256", "kid": "nope", "typ": "JWT"}) + "." + p64 + "." + s64},
		{"no kid", header(map[string]any{"alg": "ES256", "typ": "JWT"}) + "." + p64 + "." + s64},
		{"wrong alg for key", header(map[string]any{"alg": "RS256", "kid": key.ID(), "typ": "JWT"}) + "." + p64 + "." + s64},
		{"alg ES384", header(map[string]any{"alg": "ES384", "kid": key.ID(), "typ": "JWT"}) + "." + p64 + "." + s64},
		{"alg none", header(map[string]any{"alg": "none", "kid": key.ID(), "typ": "JWT"}) + "." + p64 + "."},
		{"alg none with signature", header(map[string]any{"alg": "none", "kid": key.ID(), "typ": "JWT"}) + "." + p64 + "." + s64},
		{"alg HS256 with public key", hs256},
		{"crit header", header(map[string]any{"alg": "ES256", "kid": key.ID(), "crit": []string{"b64"}, "b64": false}) + "." + p64 + "." + s64},
		{"typ not JWT", header(map[string]any{"alg": "ES256", "kid": key.ID(), "typ": "JWE"}) + "." + p64 + "." + s64},
		{"header not base64", "!!!." + p64 + "." + s64},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("ES256")) + "." + p64 + "." + s64},
		{"oversized", h64 + "." + strings.Repeat("A", maxTokenLen) + "." + s64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := keys.Verify(tt.token, t0)
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify = %+v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
	if _, err := keys.Verify(pair.Session, t0); err != nil {
		t.Errorf("untouched token: %v", err)
	}
}

// TestVerifyRejectsValidlySigned signs tokens correctly with a key of the
// set, so only the header and claim checks can reject them.
func TestVerifyRejectsValidlySigned(t *testing.T) {
	t.Parallel()
	key := cachedKey(t, ES256)
	keys := mustKeySet(t, key)
	claims := func(drop string, set map[string]any) map[string]any {
		c := map[string]any{"iss": "P1", "sub": "U1", "drn": "DS", "iat": t0.Unix(), "exp": t0.Unix() + 60, "jti": "x"}
		delete(c, drop)
		for k, v := range set {
			c[k] = v
		}
		return c
	}
	opts := func(kv ...any) *jose.SignerOptions {
		o := &jose.SignerOptions{}
		for i := 0; i < len(kv); i += 2 {
			o.WithHeader(jose.HeaderKey(kv[i].(string)), kv[i+1])
		}
		return o
	}
	tests := []struct {
		name    string
		opts    *jose.SignerOptions
		claims  map[string]any
		wantErr bool
	}{
		{"all claims, no typ", nil, claims("", nil), false},
		{"typ jwt lower case", opts("typ", "jwt"), claims("", nil), false},
		{"missing sub", nil, claims("sub", nil), true},
		{"missing iat", nil, claims("iat", nil), true},
		{"missing exp", nil, claims("exp", nil), true},
		{"float exp", nil, claims("", map[string]any{"exp": float64(t0.Unix()) + 60.5}), true},
		{"string exp", nil, claims("", map[string]any{"exp": "never"}), true},
		{"claims not an object", nil, nil, true},
		// The signature is valid for the key, but the header lies about it.
		{"header alg RS256", opts("alg", "RS256"), claims("", nil), true},
		{"header alg none", opts("alg", "none"), claims("", nil), true},
		{"crit header", (&jose.SignerOptions{}).WithCritical("exp"), claims("", nil), true},
		{"typ JWE", opts("typ", "JWE"), claims("", nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := signRaw(t, key, tt.opts, tt.claims)
			_, err := keys.Verify(tok, t0)
			if tt.wantErr && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify: %v, want ErrInvalidToken", err)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// signRaw signs arbitrary claims (nil: the JSON array []) with key through
// go-jose, independently of Mint; extra headers in opts override alg.
func signRaw(tb testing.TB, key *Key, opts *jose.SignerOptions, claims map[string]any) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(key.alg),
		Key:       jose.JSONWebKey{Key: key.private, KeyID: key.id},
	}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	payload := "[]"
	if claims != nil {
		payload = encodeJSON(tb, claims)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func encodeJSON(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(encodeSegment(tb, v))
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

func TestVerifyTimeBounds(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	clk := newClock(t0)
	iss := mustIssuer(t, Config{ProjectID: "P1", SessionTTL: time.Minute}, keys, clk.Now)
	pair, err := iss.Mint(Subject{UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		now         time.Time
		wantErr     error
		wantExpired bool
	}{
		{"at issue", t0, nil, false},
		{"last valid second", t0.Add(time.Minute - time.Nanosecond), nil, false},
		{"at exp", t0.Add(time.Minute), ErrInvalidToken, true},
		{"after exp", t0.Add(time.Hour), ErrInvalidToken, true},
		{"iat 5s ahead of verifier", t0.Add(-5 * time.Second), nil, false},
		{"iat 6s ahead of verifier", t0.Add(-6 * time.Second), ErrInvalidToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := keys.Verify(pair.Session, tt.now)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify at %v: %v, want %v", tt.now, err, tt.wantErr)
			}
			if got := errors.Is(err, ErrTokenExpired); got != tt.wantExpired {
				t.Errorf("errors.Is(%v, ErrTokenExpired) = %v, want %v", err, got, tt.wantExpired)
			}
		})
	}

	// The issuer's own clock drives VerifySession / VerifyRefresh.
	if _, err := iss.VerifySession(pair.Session); err != nil {
		t.Fatalf("VerifySession before expiry: %v", err)
	}
	clk.Add(time.Minute)
	if _, err := iss.VerifySession(pair.Session); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("VerifySession after advancing the clock: %v, want ErrTokenExpired", err)
	}
	if _, err := iss.VerifyRefresh(pair.Refresh); err != nil {
		t.Errorf("VerifyRefresh while the refresh token is live: %v", err)
	}
	clk.Add(DefaultRefreshTTL)
	if _, err := iss.VerifyRefresh(pair.Refresh); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("VerifyRefresh after refresh TTL: %v, want ErrTokenExpired", err)
	}
}

func TestIssuerVerifyChecksKindAndProject(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	now := func() time.Time { return t0 }
	ours := mustIssuer(t, Config{ProjectID: "P1"}, keys, now)
	foreign := mustIssuer(t, Config{ProjectID: "P2"}, keys, now) // same keys, other project
	pair, err := ours.Mint(Subject{UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	foreignPair, err := foreign.Mint(Subject{UserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		verify  func(string) (*Claims, error)
		token   string
		wantErr bool
	}{
		{"refresh as refresh", ours.VerifyRefresh, pair.Refresh, false},
		{"session as session", ours.VerifySession, pair.Session, false},
		{"session as refresh", ours.VerifyRefresh, pair.Session, true},
		{"refresh as session", ours.VerifySession, pair.Refresh, true},
		{"foreign refresh", ours.VerifyRefresh, foreignPair.Refresh, true},
		{"foreign session", ours.VerifySession, foreignPair.Session, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.verify(tt.token)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("got %+v, %v; want ErrInvalidToken", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.Issuer != "P1" || c.Subject != "U1" {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ oldAlg, newAlg Algorithm }{
		{ES256, ES256},
		{ES256, EdDSA},
		{RS256, ES256},
	} {
		t.Run(string(tt.oldAlg)+"_to_"+string(tt.newAlg), func(t *testing.T) {
			t.Parallel()
			now := func() time.Time { return t0 }
			a := cachedKey(t, tt.oldAlg)
			b := testKey(t, tt.newAlg)
			stranger := testKey(t, ES256)

			before := mustKeySet(t, a)
			fromA, err := mustIssuer(t, Config{ProjectID: "P1"}, before, now).Mint(Subject{UserID: "U1"})
			if err != nil {
				t.Fatal(err)
			}
			after := mustKeySet(t, b, a)
			if after.Active() != b {
				t.Errorf("Active() = %s, want %s", after.Active().ID(), b.ID())
			}
			fromB, err := mustIssuer(t, Config{ProjectID: "P1"}, after, now).Mint(Subject{UserID: "U1"})
			if err != nil {
				t.Fatal(err)
			}
			fromStranger, err := mustIssuer(t, Config{ProjectID: "P1"}, mustKeySet(t, stranger), now).Mint(Subject{UserID: "U1"})
			if err != nil {
				t.Fatal(err)
			}

			var kids []string
			for _, k := range after.JWKS() {
				kids = append(kids, k.Kid)
			}
			if diff := cmp.Diff([]string{b.ID(), a.ID()}, kids); diff != "" {
				t.Errorf("JWKS kids (-want +got):\n%s", diff)
			}

			jwks := publishedJWKS(t, after)
			for name, tok := range map[string]string{
				"A session": fromA.Session, "A refresh": fromA.Refresh,
				"B session": fromB.Session, "B refresh": fromB.Refresh,
			} {
				if _, err := after.Verify(tok, t0); err != nil {
					t.Errorf("Verify(%s): %v", name, err)
				}
				verifyWithJWKS(t, jwks, tok) // fails the test on error
			}
			if hdr := decodeSegment(t, strings.Split(fromB.Session, ".")[0]); hdr["kid"] != b.ID() {
				t.Errorf("new tokens signed with kid %v, want active %s", hdr["kid"], b.ID())
			}
			if _, err := after.Verify(fromStranger.Session, t0); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(token from key outside the set): %v, want ErrInvalidToken", err)
			}
			// Once A is dropped, its tokens no longer verify.
			if _, err := mustKeySet(t, b).Verify(fromA.Session, t0); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(A token) after dropping A: %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestAppendDERIntMatchesASN1(t *testing.T) {
	t.Parallel()
	word := func(prefix ...byte) []byte {
		b := make([]byte, 32)
		copy(b, prefix)
		for i := len(prefix); i < 32; i++ {
			b[i] = 0x5a
		}
		return b
	}
	tests := []struct {
		name string
		r, s []byte
	}{
		{"plain", word(0x12), word(0x34)},
		{"high bit", word(0x80), word(0xff)},
		{"leading zero", word(0x00, 0x7f), word(0x00, 0x00, 0x01)},
		{"leading zero then high bit", word(0x00, 0x80), word(0x00, 0x00, 0xff)},
		{"zero", make([]byte, 32), word(0x01)},
		{"one", append(make([]byte, 31), 1), append(make([]byte, 31), 0x80)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(tt.r), new(big.Int).SetBytes(tt.s)})
			if err != nil {
				t.Fatal(err)
			}
			var der [72]byte
			b := appendDERInt(der[:2], tt.r)
			b = appendDERInt(b, tt.s)
			der[0], der[1] = 0x30, byte(len(b)-2)
			if diff := cmp.Diff(want, b); diff != "" {
				t.Errorf("DER (-asn1 +ours):\n%s", diff)
			}
		})
	}
}

func TestConcurrentMintAndVerify(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256), cachedKey(t, EdDSA))
	iss, err := NewIssuer(Config{ProjectID: "P1"}, keys, func() time.Time { return t0 }, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 4 {
				pair, err := iss.Mint(Subject{UserID: "U1", AMR: []string{"email"}})
				if err != nil {
					errs <- err
					return
				}
				if _, err := iss.VerifyRefresh(pair.Refresh); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestVerifyByHeaderBytes: a token whose header is byte for byte one key's
// own is verified with that key, active or retired, and only with it: the
// other key's signature over the same input is refused. A header with the
// same fields in other bytes still verifies (decoded).
func TestVerifyByHeaderBytes(t *testing.T) {
	t.Parallel()
	active, retired := testKey(t, ES256), testKey(t, ES256)
	keys := mustKeySet(t, active, retired)
	now := func() time.Time { return t0 }
	for _, k := range []*Key{active, retired} {
		pair, err := mustIssuer(t, Config{ProjectID: "P1"}, mustKeySet(t, k), now).Mint(Subject{UserID: "U1"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pair.Session, k.head) {
			t.Fatalf("token does not start with its key's header: %s", pair.Session)
		}
		if _, err := keys.Verify(pair.Session, t0); err != nil {
			t.Errorf("key %s: %v", k.ID(), err)
		}
		// The same token with the other key's header: the signature is
		// checked against the key the header names.
		other := active
		if k == active {
			other = retired
		}
		swapped := other.head + strings.TrimPrefix(pair.Session, k.head)
		if _, err := keys.Verify(swapped, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("key %s's token under key %s's header: %v", k.ID(), other.ID(), err)
		}
		// The same header as other bytes (fields reordered): decoded,
		// and verified.
		reordered := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","kid":"` + k.ID() + `","alg":"ES256"}`))
		k2 := *k
		k2.head = reordered + "."
		tok, err := k2.sign(&wireClaims{Iss: "P1", Sub: "U1", Iat: t0.Unix(), Exp: t0.Add(time.Hour).Unix(), DRN: DRNSession}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := keys.Verify(tok, t0); err != nil || c.Subject != "U1" {
			t.Errorf("key %s, reordered header: %v %v", k.ID(), c, err)
		}
	}
}
