package redisconn

import (
	"context"
	"errors"
	"net"

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

// TimedOut reports whether err is a timeout (the command's deadline, a
// socket read or write timeout): the command may have run, and the server
// is frozen or too slow, so a compensating command sent now would most
// likely time out too.
func TimedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
