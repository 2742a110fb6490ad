package redisconn

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err means Redis cannot serve right now (so the
// caller answers 503, which the SDKs retry), as opposed to a programming or
// data error that a retry cannot fix (500: a Lua runtime error, WRONGTYPE,
// NOSCRIPT after go-redis's EVAL fallback, CROSSSLOT, wrong arguments, a
// missing key read as a value).
//
// Unavailable: every failure to get a reply (dial refused, reset, timeout,
// EOF, pool exhausted, client closed, context deadline) and these replies:
// LOADING (restarting), BUSY (a script is running too long), MASTERDOWN,
// READONLY (talking to a just-demoted master), CLUSTERDOWN, TRYAGAIN (a
// slot in migration), MOVED/ASK (redirects exhausted during a topology
// change), OOM (Redis refuses writes at maxmemory), NOREPLICAS (the
// durability WAIT found no replica), max-clients, and NOAUTH/WRONGPASS/
// NOPERM (the credentials no longer work: the operator must act, but the
// service is unavailable, not the request wrong).
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	switch prefix(re.Error()) {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN",
		"MOVED", "ASK", "OOM", "NOREPLICAS", "NOAUTH", "WRONGPASS", "NOPERM":
		return true
	}
	return redis.IsMaxClientsError(err) || redis.IsOOMError(err)
}
