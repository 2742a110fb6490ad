package address

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidPhone is wrapped by every error NormalizePhone returns.
var ErrInvalidPhone = errors.New("address: invalid phone number")

// maxPhoneInput caps the (trimmed) input before it reaches the parser.
const maxPhoneInput = 32

func phoneError(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidPhone, reason)
}

// NormalizePhone parses s and returns it in E.164 form ("+14155550123").
//
// s may contain digits, spaces, '-', '.', '(' and ')', optionally preceded by
// a single '+', and is at most 32 characters after trimming surrounding white
// space. A number with '+' carries its own country code; one without is read
// in defaultRegion (ISO 3166-1 alpha-2, e.g. "US"; case-insensitive), and is
// rejected if defaultRegion is empty. A leading "00" is not assumed to be an
// international prefix. The number must be valid according to
// phonenumbers.IsValidNumber. Errors wrap ErrInvalidPhone and do not include s.
func NormalizePhone(s, defaultRegion string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", phoneError("empty")
	}
	if len(s) > maxPhoneInput {
		return "", phoneError("too long")
	}
	plus := s[0] == '+'
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == ' ', c == '-', c == '.', c == '(', c == ')':
		case c == '+' && i == 0:
		default:
			return "", phoneError("invalid character")
		}
	}
	if digits == 0 {
		return "", phoneError("no digits")
	}
	region := "ZZ" // unknown region: the number must carry its country code
	if !plus {
		if defaultRegion == "" {
			return "", phoneError("missing country code")
		}
		region = strings.ToUpper(defaultRegion)
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		// The library's messages do not echo the input, but keep ours fixed anyway.
		return "", phoneError("unparseable number")
	}
	if num.GetExtension() != "" {
		return "", phoneError("extensions are not supported")
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", phoneError("not a valid number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
