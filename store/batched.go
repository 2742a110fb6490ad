package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Processor sends one command and waits for its reply: a go-redis client,
// or its auto-pipeliner.
type Processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// Batched sends the scripts of starts, verifies, logins, refreshes and the
// other single-script operations through p and returns s. With p a
// go-redis AutoPipeliner (redisconn.AutoPipeline), the scripts of
// concurrent requests share pipelines: one write and one read per batch,
// for otpd and for redis-server, instead of per request. Each request
// still waits for its own script's reply, and a script once queued is
// always sent (a caller that gives up meanwhile is answered after it
// ran), so the store's undo never races a script still to run.
//
// The durability mode's EVALSHA + WAIT is not batched: WAIT must follow
// its script on the same connection.
func (s *RedisStore) Batched(p Processor) *RedisStore {
	if p != nil {
		s.proc = p
	}
	return s
}
