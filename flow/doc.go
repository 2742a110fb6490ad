// Package flow is otpd's one channel-agnostic OTP engine: start (sign-up,
// sign-in, sign-up-or-in) and verify, for every channel. The gRPC services
// are thin adapters over it.
//
// Invariants it keeps (see shared DESIGN.md):
//   - Codes come from crypto/rand without modulo bias; only their keyed HMAC
//     is stored, bound to project, channel, login id and purpose.
//   - A start replaces any earlier code for the same login id and channel.
//   - A verify counts the attempt before comparing, and consumes the code
//     atomically; a dead or expired code never works.
//   - Existing users get their code at their stored address; an address in
//     the request only ever applies to a new user.
//   - Bad input is refused before anything is written.
//   - A refresh JWT changes a verified contact or login id only while its
//     session's sign-in (auth_time, never renewed by a refresh) is recent;
//     a step-up or MFA code goes only to a contact older than the session;
//     a replaced address is told (recent.go, notice.go).
//   - Errors are apierr values; nothing here writes a code, token or full
//     address to a log.
package flow
