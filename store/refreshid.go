package store

import (
	"strconv"
	"strings"
)

// RefreshID is what a refresh token's jti names: its token family and its
// generation in that family. The token a sign-in issues starts a family
// named by its own jti (generation 0); each rotation mints the family's
// next generation, whose jti is "<family>.<generation>.<nonce>". The nonce
// keeps every jti unique (a late duplicate within the grace period gets
// another token of the current generation). Family jtis are base64url, so
// they never contain '.'.
type RefreshID struct {
	Family     string
	Generation int64
}

// ParseRefreshID reads a refresh token's jti. It reports false for a jti
// that no otpd minted (the caller has checked the token's signature, so
// that means a bug, or a key shared with another issuer).
func ParseRefreshID(jti string) (RefreshID, bool) {
	fam, rest, rotated := strings.Cut(jti, ".")
	if fam == "" || len(jti) > 128 {
		return RefreshID{}, false
	}
	if !rotated {
		return RefreshID{Family: fam}, true
	}
	g, nonce, ok := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(g, 10, 64)
	if !ok || nonce == "" || strings.Contains(nonce, ".") || err != nil || n < 1 || g != strconv.FormatInt(n, 10) {
		return RefreshID{}, false
	}
	return RefreshID{Family: fam, Generation: n}, true
}

// JTI is the jti of a token of this generation; nonce must be random and
// free of '.' (base64url). Generation 0 is the family's own name.
func (id RefreshID) JTI(nonce string) string {
	if id.Generation == 0 {
		return id.Family
	}
	return id.Family + "." + strconv.FormatInt(id.Generation, 10) + "." + nonce
}
