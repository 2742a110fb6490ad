package flow

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/apierr"
)

// maxLoginIDLen bounds login ids (bytes, after trimming).
const maxLoginIDLen = 256

// normalizeLoginID returns the canonical login id: an email lower-cased and
// validated, a phone number in E.164, anything else (a user name) trimmed
// and lower-cased. It also returns the login id as an address of the
// channel's contact type when it is one ("" otherwise).
func normalizeLoginID(raw string, ch Channel, region string) (id, asAddress string, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", apierr.ErrMissingArgument.With("The loginId field is required")
	}
	if len(s) > maxLoginIDLen || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", "", apierr.ErrInvalidArgument.With("The loginId is not valid")
	}
	switch {
	case address.LooksLikeEmail(s):
		e, err := address.NormalizeEmail(s)
		if err != nil {
			return "", "", apierr.ErrInvalidArgument.With("The loginId is not a valid email address")
		}
		if ch.Contact() == "email" {
			return e, e, nil
		}
		return e, "", nil
	case looksLikePhone(s):
		p, err := address.NormalizePhone(s, region)
		if err != nil {
			return "", "", apierr.ErrInvalidArgument.With("The loginId is not a valid phone number")
		}
		if ch.Contact() == "phone" {
			return p, p, nil
		}
		return p, "", nil
	default:
		return strings.ToLower(s), "", nil
	}
}

// looksLikePhone: a leading '+', or only digits and phone punctuation with
// at least 6 digits.
func looksLikePhone(s string) bool {
	if strings.HasPrefix(s, "+") {
		return true
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return false
		}
	}
	return digits >= 6
}

// normalizeAddress validates an explicit address for the channel.
func normalizeAddress(raw string, ch Channel, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if ch == Email {
		e, err := address.NormalizeEmail(s)
		if err != nil {
			return "", apierr.ErrInvalidArgument.With("The email address is not valid")
		}
		return e, nil
	}
	p, err := address.NormalizePhone(s, region)
	if err != nil {
		return "", apierr.ErrInvalidArgument.With("The phone number is not valid")
	}
	return p, nil
}

// maskAddress masks an address for the response.
func maskAddress(ch Channel, addr string) string {
	if ch == Email {
		return address.MaskEmail(addr)
	}
	return address.MaskPhone(addr)
}

// normalizeCode strips spaces and checks the code is n digits.
func normalizeCode(raw string, n int) (string, error) {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, raw)
	if s == "" {
		return "", apierr.ErrMissingArgument.With("The code field is required")
	}
	if len(s) != n {
		return "", apierr.ErrWrongCode
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", apierr.ErrWrongCode
		}
	}
	return s, nil
}
