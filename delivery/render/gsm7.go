package render

import (
	"strings"
	"unicode/utf16"
)

// gsm7Basic is the GSM 03.38 default alphabet (one septet each), as Unicode,
// in table order. The escape code 0x1B is left out: it is not a character.
// Position 0x09 is the capital 'Ç'; the lower-case 'ç' is not in the table.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅå" +
	"Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
	" !\"#¤%&'()*+,-./" +
	"0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNO" +
	"PQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmno" +
	"pqrstuvwxyzäöñüà"

// gsm7Extension is the GSM 03.38 extension table: each character is sent as
// the escape code followed by one septet, so it counts two.
const gsm7Extension = "\f^{}\\[~]|€"

// SMS payload limits: one segment holds 160 GSM-7 septets or 70 UCS-2 code
// units; each part of a concatenated message loses room to its header.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsm7Cost is the number of septets r takes in GSM-7, or 0 when r is not in
// the GSM 03.38 default alphabet or its extension table.
func gsm7Cost(r rune) int {
	switch {
	case strings.ContainsRune(gsm7Basic, r):
		return 1
	case strings.ContainsRune(gsm7Extension, r):
		return 2
	default:
		return 0
	}
}

// GSM7Septets reports how many GSM-7 septets s takes (extension characters
// such as € { } [ ] ~ ^ \ | count two) and whether every character of s is
// in the GSM 03.38 default alphabet or its extension table. When ok is
// false, s must be sent as UCS-2 and n is 0.
func GSM7Septets(s string) (n int, ok bool) {
	for _, r := range s {
		c := gsm7Cost(r)
		if c == 0 {
			return 0, false
		}
		n += c
	}
	return n, true
}

// SMSSegments is the number of SMS segments text takes: in GSM-7 when
// GSM7Septets accepts it (160 septets in one segment, else 153 per part),
// in UCS-2 otherwise (70 UTF-16 code units in one segment, else 67 per
// part). Like handsets and carriers, it never splits an escaped GSM-7
// character or a UTF-16 surrogate pair across two parts. An empty text
// takes 0 segments. Rendering never fails on length: this is for callers
// to log or to alert on.
func SMSSegments(text string) int {
	if text == "" {
		return 0
	}
	if n, ok := GSM7Septets(text); ok {
		if n <= gsm7Single {
			return 1
		}
		return pack(text, gsm7Part, gsm7Cost)
	}
	n := 0
	for _, r := range text {
		n += utf16.RuneLen(r)
	}
	if n <= ucs2Single {
		return 1
	}
	return pack(text, ucs2Part, utf16.RuneLen)
}

// pack is the number of parts of size units text fills when no character,
// costing cost(r) units, may straddle two parts.
func pack(text string, size int, cost func(rune) int) int {
	parts, used := 1, 0
	for _, r := range text {
		c := cost(r)
		if used+c > size {
			parts, used = parts+1, 0
		}
		used += c
	}
	return parts
}
