package flow

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/store"
)

// maxLoginIDLen bounds login ids (bytes, after trimming).
const maxLoginIDLen = 256

// idKind is what a login id is: an email address, a phone number, or a
// user name. An address-shaped login id is bound to a user only when a code
// sent to that very address is verified.
type idKind int

const (
	kindName idKind = iota
	kindEmail
	kindPhone
)

// contact is the channel contact an address-shaped login id is ("" for a
// user name).
func (k idKind) contact() store.Contact {
	switch k {
	case kindEmail:
		return store.ContactEmail
	case kindPhone:
		return store.ContactPhone
	}
	return ""
}

// loginID is a normalised login id.
type loginID struct {
	ID   string
	Kind idKind
	// Addr is ID when it is an address of the channel's contact type, else "".
	Addr string
}

// normalizeLoginID returns the canonical login id: an email lower-cased and
// validated, a phone number in E.164, anything else a user name under the
// PRECIS UsernameCaseMapped profile (RFC 8265), applied to each
// space-separated part: case-folded, NFC, and refused when it holds
// control, format (zero-width, bidi), symbol-compatibility or other
// characters that let two different login ids look the same.
func normalizeLoginID(raw string, ch Channel, region string) (loginID, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return loginID{}, apierr.ErrMissingArgument.With("The loginId field is required")
	}
	if len(s) > maxLoginIDLen || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return loginID{}, apierr.ErrInvalidArgument.With("The loginId is not valid")
	}
	var id loginID
	switch {
	case address.LooksLikeEmail(s):
		e, err := address.NormalizeEmail(s)
		if err != nil {
			return loginID{}, apierr.ErrInvalidArgument.With("The loginId is not a valid email address")
		}
		id = loginID{ID: e, Kind: kindEmail}
	case looksLikePhone(s):
		p, err := address.NormalizePhone(s, region)
		if err != nil {
			return loginID{}, apierr.ErrInvalidArgument.With("The loginId is not a valid phone number")
		}
		id = loginID{ID: p, Kind: kindPhone}
	default:
		name, err := normalizeUserName(s)
		if err != nil {
			return loginID{}, err
		}
		return loginID{ID: name, Kind: kindName}, nil
	}
	if id.Kind.contact() == ch.Contact() {
		id.Addr = id.ID
	}
	return id, nil
}

// normalizeUserName applies PRECIS UsernameCaseMapped to each part of a
// user name separated by spaces (RFC 8265 §3.1 allows an application to
// accept spaces that way); runs of spaces become one.
func normalizeUserName(s string) (string, error) {
	parts := strings.Fields(s)
	for i, part := range parts {
		n, err := precis.UsernameCaseMapped.String(part)
		if err != nil {
			return "", apierr.ErrInvalidArgument.With("The loginId holds characters a user name may not have (invisible, format or symbol characters)")
		}
		parts[i] = n
	}
	out := strings.Join(parts, " ")
	if len(out) > maxLoginIDLen {
		return "", apierr.ErrInvalidArgument.With("The loginId is not valid")
	}
	return out, nil
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
