package redisconn

import (
	"github.com/redis/go-redis/v9"
)

// AutoPipeline returns the auto-pipeliner of a single-node or Sentinel
// client (go-redis's blocking face, its default options: one ordered
// batch in flight; a batch is sent as soon as the previous one is back,
// with every command that arrived meanwhile, cut into 128 KiB chunks
// sent one after another; no wait for a batch to fill). c owns it:
// closing c sends what is queued and stops it. A client from Open retries
// nothing (MaxRetries -1), so a batch is never sent twice.
//
// For a Cluster client it returns nil: go-redis's cluster pipeline
// resends a node's whole sub-batch after a connection error, or after a
// retryable error (TRYAGAIN, CLUSTERDOWN, LOADING…) on its first command,
// so scripts that already ran (and were answered) would run again. On
// Cluster each script is sent alone, as before.
//
// The client's hooks run once per batch (ProcessPipelineHook), and once
// per lone command (ProcessHook), on a background context: the deadline
// hook bounds each by Options.Timeout, and a tracing hook makes root spans
// ("redis.pipeline …", or "evalsha" for a lone script), not children of
// the requests they carry.
func AutoPipeline(c redis.UniversalClient) (*redis.AutoPipeliner, error) {
	if c, ok := c.(*redis.Client); ok {
		return c.AutoPipeline()
	}
	return nil, nil
}
