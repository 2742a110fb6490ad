package token

import (
	"strconv"
	"unicode/utf8"
)

// appendClaims appends the JSON of c to b, byte for byte what
// encoding/json.Marshal(c) produces (fields in wireClaims order, amr, nsec,
// su and auth_time omitted when empty, strings escaped as encoding/json escapes them,
// HTML characters included). nsec is c.Nsec already encoded with
// encoding/json, or nil when c.Nsec is empty: custom claims are arbitrary
// values, and Mint encodes them once for both tokens.
//
// FuzzAppendClaims holds this equal to encoding/json.
func appendClaims(b []byte, c *wireClaims, nsec []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Iss)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Sub)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.Iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Exp, 10)
	b = append(b, `,"drn":`...)
	b = appendJSONString(b, c.DRN)
	if len(c.AMR) > 0 {
		b = append(b, `,"amr":[`...)
		for i, m := range c.AMR {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m)
		}
		b = append(b, ']')
	}
	if len(nsec) > 0 {
		b = append(b, `,"nsec":`...)
		b = append(b, nsec...)
	}
	if c.SU {
		b = append(b, `,"su":true`...)
	}
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	b = append(b, c.authz...)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.JTI)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json.Marshal
// writes it: `"` and `\` backslash-escaped; \b, \f, \n, \r and \t short
// escapes; other bytes below 0x20 and the HTML characters <, > and & as
// \u00XX; U+2028 and U+2029 as \u2028 and \u2029 (they end lines in
// JavaScript); each byte of invalid UTF-8 as \ufffd. Everything else is
// copied as is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is pending, to be copied unchanged
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, <, >, &
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
