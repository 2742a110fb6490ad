package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Access keys (docs/authorization.md, "Access keys"): an identity for a
// service. Per project, one hash on the project's slot (so one slot on
// Cluster, next to the authorization model):
//
//	otpd:{P}:ak  hash  key id -> record JSON (accessKeyRec)
//
// A record holds the SHA-256 of the key's cleartext, never the
// cleartext. Its roles and tenants are a UserAuthz (role ids and tenant
// incarnations), resolved against the current model at every exchange
// exactly like a user's: a deleted role or tenant is gone from the key at
// once, without touching the record.

var (
	//go:embed lua/accesskey.lua
	accessKeySrc    string
	accessKeyScript = redis.NewScript(accessKeySrc)
)

// Caps on access keys; past them a write is refused, never cut.
const (
	MaxAccessKeys      = 1000 // per project
	MaxPermittedIPs    = 50   // IPs and CIDRs per key
	MaxAccessKeyTenant = MaxTenantsPerUser
)

// Access key statuses (Descope's).
const (
	AccessKeyActive   = "active"
	AccessKeyInactive = "inactive"
)

// Access key errors.
var (
	ErrAccessKeyNotFound = errors.New("store: no such access key")
	ErrAccessKeyCap      = errors.New("store: the project has reached its limit of access keys")
	ErrAccessKeyExists   = errors.New("store: access key id already taken")
	// ErrAccessKeyChanged: a concurrent write changed the key between a
	// read and a write (UpdateAccessKey retries).
	ErrAccessKeyChanged = errors.New("store: access key changed concurrently")
)

// AccessKey is one access key of a project.
type AccessKey struct {
	ID          string
	Name        string
	Description string
	// Hash is the SHA-256 of the cleartext key.
	Hash    []byte
	Status  string
	Created time.Time
	// Expires is zero for a key that never expires.
	Expires time.Time
	// Authz are the key's roles and tenants (by id and incarnation).
	Authz UserAuthz
	// PermittedIPs are IPs and CIDRs in canonical prefix form ("" none:
	// every IP).
	PermittedIPs []string
	// CreatedBy is the id of the management key that created it.
	CreatedBy string
	// raw is the record as read (for the compare-and-set of an update).
	raw string
}

// Expired reports whether k has expired at now.
func (k AccessKey) Expired(now time.Time) bool {
	return !k.Expires.IsZero() && !now.Before(k.Expires)
}

type accessKeyRec struct {
	N  string    `json:"n"`
	D  string    `json:"d,omitempty"`
	H  []byte    `json:"h"`
	St string    `json:"st"`
	C  int64     `json:"c"`
	E  int64     `json:"e,omitempty"`
	A  UserAuthz `json:"a"`
	IP []string  `json:"ip,omitempty"`
	CB string    `json:"cb,omitempty"`
}

func (k AccessKey) record() (string, error) {
	r := accessKeyRec{N: k.Name, D: k.Description, H: k.Hash, St: k.Status, C: k.Created.Unix(), A: k.Authz,
		IP: k.PermittedIPs, CB: k.CreatedBy}
	if !k.Expires.IsZero() {
		r.E = k.Expires.Unix()
	}
	b, err := json.Marshal(r)
	return string(b), err
}

func parseAccessKey(id, raw string) (AccessKey, error) {
	var r accessKeyRec
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return AccessKey{}, fmt.Errorf("store: access key record: %w", err)
	}
	k := AccessKey{ID: id, Name: r.N, Description: r.D, Hash: r.H, Status: r.St, Created: time.Unix(r.C, 0),
		Authz: r.A, PermittedIPs: r.IP, CreatedBy: r.CB, raw: raw}
	if r.E != 0 {
		k.Expires = time.Unix(r.E, 0)
	}
	return k, nil
}

// AccessKeys is the storage of access keys.
type AccessKeys interface {
	// CreateAccessKey stores a new key (ErrAccessKeyCap, ErrAccessKeyExists).
	CreateAccessKey(ctx context.Context, project string, k AccessKey) error
	// AccessKey loads one key (ErrAccessKeyNotFound).
	AccessKey(ctx context.Context, project, id string) (AccessKey, error)
	// AllAccessKeys lists the project's keys by id (bounded by the cap).
	AllAccessKeys(ctx context.Context, project string) ([]AccessKey, error)
	// UpdateAccessKey applies change to the key atomically (a
	// compare-and-set, retried on a concurrent write) and returns the key
	// after it (ErrAccessKeyNotFound; change's own error stops it).
	UpdateAccessKey(ctx context.Context, project, id string, change func(*AccessKey) error) (AccessKey, error)
	// DeleteAccessKey removes a key (ErrAccessKeyNotFound).
	DeleteAccessKey(ctx context.Context, project, id string) error
	// ChargeLimits charges buckets (each on its own slot) and answers the
	// refusing bucket's name and retry time ("" when allowed; a refused
	// request keeps no charge), or in a dry run the one that would have
	// refused.
	ChargeLimits(ctx context.Context, bs []Bucket, now time.Time, dry bool) (limited, would string, retry time.Duration, err error)
}

var _ AccessKeys = (*RedisStore)(nil)

// AccessKeysKey is the hash of a project's access keys.
func AccessKeysKey(project string) string { return projectTag(project) + "ak" }

// accessKeyRetries bounds an update's compare-and-set retries.
const accessKeyRetries = 5

func (s *RedisStore) akScript(ctx context.Context, project string, args ...any) (string, error) {
	res, err := s.run(ctx, accessKeyScript, []string{AccessKeysKey(project)}, args...)
	if err != nil {
		return "", s.runErr(err)
	}
	if len(res) != 1 {
		return "", errShape("accesskey.lua")
	}
	return res[0], nil
}

// CreateAccessKey implements AccessKeys.
func (s *RedisStore) CreateAccessKey(ctx context.Context, project string, k AccessKey) error {
	rec, err := k.record()
	if err != nil {
		return err
	}
	st, err := s.akScript(ctx, project, "create", k.ID, rec, MaxAccessKeys)
	switch {
	case err != nil:
		return err
	case st == "ok":
		return nil
	case st == "cap":
		return ErrAccessKeyCap
	case st == "exists":
		return ErrAccessKeyExists
	}
	return errShape("accesskey.lua")
}

// AccessKey implements AccessKeys.
func (s *RedisStore) AccessKey(ctx context.Context, project, id string) (AccessKey, error) {
	raw, err := s.c.HGet(ctx, AccessKeysKey(project), id).Result()
	if errors.Is(err, redis.Nil) {
		return AccessKey{}, ErrAccessKeyNotFound
	}
	if err != nil {
		return AccessKey{}, unavailable(err)
	}
	return parseAccessKey(id, raw)
}

// AllAccessKeys implements AccessKeys.
func (s *RedisStore) AllAccessKeys(ctx context.Context, project string) ([]AccessKey, error) {
	m, err := s.hashAll(ctx, AccessKeysKey(project))
	if err != nil {
		return nil, err
	}
	ids := sortedKeys(m)
	out := make([]AccessKey, 0, len(ids))
	for _, id := range ids {
		k, err := parseAccessKey(id, m[id])
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// UpdateAccessKey implements AccessKeys.
func (s *RedisStore) UpdateAccessKey(ctx context.Context, project, id string, change func(*AccessKey) error) (AccessKey, error) {
	for range accessKeyRetries {
		k, err := s.AccessKey(ctx, project, id)
		if err != nil {
			return AccessKey{}, err
		}
		before := k.raw
		if err := change(&k); err != nil {
			return AccessKey{}, err
		}
		k.ID = id
		rec, err := k.record()
		if err != nil {
			return AccessKey{}, err
		}
		st, err := s.akScript(ctx, project, "cas", id, before, rec)
		switch {
		case err != nil:
			return AccessKey{}, err
		case st == "ok":
			k.raw = rec
			return k, nil
		case st == "notfound":
			return AccessKey{}, ErrAccessKeyNotFound
		case st == "changed":
			continue
		default:
			return AccessKey{}, errShape("accesskey.lua")
		}
	}
	return AccessKey{}, ErrAccessKeyChanged
}

// DeleteAccessKey implements AccessKeys.
func (s *RedisStore) DeleteAccessKey(ctx context.Context, project, id string) error {
	st, err := s.akScript(ctx, project, "delete", id)
	switch {
	case err != nil:
		return err
	case st == "ok":
		return nil
	case st == "notfound":
		return ErrAccessKeyNotFound
	}
	return errShape("accesskey.lua")
}
