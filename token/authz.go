package token

import (
	"slices"
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
// members each preceded by a comma (nil when there are none), exactly as
// encoding/json writes those fields of wireClaims (authzJSON; tenants by
// id in byte order, as encoding/json sorts map keys; strings escaped by
// appendJSONString). TestEncodeAuthzMatchesEncodingJSON holds it equal.
func encodeAuthz(a *Authz) ([]byte, error) {
	if a == nil || len(a.Roles) == 0 && len(a.Permissions) == 0 && len(a.Tenants) == 0 && a.DCT == "" {
		return nil, nil
	}
	n := 64 + len(a.DCT)
	for _, r := range a.Roles {
		n += len(r) + 3
	}
	for _, p := range a.Permissions {
		n += len(p) + 3
	}
	ids := make([]string, 0, len(a.Tenants))
	for id, t := range a.Tenants {
		ids = append(ids, id)
		n += len(id) + 40
		for _, r := range t.Roles {
			n += len(r) + 3
		}
		for _, p := range t.Permissions {
			n += len(p) + 3
		}
	}
	slices.Sort(ids)
	b := make([]byte, 0, n)
	list := func(b []byte, name string, l []string) []byte {
		b = append(b, name...)
		b = append(b, '[')
		for i, v := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		return append(b, ']')
	}
	if len(a.Roles) > 0 {
		b = list(b, `,"roles":`, a.Roles)
	}
	if len(a.Permissions) > 0 {
		b = list(b, `,"permissions":`, a.Permissions)
	}
	if len(ids) > 0 {
		b = append(b, `,"tenants":{`...)
		for i, id := range ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, id)
			t := a.Tenants[id]
			b = list(b, `:{"roles":`, t.Roles)
			b = list(b, `,"permissions":`, t.Permissions)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if a.DCT != "" {
		b = append(b, `,"dct":`...)
		b = appendJSONString(b, a.DCT)
	}
	return b, nil
}

// authzOf reads the authorization claims of a verified token.
func authzOf(c *wireClaims) *Authz {
	if len(c.Roles) == 0 && len(c.Permissions) == 0 && len(c.Tenants) == 0 && c.DCT == "" {
		return nil
	}
	return &Authz{Roles: c.Roles, Permissions: c.Permissions, Tenants: c.Tenants, DCT: c.DCT}
}
