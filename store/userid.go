package store

import (
	"encoding/base32"
	"fmt"
	"io"
	"strings"

	"github.com/otpd/otpd/store/keyslot"
)

// User ids and where a user's keys live.
//
// A user id made by NewUserID is "U2" + "0" + a 4-character slot tag +
// 21 random base32 characters (105 bits): 28 characters of [A-Z0-9], the
// length and alphabet of Descope's ids. The tag names the cluster slot of
// the login id the user was created from, and the user's keys carry it as
// their hash tag (otpd:{<tag>}:<project>:<uid>:user ...): a first verify
// and every later verify by that login id find the code, the login index
// and the user on one slot, and run as one script.
//
// Ids of an older release ("U2" + 26 base32 characters: never "0" in
// position 3, which base32 does not use) and ids of another shape keep the
// older layout otpd:{<project>:<uid>}:...

// homeMark follows "U2" in an id that names its home slot.
const homeMark = "U20"

// UserIDLen is the length of the user ids NewUserID makes.
const UserIDLen = 28

var userIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewUserID makes a user id whose keys live on the slot of loginID's keys
// in project (the login index and pending codes).
func NewUserID(r io.Reader, project, loginID string) (string, error) {
	var b [14]byte // 21 base32 characters need 105 bits
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("user id: %w", err)
	}
	rnd := userIDEncoding.EncodeToString(b[:])[:UserIDLen-len(homeMark)-keyslot.TagLen]
	return homeMark + loginSlotTag(project, loginID) + rnd, nil
}

// loginSlotTag is the slot tag of loginID's keys.
func loginSlotTag(project, loginID string) string {
	return keyslot.Tag(keyslot.Slot(loginTag(project, loginID)))
}

// homeTag is the slot tag an id made by NewUserID carries, or "" for an
// id of the older layout.
func homeTag(userID string) string {
	if len(userID) != UserIDLen || !strings.HasPrefix(userID, homeMark) {
		return ""
	}
	tag := userID[len(homeMark) : len(homeMark)+keyslot.TagLen]
	if !keyslot.IsTag(tag) || !isBase32(userID[len(homeMark)+keyslot.TagLen:]) {
		return ""
	}
	return tag
}

// isBase32 reports whether s is upper-case base32 (what NewUserID's random
// part is). A user id from a caller (the management API, a token's sub)
// with anything else in it, such as ':' or '}', keeps the older, escaped
// layout, so it can never name another user's keys or another key type.
func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// userTag is the prefix of every key of a user.
func userTag(project, userID string) string {
	if tag := homeTag(userID); tag != "" {
		return "otpd:{" + tag + "}:" + project + ":" + userID + ":"
	}
	return "otpd:{" + project + ":" + escape(userID) + "}:"
}
