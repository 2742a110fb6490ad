package address

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidEmail is wrapped by every error NormalizeEmail returns.
var ErrInvalidEmail = errors.New("address: invalid email address")

const (
	maxEmailLen = 254 // RFC 5321 path limit minus the angle brackets
	maxLocalLen = 64  // RFC 5321 §4.5.3.1.1
	maxLabelLen = 63  // RFC 1035 §2.3.4
)

func emailError(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidEmail, reason)
}

// NormalizeEmail trims surrounding white space, validates s strictly (see the
// package documentation for the accepted subset) and returns the canonical
// form: the whole address lower-cased. Non-ASCII (internationalised)
// addresses are rejected. Errors wrap ErrInvalidEmail and do not include s.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", emailError("empty")
	}
	if len(s) > maxEmailLen {
		return "", emailError("too long")
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", emailError("non-ASCII characters are not supported")
		}
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return "", emailError("missing '@'")
	}
	if strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", emailError("more than one '@'")
	}
	s = strings.ToLower(s) // ASCII only at this point, so this is plain case folding
	if err := checkLocal(s[:at]); err != nil {
		return "", err
	}
	if err := checkDomain(s[at+1:]); err != nil {
		return "", err
	}
	return s, nil
}

// isAtext reports whether c is an RFC 5322 atext character (ASCII only).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0
}

func checkLocal(local string) error {
	switch {
	case local == "":
		return emailError("empty local part")
	case len(local) > maxLocalLen:
		return emailError("local part too long")
	case local[0] == '.' || local[len(local)-1] == '.':
		return emailError("local part starts or ends with '.'")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '.' {
			if local[i-1] == '.' { // i > 0: a leading dot was rejected above
				return emailError("consecutive dots in local part")
			}
			continue
		}
		if !isAtext(c) {
			return emailError("invalid character in local part")
		}
	}
	return nil
}

// checkDomain validates an already lower-cased domain.
func checkDomain(domain string) error {
	if domain == "" {
		return emailError("empty domain")
	}
	labels := 0
	for rest := domain; ; {
		label, tail, more := strings.Cut(rest, ".")
		if err := checkLabel(label); err != nil {
			return err
		}
		labels++
		if !more {
			if labels < 2 {
				return emailError("domain has no dot")
			}
			return checkTLD(label)
		}
		rest = tail
	}
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return emailError("empty domain label")
	case len(label) > maxLabelLen:
		return emailError("domain label too long")
	case label[0] == '-' || label[len(label)-1] == '-':
		return emailError("domain label starts or ends with '-'")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return emailError("invalid character in domain")
		}
	}
	return nil
}

func checkTLD(tld string) error {
	if len(tld) < 2 {
		return emailError("top-level domain too short")
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i]; c < 'a' || c > 'z' {
			return emailError("top-level domain must be letters")
		}
	}
	return nil
}

// LooksLikeEmail reports whether s contains '@'. It is used to decide whether
// a loginId should be read as an e-mail address or a phone number; it does
// not validate anything.
func LooksLikeEmail(s string) bool {
	return strings.IndexByte(s, '@') >= 0
}
