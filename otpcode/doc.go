// Package otpcode generates one-time codes and computes the keyed hashes that
// are stored in their place.
//
// # Invariants
//
// These are product requirements; changes here need a security review.
//
//   - Codes are drawn from a cryptographically secure source
//     (crypto/rand.Reader in production) with rejection sampling, so every
//     code of a given length is exactly equally likely: no modulo bias.
//   - Code length is configurable between MinLength and MaxLength digits
//     (DefaultLength is 6); codes are zero-padded decimal strings.
//   - A plaintext code is never stored. Only
//     HMAC-SHA256(server secret, encode(project, channel, login id, purpose, code))
//     is, where encode writes each field as a 4-byte big-endian length
//     followed by its bytes, so no two distinct inputs share an encoding
//     (("ab","c") and ("a","bc") hash differently). Binding the hash to the
//     project, channel, login id and purpose means a code issued for one
//     context cannot be replayed in another, and a leaked hash table cannot
//     be brute-forced offline without the secret.
//   - Secrets rotate: a Hasher holds a list of secrets, newest first. New
//     codes are hashed with the newest; verification tries all of them (see
//     Candidates), so codes issued just before a rotation stay valid until
//     they expire. Each secret is at least 32 bytes.
//   - Hashes are compared in constant time (Equal).
//
// Generator and Hasher are safe for concurrent use and are built once at
// start-up; neither keeps package-level state.
package otpcode
