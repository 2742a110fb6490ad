package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// Reading the model: the stored records and the load-all answers.

type permRec struct {
	D string `json:"d"`
}

type roleRec struct {
	ID  int64    `json:"id"`
	T   string   `json:"t"` // a tenant-scoped role's tenant, and its name
	N   string   `json:"n"`
	D   string   `json:"d"`
	P   []string `json:"p"`
	Def bool     `json:"def"`
}

type tenantRec struct {
	S   int64    `json:"s"`
	N   string   `json:"n"`
	Dom []string `json:"dom"`
	// CA is the custom attributes' JSON as a string; records written
	// before that hold the object itself.
	CA json.RawMessage `json:"ca"`
	DR []string        `json:"dr"`
}

func (s *RedisStore) hashAll(ctx context.Context, key string) (map[string]string, error) {
	m, err := s.c.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return m, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Permissions implements Authorizer, by name.
func (s *RedisStore) Permissions(ctx context.Context, project string) ([]Permission, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[0])
	if err != nil {
		return nil, err
	}
	out := make([]Permission, 0, len(m))
	for _, k := range sortedKeys(m) {
		var r permRec
		if err := json.Unmarshal([]byte(m[k]), &r); err != nil {
			return nil, fmt.Errorf("store: permission record: %w", err)
		}
		out = append(out, Permission{Name: k, Description: r.D})
	}
	return out, nil
}

func parseRole(name, raw string) (Role, error) {
	var r roleRec
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Role{}, fmt.Errorf("store: role record: %w", err)
	}
	if r.T != "" { // field is "\x1f<tenant>\x1f<name>"
		name = r.N
	}
	return Role{ID: r.ID, Name: name, TenantID: r.T, Description: r.D, PermissionNames: r.P, Default: r.Def}, nil
}

// Roles implements Authorizer: project roles by name, then each tenant's
// roles by tenant id and name.
func (s *RedisStore) Roles(ctx context.Context, project string) ([]Role, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[1])
	if err != nil {
		return nil, err
	}
	out := make([]Role, 0, len(m))
	for _, k := range sortedKeys(m) {
		r, err := parseRole(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].TenantID != out[j].TenantID {
			return out[i].TenantID < out[j].TenantID
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func parseTenant(id, raw string) (Tenant, error) {
	var r tenantRec
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Tenant{}, fmt.Errorf("store: tenant record: %w", err)
	}
	var ca map[string]any
	b := []byte(r.CA)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return Tenant{}, fmt.Errorf("store: tenant record: %w", err)
		}
		b = []byte(s)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &ca); err != nil {
			return Tenant{}, fmt.Errorf("store: tenant record: %w", err)
		}
	}
	return Tenant{ID: id, Incarnation: r.S, Name: r.N, SelfProvisioningDomains: r.Dom, CustomAttributes: ca, DefaultRoles: r.DR}, nil
}

// Tenants implements Authorizer, by id.
func (s *RedisStore) Tenants(ctx context.Context, project string) ([]Tenant, error) {
	m, err := s.hashAll(ctx, authzKeys(project)[3])
	if err != nil {
		return nil, err
	}
	out := make([]Tenant, 0, len(m))
	for _, k := range sortedKeys(m) {
		t, err := parseTenant(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
