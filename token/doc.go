// Package token owns the signing keys of a project, mints the session and
// refresh JWTs that otpd hands out, verifies them again, and produces the
// public JWKS document that clients (Descope SDKs among them) use to validate
// tokens on their own.
//
// # Tokens
//
// Every successful authentication yields a [Pair]: a short-lived session
// token (claim drn = "DS") and a long-lived refresh token (drn = "DSR"). Both
// are compact JWS objects with the protected header {alg, kid, typ: "JWT"}
// and the claims iss (project id), sub (user id), iat, exp (integer unix
// seconds), jti (16 random bytes, base64url), optional amr and nsec, and
// su = true on a step-up session token. There is deliberately no aud claim:
// Descope's SDKs do not send or expect one.
//
// # Keys and rotation
//
// A [KeySet] holds one active [Key], which signs every new token, and any
// number of retired keys, which only verify. A key is identified by its
// RFC 7638 thumbprint, so the kid of a key loaded from the same PEM file is
// the same after every restart. To rotate, build a new KeySet with the new key
// active and the old one retired, and keep the old key in the set until the
// longest-lived token it signed (a refresh token) has expired; the JWKS lists
// every key of the set, active first.
//
// # Invariants
//
//   - A key signs with exactly one algorithm, inferred from the key material
//     (P-256 → ES256, Ed25519 → EdDSA, RSA ≥ 2048 bits → RS256). Verification
//     requires the header alg to equal the algorithm of the key named by kid,
//     so "none", HMAC and any algorithm confusion are rejected.
//   - Expiry is strict: a token is valid only while exp > now. iat may be at
//     most 5 s in the future, to absorb clock skew between replicas.
//   - Nothing here reads the wall clock or global state: the clock and the
//     randomness for token ids are injected, and every type is immutable
//     after construction, hence safe for concurrent use.
//   - Work that does not depend on the token (encoded headers, thumbprints, the JWKS
//     document) is done once, at construction.
//
// # Encoding
//
// Tokens are built by hand over crypto/ecdsa, crypto/ed25519 and crypto/rsa
// (sign.go, claims.go): the header is encoded once per key, the claims JSON
// is appended into a pooled buffer, and an ES256 signature is converted from
// DER to the fixed 64-byte r || s. The output is byte for byte what
// go-jose's signer and encoding/json wrote before (TestMintMatchesGoJose,
// TestAppendClaimsMatchesEncodingJSON, FuzzAppendClaims); minting costs
// about 4% more than the two raw signatures (BenchmarkMintOverRaw).
//
// Verification errors wrap [ErrInvalidToken]; callers test with errors.Is.
package token
