package store

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// The claims cache: each process keeps, per project, the part of the
// authorization model claims are computed from (roles by id with their
// deduplicated permissions, tenants by id with incarnation, name, custom
// attributes and default roles, the project's default roles, the domain
// map), stamped with the model's version. Every model change
// (authz_model.lua) sets the version to a fresh random value in the same
// script, so freshness is exact, never a matter of time: a request reads
// the version (one GET on the project's slot, sent through the store's
// auto-pipeliner like the scripts) after it started, and uses the cached
// model only when that is the version it was built at; otherwise it reads
// the model again (authz_snapshot.lua, the version with it, atomically).
// A change answered before a request started is therefore in the claims
// that request computes, on every otpd sharing the Redis.
//
// The version is random, not a counter: a Redis that lost writes (a
// failover, a restore) and took new ones cannot show a version a cache
// already holds for other contents. A version of "" is a model never
// written.

// Bounds of the claims cache (docs/limits.md). A project whose model is
// larger than the byte bound is never cached: its claims come from the
// claims script (authz_claims.lua) as before.
const (
	DefaultAuthzCacheProjects = 1000
	DefaultAuthzCacheBytes    = 32 << 20
)

var (
	//go:embed lua/authz_snapshot.lua
	authzSnapshotSrc    string
	authzSnapshotScript = redis.NewScript(authzSnapshotSrc)
)

// newModelVersion is a fresh model version (authz_model.lua's ARGV[4]).
func newModelVersion() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authzModel is one project's model at one version, as claims need it.
// It is never changed once built (requests share it).
type authzModel struct {
	version string
	roles   map[int64]*modelRole
	tenants map[string]*modelTenant
	// defaults: the project's default roles (ids, ascending).
	defaults []int64
	domains  map[string]string // self-provisioning domain -> tenant id
	size     int               // estimated bytes
	perms    int               // distinct permissions held by roles (their numbers are 0..perms-1)
}

type modelRole struct {
	name  string
	perms []string // deduplicated, in the role's order
	// bits: each of perms' number in the model (permission numbers are
	// dense, so a user's permissions are deduplicated with a bit set).
	bits []int32
}

type modelTenant struct {
	inc      int64
	name     string
	ca       map[string]any
	defaults []int64 // its default roles (ids, in the tenant's order)
}

// Per-entry overhead in the size estimate (map entries, headers).
const modelEntryOverhead = 96

// buildModel reads authz_snapshot.lua's reply.
func buildModel(reply any) (*authzModel, error) {
	bad := errShape("authz_snapshot.lua")
	top, ok := reply.([]any)
	if !ok || len(top) != 5 {
		return nil, bad
	}
	ver, ok := top[0].(string)
	if !ok {
		return nil, bad
	}
	lists := make([][]string, 4)
	for i := range lists {
		l, ok := top[i+1].([]any)
		if !ok {
			return nil, bad
		}
		lists[i] = make([]string, len(l))
		for j, v := range l {
			if lists[i][j], ok = v.(string); !ok {
				return nil, bad
			}
		}
	}
	roleFlat, tenFlat, defNames, domFlat := lists[0], lists[1], lists[2], lists[3]
	if len(roleFlat)%2 != 0 || len(tenFlat)%2 != 0 || len(domFlat)%2 != 0 {
		return nil, bad
	}
	m := &authzModel{version: ver, roles: make(map[int64]*modelRole, len(roleFlat)/2),
		tenants: make(map[string]*modelTenant, len(tenFlat)/2), domains: make(map[string]string, len(domFlat)/2)}
	byName := make(map[string]int64, len(roleFlat)/2)
	permNo := map[string]int32{}
	for i := 0; i < len(roleFlat); i += 2 {
		r, err := parseRole(roleFlat[i], roleFlat[i+1])
		if err != nil {
			return nil, err
		}
		mr := &modelRole{name: r.Name, perms: make([]string, 0, len(r.PermissionNames)), bits: make([]int32, 0, len(r.PermissionNames))}
		for _, p := range r.PermissionNames {
			if slices.Contains(mr.perms, p) {
				continue
			}
			n, ok := permNo[p]
			if !ok {
				n = int32(len(permNo))
				permNo[p] = n
			}
			mr.perms, mr.bits = append(mr.perms, p), append(mr.bits, n)
		}
		m.roles[r.ID] = mr
		if r.TenantID == "" { // default roles name project roles only
			byName[r.Name] = r.ID
		}
		m.size += modelEntryOverhead + len(roleFlat[i]) + len(roleFlat[i+1])
	}
	ids := func(names []string) []int64 {
		var out []int64
		for _, n := range names {
			if id, ok := byName[n]; ok {
				out = appendID(out, id)
			}
		}
		return out
	}
	for i := 0; i < len(tenFlat); i += 2 {
		t, err := parseTenant(tenFlat[i], tenFlat[i+1])
		if err != nil {
			return nil, err
		}
		m.tenants[t.ID] = &modelTenant{inc: t.Incarnation, name: t.Name, ca: t.CustomAttributes, defaults: ids(t.DefaultRoles)}
		m.size += modelEntryOverhead + 2*(len(tenFlat[i])+len(tenFlat[i+1]))
	}
	m.defaults = ids(defNames)
	slices.Sort(m.defaults)
	for i := 0; i < len(domFlat); i += 2 {
		m.domains[domFlat[i]] = domFlat[i+1]
		m.size += modelEntryOverhead + len(domFlat[i]) + len(domFlat[i+1])
	}
	m.size += modelEntryOverhead + len(defNames)*8
	m.perms = len(permNo)
	return m, nil
}

// claims resolves u against m, as authz_claims.lua and parseClaims do:
// roles in u's order, each permission once in the order of first
// appearance; deleted roles and gone (or re-created) tenants left out.
// The slices are the caller's; a tenant's custom attributes are shared
// with the cache and must not be changed.
func (m *authzModel) claims(u UserAuthz) Claims {
	var c Claims
	c.Roles, c.Permissions = m.resolve(u.Roles, nil, nil)
	for _, mb := range u.Tenants {
		t := m.tenants[mb.TenantID]
		if t == nil || t.inc != mb.Incarnation {
			continue
		}
		tc := TenantClaims{Name: t.name, CustomAttributes: t.ca}
		tc.Roles, tc.Permissions = m.resolve(mb.Roles, []string{}, []string{})
		if c.Tenants == nil {
			c.Tenants = make(map[string]TenantClaims, len(u.Tenants))
		}
		c.Tenants[mb.TenantID] = tc
	}
	return c
}

// stackPerms is the number of permissions a resolve deduplicates with a
// bit set on the stack (MaxPermissions fits); past it, with a heap one.
const stackPerms = 1024

// resolve is the names and permissions of the live roles among ids (none:
// roles and perms as given).
func (m *authzModel) resolve(ids []int64, roles, perms []string) ([]string, []string) {
	n, np := 0, 0
	for _, id := range ids {
		if r := m.roles[id]; r != nil {
			n++
			np += len(r.perms)
		}
	}
	if n == 0 {
		return roles, perms
	}
	roles, perms = make([]string, 0, n), make([]string, 0, np)
	var stack [stackPerms / 64]uint64
	seen := stack[:]
	if m.perms > stackPerms {
		seen = make([]uint64, (m.perms+63)/64)
	}
	for _, id := range ids {
		r := m.roles[id]
		if r == nil || slices.Contains(roles, r.name) {
			continue
		}
		roles = append(roles, r.name)
		for i, b := range r.bits {
			w, bit := b>>6, uint64(1)<<(b&63)
			if seen[w]&bit != 0 {
				continue
			}
			seen[w] |= bit
			perms = append(perms, r.perms[i])
		}
	}
	return roles, perms
}

// newUserAuthz is what a new user with that email domain gets under m, as
// authz_defaults.lua computes it.
func (m *authzModel) newUserAuthz(domain string) UserAuthz {
	var a UserAuthz
	if len(m.defaults) > 0 {
		a.Roles = slices.Clone(m.defaults)
	}
	if domain == "" {
		return a
	}
	id, ok := m.domains[domain]
	if !ok {
		return a
	}
	if t := m.tenants[id]; t != nil {
		a.Tenants = []Membership{{TenantID: id, Incarnation: t.inc, Roles: slices.Clone(t.defaults)}}
	}
	return a
}

// authzCache holds the models of at most maxProjects projects and about
// maxBytes in all, evicting the least recently used.
type authzCache struct {
	maxProjects, maxBytes int
	mu                    sync.RWMutex
	entries               map[string]*cacheEntry
	bytes                 int
	tick                  atomic.Uint64
}

type cacheEntry struct {
	model atomic.Pointer[authzModel]
	// tooBig: the model at that version is over the byte bound (not kept;
	// claims come from the scripts until the version moves).
	tooBig atomic.Pointer[string]
	used   atomic.Uint64
	// load serializes the reloads of one project; loads counts those
	// begun, so a request waiting behind one that began after its own
	// version read takes its result instead of reading again.
	load  sync.Mutex
	loads atomic.Uint64
}

func newAuthzCache(projects, bytes int) *authzCache {
	return &authzCache{maxProjects: projects, maxBytes: bytes, entries: map[string]*cacheEntry{}}
}

func (c *authzCache) entry(project string) *cacheEntry {
	c.mu.RLock()
	e := c.entries[project]
	c.mu.RUnlock()
	if e == nil {
		c.mu.Lock()
		if e = c.entries[project]; e == nil {
			e = &cacheEntry{}
			c.entries[project] = e
			c.evict(e)
		}
		c.mu.Unlock()
	}
	e.used.Store(c.tick.Add(1))
	return e
}

// keep installs m in e, unless e was evicted meanwhile; c.mu held.
func (c *authzCache) keep(project string, e *cacheEntry, m *authzModel) {
	if c.entries[project] != e {
		return
	}
	if old := e.model.Load(); old != nil {
		c.bytes -= old.size
	}
	e.model.Store(m)
	c.bytes += m.size
	c.evict(e)
}

// evict drops the least recently used entries but keep until the bounds
// hold; c.mu held.
func (c *authzCache) evict(keep *cacheEntry) {
	for len(c.entries) > c.maxProjects || c.bytes > c.maxBytes {
		var victim string
		var oldest *cacheEntry
		for p, e := range c.entries {
			if e != keep && (oldest == nil || e.used.Load() < oldest.used.Load()) {
				victim, oldest = p, e
			}
		}
		if oldest == nil {
			return
		}
		if m := oldest.model.Load(); m != nil {
			c.bytes -= m.size
		}
		delete(c.entries, victim)
	}
}

// cached reports the projects in the cache and their estimated bytes.
func (c *authzCache) cached() (projects, bytes int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries), c.bytes
}

// AuthzCache sets the claims cache's bounds (projects, estimated bytes;
// defaults DefaultAuthzCacheProjects and DefaultAuthzCacheBytes) and
// returns s. projects <= 0 turns the cache off: every claim and every new
// user's defaults come from the scripts.
func (s *RedisStore) AuthzCache(projects, bytes int) *RedisStore {
	if projects <= 0 {
		s.authz = nil
		return s
	}
	s.authz = newAuthzCache(projects, bytes)
	return s
}

// AuthzCached is the number of projects in the claims cache and their
// estimated bytes (tests, metrics).
func (s *RedisStore) AuthzCached() (projects, bytes int) {
	if s.authz == nil {
		return 0, 0
	}
	return s.authz.cached()
}

func authzVersionKey(project string) string { return authzKeys(project)[9] }

// modelVersion reads the project's model version ("" when never written).
func (s *RedisStore) modelVersion(ctx context.Context, project string) (string, error) {
	cmd := redis.NewStringCmd(ctx, "get", authzVersionKey(project))
	err := s.proc.Process(ctx, cmd)
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable(err)
	}
	return cmd.Val(), nil
}

// readModel reads the project's model and its version at one instant.
func (s *RedisStore) readModel(ctx context.Context, project string) (*authzModel, error) {
	k := authzKeys(project)
	res, err := authzSnapshotScript.Run(ctx, s.c, []string{k[1], k[3], k[5], k[6], k[9]}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	m, err := buildModel(res)
	if err != nil {
		return nil, fmt.Errorf("store: authorization model: %w", err)
	}
	return m, nil
}

// currentModel is the project's model at a version read after the call
// began: from the cache when it holds that version, else read again (and
// kept). It is nil when the cache is off, or when the project's model is
// over the cache's byte bound at a version already seen: the caller uses
// the scripts.
func (s *RedisStore) currentModel(ctx context.Context, project string) (*authzModel, error) {
	if s.authz == nil {
		return nil, nil
	}
	ver, err := s.modelVersion(ctx, project)
	if err != nil {
		return nil, err
	}
	return s.modelAt(ctx, project, ver)
}

// modelAt is currentModel for a version the caller read (after its
// request began).
func (s *RedisStore) modelAt(ctx context.Context, project, ver string) (*authzModel, error) {
	c := s.authz
	if c == nil {
		return nil, nil
	}
	e := c.entry(project)
	if m := e.model.Load(); m != nil && m.version == ver {
		return m, nil
	}
	if big := e.tooBig.Load(); big != nil && *big == ver {
		return nil, nil
	}
	began := e.loads.Load()
	e.load.Lock()
	defer e.load.Unlock()
	if m := e.model.Load(); m != nil && (m.version == ver || e.loads.Load() > began) {
		// That version, or a model read after this call's version read.
		return m, nil
	}
	e.loads.Add(1)
	m, err := s.readModel(ctx, project)
	if err != nil {
		return nil, err
	}
	if m.size > c.maxBytes {
		// Used for this call only.
		v := m.version
		e.tooBig.Store(&v)
		return m, nil
	}
	c.mu.Lock()
	c.keep(project, e, m)
	c.mu.Unlock()
	return m, nil
}

// AuthzSnapshot is a project's current model, read once (a version check
// when cached): its Claims make no round trip. For resolving many users
// in one request (a search's role and tenant filters).
type AuthzSnapshot struct{ m *authzModel }

// Claims resolves u as RedisStore.Claims would have when the snapshot was
// taken.
func (a AuthzSnapshot) Claims(u UserAuthz) Claims {
	if u.Empty() || a.m == nil {
		return Claims{}
	}
	return a.m.claims(u)
}

// AuthzSnapshot implements Authorizer: the project's model as of now (one
// GET when the cache holds the current version; otherwise one script).
func (s *RedisStore) AuthzSnapshot(ctx context.Context, project string) (AuthzSnapshot, error) {
	m, err := s.currentModel(ctx, project)
	if err != nil {
		return AuthzSnapshot{}, err
	}
	if m == nil {
		// Over the byte bound at a version already seen, or no cache:
		// read it for this call only.
		if m, err = s.readModel(ctx, project); err != nil {
			return AuthzSnapshot{}, err
		}
	}
	return AuthzSnapshot{m: m}, nil
}

// AuthzVersion reads the project's model version, for ClaimsAt and
// NewUserAuthzAt: a verify reads it alongside its own script (one round
// trip for both) rather than after it. "" when the cache is off.
func (s *RedisStore) AuthzVersion(ctx context.Context, project string) (string, error) {
	if s.authz == nil {
		return "", nil
	}
	return s.modelVersion(ctx, project)
}

// ClaimsAt is Claims with the model's version already read (AuthzVersion,
// after the request began): no round trip when the cache holds that
// version.
func (s *RedisStore) ClaimsAt(ctx context.Context, project, version string, u UserAuthz) (Claims, error) {
	if u.Empty() {
		return Claims{}, nil
	}
	m, err := s.modelAt(ctx, project, version)
	if err != nil {
		return Claims{}, err
	}
	if m != nil {
		return m.claims(u), nil
	}
	return s.scriptClaims(ctx, project, u)
}

// NewUserAuthzAt is NewUserAuthz with the model's version already read.
func (s *RedisStore) NewUserAuthzAt(ctx context.Context, project, version, userID, emailDomain string) (UserAuthz, error) {
	m, err := s.modelAt(ctx, project, version)
	if err != nil {
		return UserAuthz{}, err
	}
	if m != nil {
		return s.indexNewUser(ctx, project, userID, m.newUserAuthz(emailDomain))
	}
	return s.scriptNewUserAuthz(ctx, project, userID, emailDomain)
}

// AuthzInUse reports whether the project's model, as this process last
// read it, has any role or tenant (true when it has not read it yet). A
// verify reads the model's version ahead only then: for a project without
// a model, a returning user who holds nothing needs no version, and a new
// user reads it after the script (NewUserAuthz). A hint for speed only:
// whoever needs the version reads it.
func (s *RedisStore) AuthzInUse(project string) bool {
	c := s.authz
	if c == nil {
		return false
	}
	c.mu.RLock()
	e := c.entries[project]
	c.mu.RUnlock()
	if e == nil {
		return true
	}
	m := e.model.Load()
	return m == nil || len(m.roles) > 0 || len(m.tenants) > 0
}
