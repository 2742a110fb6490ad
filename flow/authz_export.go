package flow

import (
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// TokenAuthz converts resolved claims to a token's claims (nil when there
// are none); dct is kept only when c has that tenant. Access keys
// (package accesskey) mint with it, so that their tokens carry the claims
// exactly as users' do.
func TokenAuthz(c store.Claims, dct string) *token.Authz { return tokenAuthz(c, dct) }
