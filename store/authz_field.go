package store

import (
	"encoding/json"
	"strconv"
	"strings"
)

// parseUserAuthz reads a user record's "authz" field ("" for nothing).
// The field is always written by UserAuthz.Field (encoding/json), so its
// shape is known: {"r":[ids],"t":[{"i":"id","s":n,"r":[ids]}...]}. That
// shape is read here without reflection (every verify and refresh of a
// user with roles reads it); anything else (a string with an escape, a
// field order of another writer) goes to encoding/json, which decides.
func parseUserAuthz(v string) (UserAuthz, error) {
	if v == "" {
		return UserAuthz{}, nil
	}
	if a, ok := fastUserAuthz(v); ok {
		return a, nil
	}
	var a UserAuthz
	err := json.Unmarshal([]byte(v), &a)
	return a, err
}

// authzScan reads the canonical shape; ok false on anything else.
type authzScan struct {
	s  string
	ok bool
}

func (p *authzScan) lit(l string) bool {
	if !p.ok || !strings.HasPrefix(p.s, l) {
		p.ok = false
		return false
	}
	p.s = p.s[len(l):]
	return true
}

func (p *authzScan) peek(l string) bool { return p.ok && strings.HasPrefix(p.s, l) }

func (p *authzScan) int() int64 {
	i := 0
	for i < len(p.s) && (p.s[i] == '-' || p.s[i] >= '0' && p.s[i] <= '9') {
		i++
	}
	n, err := strconv.ParseInt(p.s[:i], 10, 64)
	if err != nil {
		p.ok = false
		return 0
	}
	p.s = p.s[i:]
	return n
}

// str reads a JSON string with no escape in it.
func (p *authzScan) str() string {
	if !p.lit(`"`) {
		return ""
	}
	i := strings.IndexAny(p.s, "\"\\")
	if i < 0 || p.s[i] != '"' {
		p.ok = false
		return ""
	}
	out := p.s[:i]
	for j := 0; j < len(out); j++ {
		if out[j] < 0x20 {
			p.ok = false
			return ""
		}
	}
	p.s = p.s[i+1:]
	return out
}

func (p *authzScan) ids() []int64 {
	p.lit("[")
	var out []int64
	for p.ok && !p.peek("]") {
		if len(out) > 0 {
			p.lit(",")
		}
		out = append(out, p.int())
	}
	p.lit("]")
	return out
}

func fastUserAuthz(v string) (UserAuthz, bool) {
	p := &authzScan{s: v, ok: true}
	var a UserAuthz
	p.lit("{")
	first := true
	if p.peek(`"r":`) {
		p.lit(`"r":`)
		a.Roles = p.ids()
		first = false
	}
	if p.peek(`,"t":`) || first && p.peek(`"t":`) {
		if !first {
			p.lit(",")
		}
		p.lit(`"t":[`)
		for p.ok && !p.peek("]") {
			if len(a.Tenants) > 0 {
				p.lit(",")
			}
			var m Membership
			p.lit(`{"i":`)
			m.TenantID = p.str()
			p.lit(`,"s":`)
			m.Incarnation = p.int()
			if p.peek(`,"r":`) {
				p.lit(`,"r":`)
				m.Roles = p.ids()
			}
			p.lit("}")
			a.Tenants = append(a.Tenants, m)
		}
		p.lit("]")
	}
	p.lit("}")
	if !p.ok || p.s != "" {
		return UserAuthz{}, false
	}
	return a, true
}
