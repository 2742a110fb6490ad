package token

import (
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMintVerifiesWithPublishedJWKS(t *testing.T) {
	t.Parallel()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := cachedKey(t, alg)
			keys := mustKeySet(t, key)
			cfg := Config{ProjectID: "P2abc", SessionTTL: 15 * time.Minute, RefreshTTL: 48 * time.Hour}
			iss := mustIssuer(t, cfg, keys, func() time.Time { return t0 })

			pair, err := iss.Mint(Subject{
				UserID: "U123",
				AMR:    []string{"email"},
				Nsec:   map[string]any{"tenant": "acme", "tier": 2},
				StepUp: true,
			})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			jwks := publishedJWKS(t, keys)

			wantHeader := map[string]any{"alg": string(alg), "kid": key.ID(), "typ": "JWT"}
			iat := float64(t0.Unix())
			tests := []struct {
				name       string
				token      string
				wantClaims map[string]any
			}{
				{"session", pair.Session, map[string]any{
					"iss": "P2abc", "sub": "U123", "drn": "DS",
					"iat": iat, "exp": iat + (15 * time.Minute).Seconds(),
					"amr":  []any{"email"},
					"nsec": map[string]any{"tenant": "acme", "tier": float64(2)},
					"su":   true,
					"jti":  expectedJTI(0),
				}},
				{"refresh", pair.Refresh, map[string]any{
					"iss": "P2abc", "sub": "U123", "drn": "DSR",
					"iat": iat, "exp": iat + (48 * time.Hour).Seconds(),
					"amr":       []any{"email"},
					"nsec":      map[string]any{"tenant": "acme", "tier": float64(2)},
					"auth_time": iat,
					"jti":       expectedJTI(jtiBytes),
				}},
			}
			for _, tt := range tests {
				hdr, claims := verifyWithJWKS(t, jwks, tt.token)
				if diff := cmp.Diff(wantHeader, hdr); diff != "" {
					t.Errorf("%s header (-want +got):\n%s", tt.name, diff)
				}
				if diff := cmp.Diff(tt.wantClaims, claims); diff != "" {
					t.Errorf("%s claims (-want +got):\n%s", tt.name, diff)
				}
			}

			wantPair := Pair{
				Session:       pair.Session,
				Refresh:       pair.Refresh,
				SessionExpiry: t0.Add(15 * time.Minute),
				RefreshExpiry: t0.Add(48 * time.Hour),
				RefreshID:     expectedJTI(jtiBytes),
			}
			if diff := cmp.Diff(wantPair, pair); diff != "" {
				t.Errorf("pair (-want +got):\n%s", diff)
			}

			// Our own verifier agrees with go-jose.
			got, err := keys.Verify(pair.Session, t0)
			if err != nil {
				t.Fatalf("Verify(session): %v", err)
			}
			want := &Claims{
				Issuer: "P2abc", Subject: "U123", DRN: "DS", ID: expectedJTI(0),
				AMR:      []string{"email"},
				Nsec:     map[string]any{"tenant": "acme", "tier": float64(2)},
				StepUp:   true,
				IssuedAt: time.Unix(t0.Unix(), 0), Expiry: time.Unix(t0.Add(15*time.Minute).Unix(), 0),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Verify(session) (-want +got):\n%s", diff)
			}
			if _, err := iss.VerifyRefresh(pair.Refresh); err != nil {
				t.Errorf("VerifyRefresh: %v", err)
			}
			if _, err := iss.VerifySession(pair.Session); err != nil {
				t.Errorf("VerifySession: %v", err)
			}
		})
	}
}

// A refresh token carries the sign-in time it is given (a rotation, an
// update), never its own minting time, and Verify reads it back.
func TestMintCarriesAuthTime(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	iss := mustIssuer(t, Config{ProjectID: "P1"}, keys, func() time.Time { return t0 })
	signedIn := t0.Add(-3 * time.Hour)
	pair, err := iss.Mint(Subject{UserID: "U1", AuthTime: signedIn})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	c, err := iss.VerifyRefresh(pair.Refresh)
	if err != nil {
		t.Fatalf("VerifyRefresh: %v", err)
	}
	if !c.AuthTime.Equal(signedIn) || !c.IssuedAt.Equal(t0) {
		t.Errorf("auth_time %v, iat %v; want %v, %v", c.AuthTime, c.IssuedAt, signedIn, t0)
	}
	if got := decodeSegment(t, strings.Split(pair.Session, ".")[1]); got["auth_time"] != nil {
		t.Errorf("session token has auth_time %v; only refresh tokens carry it", got["auth_time"])
	}
}

func TestMintOmitsEmptyOptionalClaims(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	iss := mustIssuer(t, Config{ProjectID: "P1"}, keys, func() time.Time { return t0 })
	pair, err := iss.Mint(Subject{UserID: "U1", AMR: []string{}, Nsec: map[string]any{}})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	iat := float64(t0.Unix())
	for _, tt := range []struct {
		token string
		want  map[string]any
	}{
		{pair.Session, map[string]any{
			"iss": "P1", "sub": "U1", "drn": "DS", "jti": expectedJTI(0),
			"iat": iat, "exp": iat + DefaultSessionTTL.Seconds(),
		}},
		{pair.Refresh, map[string]any{
			"iss": "P1", "sub": "U1", "drn": "DSR", "jti": expectedJTI(jtiBytes),
			"iat": iat, "exp": iat + DefaultRefreshTTL.Seconds(), "auth_time": iat,
		}},
	} {
		got := decodeSegment(t, strings.Split(tt.token, ".")[1])
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	}
	if DefaultRefreshTTL != 720*time.Hour {
		t.Errorf("DefaultRefreshTTL = %v, want 720h", DefaultRefreshTTL)
	}
}

func TestMintJTIDiffers(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, EdDSA))
	iss, err := NewIssuer(Config{ProjectID: "P1"}, keys, func() time.Time { return t0 }, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 2 {
		pair, err := iss.Mint(Subject{UserID: "U1"})
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		for _, tok := range []string{pair.Session, pair.Refresh} {
			c, err := keys.Verify(tok, t0)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(c.ID) != 22 { // 16 bytes, base64url unpadded
				t.Errorf("jti %q has length %d, want 22", c.ID, len(c.ID))
			}
			if seen[c.ID] {
				t.Errorf("jti %q minted twice", c.ID)
			}
			seen[c.ID] = true
		}
		if c, _ := keys.Verify(pair.Refresh, t0); c.ID != pair.RefreshID {
			t.Errorf("RefreshID = %q, refresh jti = %q", pair.RefreshID, c.ID)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestMintErrors(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	now := func() time.Time { return t0 }
	tests := []struct {
		name    string
		random  io.Reader
		subject Subject
	}{
		{"no user id", &countingReader{}, Subject{}},
		{"random fails", failingReader{}, Subject{UserID: "U1"}},
		{"nsec not JSON", &countingReader{}, Subject{UserID: "U1", Nsec: map[string]any{"f": func() {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss, err := NewIssuer(Config{ProjectID: "P1"}, keys, now, tt.random)
			if err != nil {
				t.Fatal(err)
			}
			if pair, err := iss.Mint(tt.subject); err == nil {
				t.Errorf("Mint succeeded: %+v", pair)
			}
		})
	}
}

func TestNewIssuerErrors(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	now := func() time.Time { return t0 }
	tests := []struct {
		name   string
		cfg    Config
		keys   *KeySet
		now    func() time.Time
		random io.Reader
	}{
		{"no project", Config{}, keys, now, rand.Reader},
		{"no keys", Config{ProjectID: "P"}, nil, now, rand.Reader},
		{"no clock", Config{ProjectID: "P"}, keys, nil, rand.Reader},
		{"no random", Config{ProjectID: "P"}, keys, now, nil},
		{"negative ttl", Config{ProjectID: "P", SessionTTL: -time.Second}, keys, now, rand.Reader},
		{"sub-second ttl", Config{ProjectID: "P", RefreshTTL: time.Millisecond}, keys, now, rand.Reader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewIssuer(tt.cfg, tt.keys, tt.now, tt.random); err == nil {
				t.Error("NewIssuer succeeded")
			}
		})
	}
}

func TestMintSessionAndRefreshUntil(t *testing.T) {
	t.Parallel()
	clk := newClock(t0)
	key, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := NewKeySet(key)
	iss, err := NewIssuer(Config{ProjectID: "P1", SessionTTL: time.Minute, RefreshTTL: time.Hour}, ks, clk.Now, &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := iss.MintSession(Subject{UserID: "U1", AMR: []string{"sms"}, StepUp: true})
	if err != nil || !exp.Equal(t0.Add(time.Minute)) {
		t.Fatalf("MintSession: %v %v", exp, err)
	}
	c, err := iss.VerifySession(tok)
	if err != nil || c.Subject != "U1" || !c.StepUp || c.AMR[0] != "sms" {
		t.Fatalf("session claims %+v %v", c, err)
	}
	p, err := iss.Mint(Subject{UserID: "U1", RefreshUntil: t0.Add(10 * time.Minute)})
	if err != nil || !p.RefreshExpiry.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("RefreshUntil must cap the refresh expiry: %v %v", p.RefreshExpiry, err)
	}
	p, _ = iss.Mint(Subject{UserID: "U1", RefreshUntil: t0.Add(10 * time.Hour)})
	if !p.RefreshExpiry.Equal(t0.Add(time.Hour)) {
		t.Fatalf("RefreshUntil must never extend past the TTL: %v", p.RefreshExpiry)
	}
}

// TestMintWithRefreshID: a rotation names the refresh token's jti; the
// session token keeps a random one.
func TestMintWithRefreshID(t *testing.T) {
	t.Parallel()
	keys := mustKeySet(t, cachedKey(t, ES256))
	iss := mustIssuer(t, Config{ProjectID: "P1"}, keys, func() time.Time { return t0 })
	pair, err := iss.Mint(Subject{UserID: "U1", RefreshID: "fam.2.nonce"})
	if err != nil {
		t.Fatal(err)
	}
	r, s := decodeSegment(t, strings.Split(pair.Refresh, ".")[1]), decodeSegment(t, strings.Split(pair.Session, ".")[1])
	if r["jti"] != "fam.2.nonce" || pair.RefreshID != "fam.2.nonce" || s["jti"] != expectedJTI(0) {
		t.Fatalf("refresh jti %v (pair %q), session jti %v", r["jti"], pair.RefreshID, s["jti"])
	}
}
