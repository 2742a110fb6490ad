package token

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"syscall"
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

// processCPU is the CPU time (user + system) the test process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times (b.Loop) and reports, next to ns/op, the process
// CPU time per op: on a shared, loaded machine wall time swings 2-3x
// between runs while CPU time (garbage collection included) does not.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

var benchSubject = Subject{UserID: "U2abcdefghijklmnopqrstuvwxyz", AMR: []string{"email"}}

// BenchmarkMint mints one session + refresh pair (two signatures).
func BenchmarkMint(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(string(alg), func(b *testing.B) {
			iss, _ := benchIssuer(b, alg)
			loop(b, func() {
				if _, err := iss.Mint(benchSubject); err != nil {
					b.Fatal(err)
				}
			})
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
		loop(b, func() {
			d := sha256.Sum256(input)
			if _, err := ecdsa.SignASN1(rand.Reader, priv, d[:]); err != nil {
				b.Fatal(err)
			}
		})
	})
	// Sign2 is the floor of a Mint: two signatures.
	b.Run("Sign2", func(b *testing.B) {
		loop(b, func() {
			for range 2 {
				d := sha256.Sum256(input)
				if _, err := ecdsa.SignASN1(rand.Reader, priv, d[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
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

// BenchmarkMintOverRaw interleaves Mint/ES256 with two raw ES256 signatures
// of the same input (the floor BenchmarkRawES256/Sign2 measures alone) and
// reports the ratio of their median times. Interleaving exposes both to the
// same machine load, and medians ignore the iterations another process
// preempted, so the ratio holds on a loaded machine where separate runs of
// each drift apart by 2x; issue 14 asks for ≤ 1.15.
func BenchmarkMintOverRaw(b *testing.B) {
	iss, _ := benchIssuer(b, ES256)
	pair, err := iss.Mint(benchSubject)
	if err != nil {
		b.Fatal(err)
	}
	priv := iss.keys.active.private.(*ecdsa.PrivateKey)
	input := []byte(pair.Session[:strings.LastIndexByte(pair.Session, '.')])
	raw := func() {
		for range 2 {
			d := sha256.Sum256(input)
			if _, err := ecdsa.SignASN1(rand.Reader, priv, d[:]); err != nil {
				b.Fatal(err)
			}
		}
	}
	mint := func() {
		if _, err := iss.Mint(benchSubject); err != nil {
			b.Fatal(err)
		}
	}
	var tMint, tRaw []time.Duration
	timed := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	for b.Loop() {
		if len(tMint)%2 == 0 { // alternate the order
			tMint = append(tMint, timed(mint))
			tRaw = append(tRaw, timed(raw))
		} else {
			tRaw = append(tRaw, timed(raw))
			tMint = append(tMint, timed(mint))
		}
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2])
	}
	b.ReportMetric(median(tMint)/median(tRaw), "mint/raw")
	b.ReportMetric(median(tMint), "mint-ns")
	b.ReportMetric(median(tRaw), "raw-ns")
	b.ReportMetric(0, "ns/op")
}

// benchAuthz is issue 21's benchmark user: 5 project roles of 3
// permissions each, and 3 tenants with 2 roles (6 permissions) each.
func benchAuthz() *Authz {
	a := &Authz{Tenants: map[string]TenantAuthz{}}
	perms := func(roles ...int) []string {
		var out []string
		for _, r := range roles {
			for j := range 3 {
				out = append(out, "perm-"+string(rune('0'+r))+"-"+string(rune('0'+j)))
			}
		}
		return out
	}
	for i := range 5 {
		a.Roles = append(a.Roles, "role-"+string(rune('0'+i)))
	}
	a.Permissions = perms(0, 1, 2, 3, 4)
	for i := range 3 {
		a.Tenants["tenant-"+string(rune('0'+i))] = TenantAuthz{Roles: []string{a.Roles[i], a.Roles[i+1]}, Permissions: perms(i, i+1)}
	}
	return a
}

// BenchmarkMintAuthz is BenchmarkMint (ES256) for benchAuthz's user: the
// difference is what the authorization claims cost a mint (encoding, and
// hashing and base64 of the larger payloads).
func BenchmarkMintAuthz(b *testing.B) {
	iss, _ := benchIssuer(b, ES256)
	for _, c := range []struct {
		name string
		az   *Authz
	}{{"none", nil}, {"5roles-3tenants", benchAuthz()}} {
		b.Run(c.name, func(b *testing.B) {
			subj := benchSubject
			subj.Authz = c.az
			loop(b, func() {
				if _, err := iss.Mint(subj); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
