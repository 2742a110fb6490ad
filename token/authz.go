package token

import (
	"encoding/json"
	"fmt"
)

// Authz is Descope's authorization claims of a token: the user's
// project-level roles and the union of their permissions, per tenant the
// same, and dct, the tenant the session selected.
type Authz struct {
	Roles       []string
	Permissions []string
	Tenants     map[string]TenantAuthz
	DCT         string
}

// TenantAuthz is a user's roles and permissions in one tenant. Both are
// always present (as [] when empty): the SDKs tell membership by the
// tenant's key.
type TenantAuthz struct {
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// authzJSON is the wire order of the claims, as in wireClaims.
type authzJSON struct {
	Roles       []string               `json:"roles,omitempty"`
	Permissions []string               `json:"permissions,omitempty"`
	Tenants     map[string]TenantAuthz `json:"tenants,omitempty"`
	DCT         string                 `json:"dct,omitempty"`
}

// encodeAuthz encodes a's claims once for every token of a mint, as JSON
// members each preceded by a comma ("" when there are none), exactly as
// encoding/json writes those fields of wireClaims.
func encodeAuthz(a *Authz) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	w := authzJSON{Roles: a.Roles, Permissions: a.Permissions, DCT: a.DCT}
	if len(a.Tenants) > 0 {
		w.Tenants = make(map[string]TenantAuthz, len(a.Tenants))
		for id, t := range a.Tenants {
			if t.Roles == nil {
				t.Roles = []string{}
			}
			if t.Permissions == nil {
				t.Permissions = []string{}
			}
			w.Tenants[id] = t
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("token: encoding authorization claims: %w", err)
	}
	if len(b) <= 2 { // {}
		return nil, nil
	}
	b[0] = ',' // {"roles":...} -> ,"roles":...
	return b[:len(b)-1], nil
}

// authzOf reads the authorization claims of a verified token.
func authzOf(c *wireClaims) *Authz {
	if len(c.Roles) == 0 && len(c.Permissions) == 0 && len(c.Tenants) == 0 && c.DCT == "" {
		return nil
	}
	return &Authz{Roles: c.Roles, Permissions: c.Permissions, Tenants: c.Tenants, DCT: c.DCT}
}
