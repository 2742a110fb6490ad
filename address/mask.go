package address

import (
	"strings"
	"unicode/utf8"
)

const maskStars = "***"

// MaskEmail returns a display form of email that hides the local part: its
// first character, "***", then '@' and the full domain, e.g.
// "test@email.com" -> "t***@email.com" (a one-character local part gives
// "t***@d.com" too, so the length of the local part is not revealed). The
// last '@' separates the domain. A string without '@' is returned as "***";
// an empty local part gives "***@domain".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return maskStars
	}
	local, domain := email[:at], email[at:] // domain keeps its '@'
	if local == "" {
		return maskStars + domain
	}
	_, n := utf8.DecodeRuneInString(local)
	return local[:n] + maskStars + domain
}

// MaskPhone returns phone with every character but the last two replaced by
// '*': "+972541234544" -> "***********44". The result has as many characters
// (runes) as the input. Inputs shorter than three characters are masked
// entirely.
func MaskPhone(phone string) string {
	n := utf8.RuneCountInString(phone)
	if n < 3 {
		return strings.Repeat("*", n)
	}
	// Cut after the (n-2)th rune; everything before it becomes '*'.
	cut := len(phone)
	for range 2 {
		_, size := utf8.DecodeLastRuneInString(phone[:cut])
		cut -= size
	}
	return strings.Repeat("*", n-2) + phone[cut:]
}
