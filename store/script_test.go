package store_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

// TestScriptCacheFlushed: after Redis forgets the scripts (SCRIPT FLUSH, a
// restart without persistence, a failover to a replica that never loaded
// them) a start and a verify still work: the store sends the source when
// EVALSHA answers NOSCRIPT.
func TestScriptCacheFlushed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if err := s.Preload(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := s.StartCode(ctx, newCode("f@x.io", "111111", store.RuleNew))
		if err != nil || res.Status != store.StartOK {
			t.Fatalf("start after SCRIPT FLUSH: %+v %v", res, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		v, err := s.VerifyCode(ctx, attempt("f@x.io", "111111", t0))
		if err != nil || v.Status != store.VerifyOK {
			t.Fatalf("verify after SCRIPT FLUSH: %+v %v", v, err)
		}
	})
}
