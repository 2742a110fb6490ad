// Package keyslot names a short hash tag for every Redis Cluster slot, so
// that a key can be placed on the slot of another key without sharing its
// name (see docs/sessions.md, "Key layout").
package keyslot

import (
	"strings"
	"sync"

	"github.com/otpd/otpd/redisconn"
)

// Slots is the number of Redis Cluster hash slots.
const Slots = 16384

// TagLen is the length of every tag Tag returns.
const TagLen = 4

// TagAlphabet is the characters tags are made of (RFC 4648 base32): upper
// case letters and digits, never '{' or '}', so a tag is a whole hash tag.
const TagAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// Slot is the cluster slot of key: CRC16-XMODEM of its hash tag (the text
// between the first '{' and the first '}' after it, when not empty) or of
// the whole key, mod 16384 (redisconn.Slot).
func Slot(key string) int { return int(redisconn.Slot(key)) }

// tags is slot -> the first TagLen-character string of TagAlphabet (in
// lexicographic order) whose CRC16 is that slot. Computed once, on first
// use (about a million CRCs over 4 bytes: milliseconds).
var tags = sync.OnceValue(func() *[Slots]string {
	var t [Slots]string
	left := Slots
	var b [TagLen]byte
	n := len(TagAlphabet)
	for i := 0; left > 0 && i < n*n*n*n; i++ {
		b[0], b[1], b[2], b[3] = TagAlphabet[i/(n*n*n)], TagAlphabet[i/(n*n)%n], TagAlphabet[i/n%n], TagAlphabet[i%n]
		s := string(b[:])
		if slot := Slot(s); t[slot] == "" {
			t[slot] = s
			left--
		}
	}
	return &t
})

// Tag is a TagLen-character string of TagAlphabet whose slot is slot
// (0 <= slot < Slots): "{" + Tag(s) + "}" puts a key on slot s.
func Tag(slot int) string { return tags()[slot] }

// IsTag reports whether s has the shape of a tag (TagLen characters of
// TagAlphabet).
func IsTag(s string) bool {
	if len(s) != TagLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(TagAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
