package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/redisconn"
)

var (
	//go:embed lua/start.lua
	startSrc string
	//go:embed lua/verify_lib.lua
	verifyLib string
	//go:embed lua/verify.lua
	verifySrc string
	//go:embed lua/login_lib.lua
	loginLib string
	//go:embed lua/login.lua
	loginSrc string
	//go:embed lua/verify_login.lua
	verifyLoginSrc string
)

// Scripter is the narrow client RedisStore needs: scripts, plus the three
// plain commands that need no script. redis.UniversalClient (single node,
// Sentinel, Cluster) satisfies it.
type Scripter interface {
	redis.Scripter
	HGet(ctx context.Context, key, field string) *redis.StringCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	XAdd(ctx context.Context, a *redis.XAddArgs) *redis.StringCmd
	// The management API's reads: login history, and records in batches.
	LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	// Process sends a command built by the store (run's EVALSHA).
	Process(ctx context.Context, cmd redis.Cmder) error
}

// RedisStore implements Codes and Users on Redis.
type RedisStore struct {
	c Scripter
	// proc sends run's and runText's EVALSHA: c, or an auto-pipeliner
	// (Batched).
	proc Processor
	// split runs project-wide rate limits as their own script before the
	// login id's script (Redis Cluster: they live in another slot).
	split  bool
	start  *redis.Script
	verify *redis.Script
	login  *redis.Script
	// verifyLogin is verify and login in one script (see VerifyLogin).
	verifyLogin *redis.Script
	// durable is the durability mode (see durable.go); zero: off.
	durable durability
	// pending holds, per code key, a start's undo still running in the
	// background (closed when it ends): a start for the same key waits
	// for it (see StartCode).
	pending sync.Map
	// retrying holds a slot per background undo being sent again
	// (maxRetryingUndos).
	retrying chan struct{}
	// turns holds, per Sharded bucket key (a project's budget on one
	// channel), the round-robin counter over its sub-buckets (split-slot
	// mode, see shard).
	turns sync.Map
	// authz is the claims cache (authz_cache.go); nil: off.
	authz *authzCache
}

// evalShaArgs is EVALSHA of sc as a command's arguments, for a command
// built here rather than with redis.Script.Run, which copies the
// arguments into a second slice and reads the reply as []any (one boxed
// value per element, then a second slice of strings).
func evalShaArgs(sc *redis.Script, keys []string, args []any) []any {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", sc.Hash(), len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	return append(a, args...)
}

var (
	_ Codes = (*RedisStore)(nil)
	_ Users = (*RedisStore)(nil)
)

// NewRedisStore returns a store over c. On a *redis.ClusterClient the
// project-wide rate limits cost one extra round trip per start and verify
// (one pipeline of single-key scripts, see applyLimits), as they live in
// other slots than the login id's keys.
func NewRedisStore(c Scripter) *RedisStore {
	_, cluster := c.(*redis.ClusterClient)
	return NewRedisStoreSplit(c, cluster)
}

// NewRedisStoreSplit is NewRedisStore with the split-slot mode chosen
// explicitly (tests run it on a single node).
func NewRedisStoreSplit(c Scripter, split bool) *RedisStore {
	return &RedisStore{
		c:        c,
		proc:     c,
		split:    split,
		retrying: make(chan struct{}, maxRetryingUndos),
		authz:    newAuthzCache(DefaultAuthzCacheProjects, DefaultAuthzCacheBytes),
		start:    redis.NewScript(limitsLib + fraudLib + startSrc),
		verify:   redis.NewScript(limitsLib + verifyLib + verifySrc),
		login:    redis.NewScript(refreshLib + loginLib + loginSrc),
		verifyLogin: redis.NewScript(limitsLib + refreshLib + verifyLib + loginLib + indexLib +
			verifyLoginSrc),
	}
}

// Preload loads the scripts into the server's cache so that the first
// requests do not pay an EVAL fallback. Optional.
func (s *RedisStore) Preload(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.start, s.verify, s.login, s.verifyLogin, sessionScript, contactScript, sessionUserScript, bindScript, limitsScript,
		undoScript, undoVerifyScript, fraudScript, mgmtUserScript, mgmtLoginScript, mgmtIndexScript, mgmtSearchScript,
		authzModelScript, authzClaimsScript, authzDefaultsScript, authzSnapshotScript, accessKeyScript} {
		if err := sc.Load(ctx, s.c).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// escape makes a login id safe inside a hash tag: the tag ends at the
// first '}', so '{', '}' (and '%', the escape itself) are percent-encoded.
func escape(s string) string {
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	r := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
	return r.Replace(s)
}

func loginTag(project, loginID string) string {
	return "otpd:{" + project + ":" + escape(loginID) + "}:"
}

// LoginKey is the login index key of a login id (exported for tests and tools).
func LoginKey(project, loginID string) string { return loginTag(project, loginID) + "login" }

// CodeKeyName is the pending-code key of k.
func CodeKeyName(k CodeKey) string { return loginTag(k.Project, k.LoginID) + "code:" + k.Channel }

// UserKey is the user record key.
func UserKey(project, userID string) string { return userTag(project, userID) + "user" }

// RefreshKey is the refresh-token-id set of a user.
func RefreshKey(project, userID string) string { return userTag(project, userID) + "rt" }

// sessionKeys are the user record, its refresh-token keys (rt, rtg, see
// lua/refresh_lib.lua), and two keys of an older release (rtf, rtr: they
// grew with every rotation), never read, removed by logout-all, revoke
// others and DropUser, else left to expire.
func sessionKeys(project, userID string) []string {
	t := userTag(project, userID)
	return []string{t + "user", t + "rt", t + "rtg", t + "rtf", t + "rtr"}
}

// unavailable classifies a Redis failure: real unavailability wraps
// ErrUnavailable (503, safe to retry); anything else (a Lua runtime error,
// WRONGTYPE, NOSCRIPT...) is a plain error the API answers 500.
func unavailable(err error) error {
	if redisconn.Unavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("store: redis: %w", err)
}

func errShape(script string) error { return fmt.Errorf("store: %s returned a malformed reply", script) }

// StartCode implements Codes in one round trip (three in split-slot mode:
// project-wide limits (one pipeline), the login id's script, the queue). Every failure it
// reports as ErrUnavailable leaves nothing that refuses the retry: a
// failure after a step that charged undoes that step (see undo.lua and
// docs/scaling.md).
func (s *RedisStore) StartCode(ctx context.Context, c NewCode) (StartResult, error) {
	global, login := active(c.Limits.Global), active(c.Limits.Login)
	var would string
	var charged []Bucket // project-wide buckets charged in their own round trip
	guard, wouldBlock := c.Guard, ""
	if !guard.active() {
		guard = nil
	}
	if s.split && guard != nil {
		// [fraud] the guard's entities live in other slots: judged first,
		// on their own; counted after the code is stored (below).
		entity, until, err := s.checkGuard(ctx, guard, c.Now)
		if err != nil {
			return StartResult{}, err
		}
		if entity != "" && !guard.Shadow {
			return StartResult{Status: StartBlocked, Blocked: entity, BlockedUntil: until}, nil
		}
		wouldBlock = entity
	}
	if s.split {
		limited, w, retry, ch, err := s.applyLimits(ctx, global, c.Now, c.Limits.DryRun)
		if err != nil || limited != "" {
			return StartResult{Status: StartLimited, Limit: limited, RetryAfter: retry}, err
		}
		would, charged, global = w, ch, nil
	}
	// The login id's tag once for both of its keys.
	tag := loginTag(c.Key.Project, c.Key.LoginID)
	codeKey := tag + "code:" + c.Key.Channel // CodeKeyName(c.Key)
	// An earlier start of this key whose undo outlived its answer (it
	// timed out): its undo first, so that it cannot take this start's
	// charges for its own.
	if err := s.awaitUndo(ctx, codeKey); err != nil {
		_ = s.refund(ctx, charged) // best effort, as on every failure path
		return StartResult{}, err
	}
	keys := make([]string, 0, 3+len(global)+len(login))
	keys = append(keys, tag+"login", codeKey) // LoginKey, CodeKeyName
	keys = append(append(keys, bucketKeys(global)...), bucketKeys(login)...)
	// start.lua's arguments: 12 always, the rest only when one of them
	// says something (each argument costs redis-server a conversion into
	// Lua; numbers are sent as the strings the script stores). Numbers go
	// in as integers: go-redis writes an integer as its decimal string (the
	// same bytes as strconv's), and an integer in an interface costs one
	// allocation (none below 256) where a formatted string costs two.
	args := make([]any, 0, 19+3*(len(global)+len(login)))
	args = append(args, string(c.Rule), c.Hash, c.NewUserAddress, string(c.Contact),
		c.MaxAttempts, c.ExpiresAt.UnixMilli(), c.lifetimeMs(), c.Now.UnixMilli(), c.Key.LoginID)
	inGuard := guard != nil && !s.split
	var gkeys []string
	var gargs []any
	if inGuard {
		gkeys, gargs = guard.appendTo(nil, nil)
		keys = append(keys, gkeys...)
	}
	inScript := c.Job != nil && !s.split
	if inScript {
		keys = append(keys, c.Job.Stream)
		args = append(args, c.Job.ID, c.Job.Payload, c.Job.MaxLen)
	} else {
		args = append(args, "", "", "")
	}
	field := c.storedField()
	if len(c.Payload) > 0 || c.OwnerID != "" || field != "" || len(global) > 0 || len(login) > 0 ||
		c.Limits.DryRun || c.Limits.ChargeRefused || inGuard {
		args = append(args, c.Payload, c.OwnerID, field, len(global), len(login),
			dryFlag(c.Limits.DryRun), dryFlag(c.Limits.ChargeRefused))
		args = appendTriples(appendTriples(args, global), login)
		args = append(args, gargs...)
	}
	// undo takes the start back when a step after the charges fails (the
	// script may have run even when its reply was lost).
	undo := func(cause error) error {
		return s.takeBackStart(ctx, codeKey, c.Hash, append(global, login...), charged, cause)
	}
	reply, err := s.runText(ctx, s.start, keys, args...)
	if err != nil {
		return StartResult{}, undo(s.runErr(err))
	}
	r, ok := startReply(reply)
	if !ok {
		return StartResult{}, errShape("start.lua")
	}
	if would != "" {
		r.WouldLimit = would
	}
	if wouldBlock != "" {
		r.WouldBlock = wouldBlock
	}
	if r.Status == StartOK && c.Job != nil && !inScript {
		// Split-slot mode: the stream lives in another slot.
		if err := s.enqueue(ctx, c.Job, r.Address, c.ExpiresAt); err != nil {
			return StartResult{}, undo(err)
		}
	}
	if r.Status == StartOK && s.split && guard != nil {
		// Best effort: the code is stored and queued; a lost count only
		// makes the guard a little later to judge.
		_ = s.RecordGuard(ctx, guard, GuardSend, 1, c.Now)
	}
	return r, nil
}

// startReply reads start.lua's reply: a status alone, "ok\n<would
// limit>\n<address>" or "limited\n<retry ms>\n<bucket>".
func startReply(reply string) (StartResult, bool) {
	status, rest, two := strings.Cut(reply, "\n")
	r := StartResult{Status: StartStatus(status)}
	switch r.Status {
	case "fg":
		// [fraud] shadow mode: "fg\n<entity>\n" and the usual reply.
		entity, tail, ok := strings.Cut(rest, "\n")
		if !two || !ok {
			return StartResult{}, false
		}
		r, ok := startReply(tail)
		if !ok || r.Status == "fg" {
			return StartResult{}, false
		}
		r.WouldBlock = entity
		return r, true
	case StartBlocked:
		mid, last, three := strings.Cut(rest, "\n")
		ms, err := strconv.ParseInt(mid, 10, 64)
		if !two || !three || err != nil {
			return StartResult{}, false
		}
		r.Blocked, r.BlockedUntil = last, time.UnixMilli(ms)
		return r, true
	case StartOK, StartLimited:
		mid, last, three := strings.Cut(rest, "\n")
		if !two || !three {
			return StartResult{}, false
		}
		if r.Status == StartOK {
			r.WouldLimit, r.Address = mid, last
			return r, true
		}
		ms, err := strconv.ParseInt(mid, 10, 64)
		if err != nil {
			return StartResult{}, false
		}
		r.Limit, r.RetryAfter = last, time.Duration(ms)*time.Millisecond
		return r, true
	case StartExists, StartNotFound, StartNoAddress, StartNotOwner, StartDisabled:
		return r, !two
	}
	return StartResult{}, false
}

func (s *RedisStore) enqueue(ctx context.Context, j *Job, to string, exp time.Time) error {
	err := s.c.XAdd(ctx, &redis.XAddArgs{Stream: j.Stream, MaxLen: j.MaxLen, Approx: true, Values: []any{
		"id", j.ID, "j", j.Payload, "to", to, "exp", strconv.FormatInt(exp.UnixMilli(), 10),
	}}).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// storedField is the contact field the record keeps as 'f': "" when it
// is the channel's (email for the email channel, phone for the others),
// which verify assumes when the field is absent.
func (c NewCode) storedField() string {
	def := ContactPhone
	if c.Key.Channel == "email" {
		def = ContactEmail
	}
	if c.Contact == def {
		return ""
	}
	return string(c.Contact)
}

// lifetimeMs is the record's TTL in Redis. The store has no clock, so the
// caller sets Retain to the code's lifetime plus a grace period during which
// a late verify is answered "expired".
func (c NewCode) lifetimeMs() int64 {
	ms := c.Retain.Milliseconds()
	if ms < 1000 {
		ms = 1000
	}
	return ms
}

// VerifyCode implements Codes in one round trip (two in split-slot mode).
func (s *RedisStore) VerifyCode(ctx context.Context, a Attempt) (VerifyResult, error) {
	keys, args, would, early, err := s.prepareVerify(ctx, a)
	if early != nil || err != nil {
		return *early, err
	}
	res, err := s.run(ctx, s.verify, keys, args...)
	if err != nil {
		if errors.Is(err, ErrNotReplicated) {
			err = s.unreplicatedVerify(ctx, a.Key, res, false, err)
		}
		return VerifyResult{}, s.runErr(err)
	}
	if len(res) != 8 {
		return VerifyResult{}, errShape("verify.lua")
	}
	return verifyResult(res, would), nil
}

// prepareVerify charges the project-wide limits in split-slot mode (early
// is then set when they refuse, or err when they fail) and returns
// verify_lib.lua's keys and arguments, and the bucket a dry run would
// have refused.
func (s *RedisStore) prepareVerify(ctx context.Context, a Attempt) (keys []string, args []any, would string, early *VerifyResult, err error) {
	buckets := active(a.Limits.Global)
	if s.split {
		limited, w, retry, _, err := s.applyLimits(ctx, buckets, a.Now, a.Limits.DryRun)
		if err != nil || limited != "" {
			return nil, nil, "", &VerifyResult{Status: VerifyLimited, Limit: limited, RetryAfter: retry}, err
		}
		would, buckets = w, nil
	}
	buckets = append(buckets, active(a.Limits.Login)...)
	args = make([]any, 0, 5+3*len(buckets)+len(a.Candidates))
	args = append(args, a.Now.UnixMilli(), a.NewUserID, len(buckets), dryFlag(a.Limits.DryRun), a.Key.LoginID)
	args = appendTriples(args, buckets)
	for _, c := range a.Candidates {
		args = append(args, c)
	}
	keys = append([]string{CodeKeyName(a.Key), LoginKey(a.Key.Project, a.Key.LoginID)}, bucketKeys(buckets)...)
	if a.Limits.Clear != "" {
		keys = append(keys, a.Limits.Clear)
	}
	return keys, args, would, nil, nil
}

// verifyResult reads verify_lib.lua's 8 fields.
func verifyResult(res []string, would string) VerifyResult {
	left, _ := strconv.Atoi(res[6])
	r := VerifyResult{
		Status:       VerifyStatus(res[0]),
		Address:      res[2],
		UserID:       res[4],
		NewUser:      res[5] == "1",
		AttemptsLeft: left,
		WouldLimit:   would,
	}
	extra, _ := strconv.ParseInt(res[7], 10, 64)
	switch r.Status {
	case VerifyOK:
		if res[3] != "" {
			r.Payload = []byte(res[3])
		}
		r.Contact = contactOf(r.Address)
	case VerifyLimited:
		r.Limit, r.RetryAfter = res[1], time.Duration(extra)*time.Millisecond
		return r
	case VerifyDead:
		r.CreatedAt = time.UnixMilli(extra)
		return r
	}
	if r.WouldLimit == "" {
		r.WouldLimit = res[7]
	}
	return r
}

func contactOf(address string) Contact {
	if strings.HasPrefix(address, "+") {
		return ContactPhone
	}
	return ContactEmail
}
