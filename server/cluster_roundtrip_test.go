package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/store/keyslot"
)

// slotCounter sorts what the RPC path sends to a Redis Cluster: scripts on
// the project-wide limit buckets, on the project's search index, and the
// rest (the login id's and the user's work), each with the slots its keys
// hash to; and the reads of a user record that follow an index write (an
// index write racing an erasure drops its own entry). The delivery
// workers' commands are left out.
type slotCounter struct {
	mu                         sync.Mutex
	limits, index, work, check int
	// model: the authorization model's version GETs and model reads (the
	// project's slot).
	model int
	slots []map[int]bool // per work command
}

func (h *slotCounter) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limits, h.index, h.work, h.check, h.model, h.slots = 0, 0, 0, 0, 0, nil
}

func (h *slotCounter) count(cmd redis.Cmder) {
	if worker(cmd) {
		return
	}
	args := cmd.Args()
	keys := []string{}
	if name := cmd.Name(); (name == "evalsha" || name == "eval") && len(args) > 3 {
		n := 0
		fmt.Sscan(fmt.Sprint(args[2]), &n)
		for i := 3; i < 3+n && i < len(args); i++ {
			keys = append(keys, fmt.Sprint(args[i]))
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case cmd.Name() == "hget" && len(args) == 3 && strings.HasSuffix(fmt.Sprint(args[1]), ":user"):
		h.check++
	case len(keys) > 0 && store.IsLimitKey(keys[0]):
		h.limits++
	case len(keys) > 0 && strings.Contains(keys[0], "}:ix:"):
		h.index++
	case len(keys) > 0 && strings.Contains(keys[0], "}:az:") || cmd.Name() == "get" && len(args) == 2 && strings.Contains(fmt.Sprint(args[1]), "}:az:"):
		h.model++
	default:
		h.work++
		slots := map[int]bool{}
		for _, k := range keys {
			slots[keyslot.Slot(k)] = true
		}
		h.slots = append(h.slots, slots)
	}
}

func (h *slotCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slotCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *slotCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}

// TestClusterRoundTripsPerVerify: on a real Redis Cluster, a verify by the
// login id a user was created from (a sign-up, then a sign-in) is one
// script whose keys are all on one slot; besides it only the project-wide
// limits (their own slot) and, for a new user, the authorization model's
// version (one GET on the project's slot; the model itself is read only
// when no cached copy has that version) and the search index, followed by
// one read of the new record (after the index write).
func TestClusterRoundTripsPerVerify(t *testing.T) {
	p := newClusterPair(t)
	a := p.a
	h := &slotCounter{}
	a.redis.(*redis.ClusterClient).AddHook(h)
	check := func(name string, wantWork, wantIndex, wantModel int) {
		t.Helper()
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.work != wantWork || h.index != wantIndex || h.check != wantIndex || h.model != wantModel {
			t.Errorf("%s: %d scripts, %d on the index, %d record reads, %d model reads (limits: %d), want %d, %d, %d and %d",
				name, h.work, h.index, h.check, h.model, h.limits, wantWork, wantIndex, wantIndex, wantModel)
		}
		for _, s := range h.slots {
			if len(s) != 1 {
				t.Errorf("%s: one script's keys span slots %v", name, s)
			}
		}
	}
	for i, path := range []string{"/v1/auth/otp/signup/email", "/v1/auth/otp/signin/email"} {
		if s, r := a.post(path, `{"loginId":"rt-cluster@example.com"}`); s != 200 {
			t.Fatalf("start %d: %d %v", i, s, r)
		}
		code := a.code("rt-cluster@example.com")
		h.reset()
		if s, r := a.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"rt-cluster@example.com","code":%q}`, code)); s != 200 {
			t.Fatalf("verify %d: %d %v", i, s, r)
		}
		if i == 0 {
			// A new user's defaults come from the model: its version,
			// and (this otpd has not read it yet) the model once
			// (authz_snapshot.lua; docs/authorization.md).
			check("verify (new user)", 1, 1, 2)
		} else {
			// Nothing: the project has no roles or tenants (as this
			// otpd read it at the sign-up) and the user holds nothing.
			check("verify (returning user)", 1, 0, 0)
		}
	}
}

// TestClusterScriptsAreNotBatched: on Redis Cluster the start scripts of
// concurrent requests are sent one by one, even with
// OTPD_REDIS_AUTOPIPELINE on (the default): go-redis's cluster pipeline
// resends a node's whole sub-batch after a connection error or a
// TRYAGAIN on its first command, which would run scripts that already ran
// a second time (charging limits twice, consuming a code twice).
func TestClusterScriptsAreNotBatched(t *testing.T) {
	p := newClusterPair(t)
	a := p.a
	h := &batchRecorder{}
	a.redis.(*redis.ClusterClient).AddHook(h)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, r := a.post("/v1/auth/otp/signup-in/email", fmt.Sprintf(`{"loginId":"nobatch%d@example.com"}`, i)); s != 200 {
				t.Errorf("start %d: %d %v", i, s, r)
			}
		}()
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sizes) != 0 || h.plain != n {
		t.Fatalf("start scripts: batches %v, %d alone; want all %d alone", h.sizes, h.plain, n)
	}
}
