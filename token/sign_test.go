package token

import (
	"bytes"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// hostile are strings that JSON encoders get wrong: quotes, backslashes,
// every short escape, other control characters, HTML characters, the
// JavaScript line terminators, invalid and truncated UTF-8, multi-byte runes
// and a JSON-injection attempt.
var hostile = []string{
	"", `"`, `\`, `\"`, "\b\f\n\r\t", "\x00\x01\x1f\x7f", "<script>&amp;</script>",
	"\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80", "é日本🙂", "\ufffd",
	`","sub":"admin`, `{"su":true}`, "tab\tand\u00a0nbsp",
}

// goJoseToken signs c the way otpd minted tokens before its own encoder:
// go-jose's signer with typ JWT over encoding/json's claims. EdDSA and RS256
// are deterministic, so for them the result must equal Mint's token byte
// for byte.
func goJoseToken(tb testing.TB, key *Key, c *wireClaims) string {
	tb.Helper()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.alg), Key: jose.JSONWebKey{Key: key.private, KeyID: key.id}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		tb.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestMintMatchesGoJose holds the hand-built tokens to what SDKs accepted
// before: go-jose verifies them against the published JWKS, the header is
// exactly {alg, kid, typ: JWT}, every claim decodes to what was minted (with
// hostile strings in sub, amr and custom claims), and the signing input is
// the same bytes go-jose's signer produced — the whole token for the
// deterministic EdDSA and RS256.
func TestMintMatchesGoJose(t *testing.T) {
	t.Parallel()
	nsec := map[string]any{"tier": 2.5, "ok": true, "none": nil, "list": []any{"a", 1.0}}
	for i, h := range hostile {
		nsec["k"+h] = h
		nsec[strings.Repeat("n", i)] = map[string]any{h: []any{h}}
	}
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := cachedKey(t, alg)
			keys := mustKeySet(t, key)
			iss := mustIssuer(t, Config{ProjectID: "P2<&>\u2028", SessionTTL: time.Minute, RefreshTTL: time.Hour}, keys,
				func() time.Time { return t0 })
			subj := Subject{UserID: `U"\` + "\x00\xff", AMR: hostile, Nsec: nsec, StepUp: true}
			pair, err := iss.Mint(subj)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			jwks := publishedJWKS(t, keys)
			iat := t0.Unix()
			for _, tt := range []struct {
				name  string
				token string
				want  wireClaims
			}{
				{"session", pair.Session, wireClaims{Iss: "P2<&>\u2028", Sub: subj.UserID, Iat: iat, Exp: iat + 60,
					DRN: DRNSession, AMR: hostile, Nsec: nsec, SU: true, JTI: expectedJTI(0)}},
				{"refresh", pair.Refresh, wireClaims{Iss: "P2<&>\u2028", Sub: subj.UserID, Iat: iat, Exp: iat + 3600,
					DRN: DRNRefresh, AMR: hostile, Nsec: nsec, AuthTime: iat, JTI: expectedJTI(jtiBytes)}},
			} {
				hdr, claims := verifyWithJWKS(t, jwks, tt.token)
				if diff := cmp.Diff(map[string]any{"alg": string(alg), "kid": key.ID(), "typ": "JWT"}, hdr); diff != "" {
					t.Errorf("%s header (-want +got):\n%s", tt.name, diff)
				}
				// The claims as an SDK decodes them: through JSON, so invalid
				// UTF-8 reads back as U+FFFD exactly as encoding/json wrote it.
				var want map[string]any
				raw, _ := json.Marshal(tt.want)
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, claims); diff != "" {
					t.Errorf("%s claims (-want +got):\n%s", tt.name, diff)
				}

				old := goJoseToken(t, key, &tt.want)
				if alg == ES256 { // randomized signature: compare the signing input
					cut := func(s string) string { return s[:strings.LastIndexByte(s, '.')] }
					if cut(tt.token) != cut(old) {
						t.Errorf("%s signing input differs from go-jose's:\n ours %s\n jose %s", tt.name, cut(tt.token), cut(old))
					}
				} else if tt.token != old {
					t.Errorf("%s token differs from go-jose's:\n ours %s\n jose %s", tt.name, tt.token, old)
				}
			}
		})
	}
}

// checkClaimsJSON compares appendClaims with encoding/json for c.
func checkClaimsJSON(t *testing.T, c *wireClaims) {
	t.Helper()
	want, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	nsec, err := encodeNsec(c.Nsec)
	if err != nil {
		t.Fatalf("encodeNsec: %v", err)
	}
	if got := appendClaims([]byte("prefix"), c, nsec); !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
		t.Fatalf("claims %#v\n ours %s\n json %s", c, got, want)
	}
}

// randomString mixes hostile pieces, arbitrary bytes and arbitrary runes.
func randomString(r *rand.Rand) string {
	pieces := slices.Concat(hostile, []string{"a", "Z", "0", "-", "_", " ", "~", "/", "'"})
	var b strings.Builder
	for range r.IntN(6) {
		switch r.IntN(3) {
		case 0:
			b.WriteString(pieces[r.IntN(len(pieces))])
		case 1:
			b.WriteByte(byte(r.IntN(256))) // any byte, often invalid UTF-8
		default:
			b.WriteRune(rune(r.IntN(utf8.MaxRune + 1))) // surrogates become U+FFFD
		}
	}
	return b.String()
}

// TestAppendClaimsMatchesEncodingJSON is the property test of the claims
// encoder: for random claim sets full of hostile strings, custom claims
// included, it writes exactly what encoding/json writes.
func TestAppendClaimsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 14))
	for range 3000 {
		c := wireClaims{
			Iss: randomString(r), Sub: randomString(r), DRN: randomString(r), JTI: randomString(r),
			Iat: r.Int64() - r.Int64(), Exp: r.Int64N(1 << 40), SU: r.IntN(2) == 0,
		}
		for range r.IntN(3) {
			c.AMR = append(c.AMR, randomString(r))
		}
		if r.IntN(2) == 0 {
			c.AMR = []string{} // empty, omitted like nil
		}
		if n := r.IntN(4); n > 0 {
			c.Nsec = map[string]any{}
			for range n {
				c.Nsec[randomString(r)] = []any{randomString(r), r.Float64(), map[string]any{randomString(r): nil}}
			}
		}
		checkClaimsJSON(t, &c)
	}
}

// FuzzAppendClaims explores the same property (go test -fuzz
// FuzzAppendClaims ./token/); the seeds run with every go test.
func FuzzAppendClaims(f *testing.F) {
	for i, h := range hostile {
		f.Add(h, hostile[(i+1)%len(hostile)], h, h, int64(i)-1, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, sub, amr, nsecKey, nsecVal string, iat int64, su bool) {
		c := wireClaims{Iss: "P" + sub, Sub: sub, Iat: iat, Exp: -iat, DRN: DRNSession, AMR: []string{amr, sub},
			Nsec: map[string]any{nsecKey: nsecVal}, SU: su, AuthTime: iat / 2, JTI: nsecVal}
		checkClaimsJSON(t, &c)
	})
}

func TestDERToFixed(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var want [es256SigLen]byte
		for j := range want {
			want[j] = byte(r.IntN(256))
		}
		switch i % 4 { // leading zero bytes and high bits are the edge cases
		case 1:
			clear(want[:1+r.IntN(3)])
		case 2:
			clear(want[32 : 33+r.IntN(3)])
		case 3:
			want[0] |= 0x80
			want[32] |= 0x80
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(want[:32]), new(big.Int).SetBytes(want[32:])})
		if err != nil {
			t.Fatal(err)
		}
		var got [es256SigLen]byte
		for j := range got {
			got[j] = 0xee // stale data must not survive
		}
		if err := derToFixed(&got, der); err != nil || got != want {
			t.Fatalf("derToFixed(%x) = %x, %v; want %x", der, got, err, want)
		}
	}

	valid := func() []byte {
		der, _ := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(0x1234), big.NewInt(0x80)})
		return der
	}
	for _, tt := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"not a sequence", append([]byte{0x31}, valid()[1:]...)},
		{"length mismatch", append(valid(), 0)},
		{"long-form length", []byte{0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}},
		{"one integer", []byte{0x30, 0x03, 0x02, 0x01, 0x01}},
		{"not an integer", []byte{0x30, 0x06, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01}},
		{"zero-length integer", []byte{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01}},
		{"negative", []byte{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01}},
		{"too long", append([]byte{0x30, 0x25, 0x02, 0x22}, append(bytes.Repeat([]byte{1}, 34), 0x02, 0x01, 0x01)...)},
		{"33 bytes without sign byte", append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(bytes.Repeat([]byte{1}, 32), 0x02, 0x01, 0x01)...)},
		{"trailing data", []byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x05, 0x00}},
	} {
		var got [es256SigLen]byte
		if err := derToFixed(&got, tt.der); err == nil {
			t.Errorf("%s: derToFixed(%x) accepted", tt.name, tt.der)
		}
	}
}
