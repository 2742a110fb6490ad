package store

import (
	"context"
	_ "embed"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/limits_lib.lua
	limitsLib string
	//go:embed lua/limits.lua
	limitsSrc string

	// limitsScript charges buckets on their own; on Cluster it runs over
	// one key at a time (see charge).
	limitsScript = redis.NewScript(limitsLib + limitsSrc)

	//go:embed lua/undo_verify.lua
	undoVerifySrc    string
	undoVerifyScript = redis.NewScript(indexLib + undoVerifySrc)
	//go:embed lua/undo.lua
	undoSrc    string
	undoScript = redis.NewScript(undoSrc)
)

// undoTimeout bounds the compensation of a failed start: it runs after the
// request's own Redis call failed, so it gets a fresh, short deadline.
const undoTimeout = 500 * time.Millisecond

// undo takes back a start's charges on the login id's slot and its code,
// when the code is still ours. Best effort: it runs on the failure path,
// and a second failure is reported to the caller's log only through err.
func (s *RedisStore) undo(ctx context.Context, codeKey string, hash []byte, bs []Bucket) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	keys := []string{codeKey}
	args := []any{string(hash)}
	for _, b := range bs {
		keys = append(keys, b.Key)
		args = append(args, b.Count, b.Window.Milliseconds())
	}
	return undoScript.Run(ctx, s.c, keys, args...).Err()
}

// CodeRecordGrace is how long a pending code's record outlives the code
// (NewCode.Retain is the code's lifetime plus this), so that a late verify
// hears "expired" rather than "wrong code". UndoVerify restores a consumed
// record's expiry as the code's expiry plus this.
const CodeRecordGrace = 10 * time.Minute

// UndoVerify implements Codes.
func (s *RedisStore) UndoVerify(ctx context.Context, k CodeKey, u Undo) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	code := CodeKeyName(k)
	keys := []string{code, LoginKey(k.Project, k.LoginID)}
	if u.Fresh && u.LoginRan && homeTag(u.UserID) == loginSlotTag(k.Project, k.LoginID) {
		keys = append(append(keys, sessionKeys(k.Project, u.UserID)...), HistoryKey(k.Project, u.UserID))
		if !s.split {
			keys = append(keys, indexKeys(k.Project)...) // verify_login.lua indexed it
		}
	}
	fresh := ""
	if u.Fresh {
		fresh = string(u.Contact)
	}
	err := undoVerifyScript.Run(ctx, s.c, keys, u.UserID, CodeRecordGrace.Milliseconds(), fresh).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Bucket is one rate limit to charge: Count events per Window, with a
// burst of Count (GCRA). Buckets with Count <= 0 are skipped.
type Bucket struct {
	// Name is reported when the bucket refuses (e.g. "sends_per_ip").
	Name   string
	Key    string
	Count  int
	Window time.Duration
	// Sharded marks a project-wide bucket (a LimitKey) that every start of
	// a project charges (the project budget): on Redis Cluster it is split
	// into sub-buckets on as many slots, charged in turn (see shards).
	Sharded bool
}

// Limits are the buckets a start charges.
type Limits struct {
	// Global buckets (per IP, prefix, country, project budget) are charged
	// by every start that passes validation.
	Global []Bucket
	// Login buckets (per login id, resend cooldown) are charged only when
	// a code is stored.
	Login []Bucket
	// DryRun reports refusals without enforcing them.
	DryRun bool
	// ChargeRefused charges the Login buckets also when a sign-in is
	// refused for an unknown user (enumeration protection).
	ChargeRefused bool
	// Clear, on a verify, is a key on the login id's slot that a
	// successful verify deletes (the resend cooldown); "" for none.
	Clear string
}

// LimitKey is the key of a project-wide bucket. Each bucket is its own
// hash tag (project, bucket kind and value: otpd:{P:rl:send-ip:1.2.3.4}),
// so that on Redis Cluster a project's buckets spread over the slots and
// masters, and each is charged by a single-key script (which follows a
// slot migration's ASK redirects instead of failing with TRYAGAIN). The
// key ends with the tag: no login-id or user key (always "}:" + a suffix)
// can equal it.
func LimitKey(project string, parts ...string) string {
	for i, p := range parts {
		parts[i] = escape(p)
	}
	return "otpd:{" + project + ":rl:" + strings.Join(parts, ":") + "}"
}

// IsLimitKey reports whether key is a project-wide bucket (LimitKey),
// sharded or not (tests and tools).
func IsLimitKey(key string) bool {
	return strings.HasPrefix(key, "otpd:{") && strings.HasSuffix(key, "}") && strings.Contains(key, ":rl:") &&
		strings.Count(key, "{") == 1 && strings.Count(key, "}") == 1
}

// LoginLimitKey is the key of a login id's bucket (same slot as its codes).
func LoginLimitKey(project, loginID, name string) string {
	return loginTag(project, loginID) + "rl:" + name
}

func active(bs []Bucket) []Bucket {
	out := bs[:0:0]
	for _, b := range bs {
		if b.Count > 0 && b.Window > 0 {
			out = append(out, b)
		}
	}
	return out
}

func bucketKeys(bs []Bucket) []string {
	keys := make([]string, len(bs))
	for i, b := range bs {
		keys[i] = b.Key
	}
	return keys
}

func appendTriples(args []any, bs []Bucket) []any {
	for _, b := range bs {
		args = append(args, b.Name, b.Count, b.Window.Milliseconds())
	}
	return args
}

// dryFlag is a script's "1"/"0" flag argument, already boxed: a constant
// string in an interface costs no allocation, where a string returned and
// then boxed into the []any of a command costs one per call.
func dryFlag(dry bool) any {
	if dry {
		return "1"
	}
	return "0"
}

// ChargeLimits charges project-wide buckets on their own, as a start
// does before its own refusals (a refusal the engine makes before the
// start script, such as a tenant the login id's user is not in, must cost
// the client what a start costs). It answers the bucket that refused
// (nothing kept) or, in a dry run, the one that would have.
func (s *RedisStore) ChargeLimits(ctx context.Context, bs []Bucket, now time.Time, dry bool) (limited, would string, retry time.Duration, err error) {
	limited, would, retry, _, err = s.applyLimits(ctx, active(bs), now, dry)
	return limited, would, retry, err
}
