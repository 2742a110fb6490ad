// Package address validates, normalises and masks the login addresses otpd
// sends one-time codes to: e-mail addresses and phone numbers.
//
// # Normal forms
//
// NormalizeEmail returns the whole address lower-cased (local part included)
// after strict validation; NormalizePhone returns E.164 ("+14155550123").
// The normal form is what the service stores, hashes into codes and compares
// with, so two spellings of the same address always map to one identity.
// Both functions are pure and idempotent: normalising a normal form returns
// it unchanged.
//
// # E-mail rules and limits
//
// Accepted addresses are a deliberately small subset of RFC 5321/5322: a
// dot-atom local part (letters, digits and !#$%&'*+/=?^_`{|}~.- with no
// leading, trailing or doubled dot, at most 64 bytes), exactly one '@', and a
// domain of at least two dot-separated LDH labels (1..63 bytes, no leading or
// trailing '-') whose last label (the TLD) is at least two letters; the whole
// address is at most 254 bytes. Display names, angle brackets, comments,
// quoted local parts, IP-literal domains and any whitespace are rejected.
//
// Internationalised addresses are NOT supported: any non-ASCII byte (in the
// local part or the domain) is rejected, so SMTPUTF8 local parts cannot be
// used. IDN domains work only in A-label (punycode, "xn--...") form, and only
// under an all-letter TLD: an A-label TLD such as "xn--p1ai" is rejected.
//
// # Phone rules
//
// Phone numbers are parsed with github.com/nyaruka/phonenumbers (a port of
// Google's libphonenumber) and must be valid numbers according to its
// metadata. Input is limited to 32 characters of digits, spaces, '-', '.',
// '(' and ')', optionally preceded by a single '+'. Letters (vanity numbers),
// extensions and "tel:" URIs are rejected. A number without '+' is read in
// the caller's default region; with no default region it is rejected. A
// leading "00" is not rewritten to '+'; it is only understood as an
// international prefix if it is one in the default region.
//
// # Errors and personal data
//
// Errors wrap ErrInvalidEmail or ErrInvalidPhone (test with errors.Is) and
// carry a short reason. They never contain the input, because addresses are
// personal data and error messages end up in logs.
//
// MaskEmail and MaskPhone produce display forms safe for logs and for
// "code sent to t***@example.com" responses.
package address
