package redisconn

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// AutoPipeline returns c's auto-pipeliner (go-redis's blocking face, its
// default options: one ordered batch in flight per shard, up to 300
// commands or 128 KiB per batch, no wait for a batch to fill): commands
// given to its Process while a batch is out are sent together in the next
// one. c owns it: closing c drains and stops it.
//
// The client's hooks run once per batch (ProcessPipelineHook), so the
// deadline hook bounds a batch by Options.Timeout, and a tracing hook
// makes one "redis.pipeline …" span per batch, not one per command under
// the request that sent it.
func AutoPipeline(c redis.UniversalClient) (*redis.AutoPipeliner, error) {
	switch c := c.(type) {
	case *redis.Client:
		return c.AutoPipeline()
	case *redis.ClusterClient:
		return c.AutoPipeline()
	}
	return nil, fmt.Errorf("redisconn: no auto-pipelining for a %T", c)
}
