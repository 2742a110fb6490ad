package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/redisconn"
)

// Shortfall is what the durability mode does with a write whose WAIT
// reached fewer replicas than it asked for (a frozen or lagging replica,
// or a master left without replicas by a failover).
type Shortfall int

const (
	// RefuseShortfall answers ErrUnavailable (503): a start or a verify is
	// taken back on the master first (code deleted or given back, charges
	// refunded), so the SDK's retry is answered as the first try would
	// have been. A master with fewer replicas than asked refuses every
	// write on its slots.
	RefuseShortfall Shortfall = iota
	// AcceptShortfall keeps the write and answers as if it were
	// replicated; the ReplicationObserver reports the node degraded.
	AcceptShortfall
)

// ReplicationObserver hears how the durability mode's WAITs end, per
// master (node: its address on Cluster, "" on a single node or Sentinel).
type ReplicationObserver interface {
	// Replicated: a write on node reached its replicas.
	Replicated(node string)
	// ShortOf: a write on node reached acked of want replicas (-1: the
	// WAIT itself failed); accepted says the write was kept
	// (AcceptShortfall).
	ShortOf(node string, acked, want int, accepted bool)
	// SkipWait is asked before a write under AcceptShortfall: true when
	// node fell short recently and the write may go without WAIT (one
	// write per recheck interval still waits, to see the replicas come
	// back), so that a master without replicas does not add the WAIT
	// timeout to every write.
	SkipWait(node string) bool
}

// durability is the durability mode's configuration (replicas 0: off).
type durability struct {
	replicas int
	timeout  time.Duration
	policy   Shortfall
	obs      ReplicationObserver
	// undoFailed hears the error of a start's undo that ran in the
	// background (see takeBackStart); nil: dropped.
	undoFailed func(error)
}

// Durable turns on the durability mode (replicas 0: off) and returns s.
// A script whose WAIT does not reach `replicas` replicas within timeout
// answers ErrUnavailable (see Shortfall for the other policy): its effect
// is on the master but may not survive a failover (see docs/scaling.md).
func (s *RedisStore) Durable(replicas int, timeout time.Duration) *RedisStore {
	s.durable.replicas, s.durable.timeout = replicas, timeout
	return s
}

// OnShortfall sets the durability mode's policy for a write that reached
// too few replicas, and who hears every WAIT's outcome (nil: nobody).
func (s *RedisStore) OnShortfall(p Shortfall, o ReplicationObserver) *RedisStore {
	s.durable.policy, s.durable.obs = p, o
	return s
}

// OnUndoFailure sets who hears the error of a failed start's undo that
// outlived its request (the start timed out: its answer does not wait).
func (s *RedisStore) OnUndoFailure(f func(error)) *RedisStore {
	s.durable.undoFailed = f
	return s
}

// ErrNotReplicated is wrapped (with ErrUnavailable) when the durability
// mode's WAIT times out.
var ErrNotReplicated = errors.New("store: the write did not reach the required replicas in time")

// run runs a script whose reply is a list of strings; in the durability
// mode it pipelines EVALSHA (EVAL when the server answers NOSCRIPT) and
// WAIT on one connection of the master that owns keys[0] (WAIT covers
// only that connection's writes). With ErrNotReplicated it also returns
// the script's reply (the write is on the master).
func (s *RedisStore) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]string, error) {
	if s.durable.replicas <= 0 {
		cmd := redis.NewStringSliceCmd(ctx, evalShaArgs(sc, keys, args)...)
		if err := s.proc.Process(ctx, cmd); redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server's script cache was flushed: EVAL sends the
			// source, which caches it again.
			return sc.Eval(ctx, s.c, keys, args...).StringSlice()
		}
		return cmd.Result()
	}
	ev, werr := s.runDurable(ctx, sc, keys, args)
	if ev == nil {
		return nil, werr
	}
	res, err := ev.StringSlice()
	if err != nil {
		return nil, err
	}
	return res, werr
}

// runText is run for a script whose reply is one string.
func (s *RedisStore) runText(ctx context.Context, sc *redis.Script, keys []string, args ...any) (string, error) {
	if s.durable.replicas <= 0 {
		cmd := redis.NewStringCmd(ctx, evalShaArgs(sc, keys, args)...)
		if err := s.proc.Process(ctx, cmd); redis.HasErrorPrefix(err, "NOSCRIPT") {
			return sc.Eval(ctx, s.c, keys, args...).Text()
		}
		return cmd.Result()
	}
	ev, werr := s.runDurable(ctx, sc, keys, args)
	if ev == nil {
		return "", werr
	}
	res, err := ev.Text()
	if err != nil {
		return "", err
	}
	return res, werr
}

// pipeliner is a client or a Cluster node's client.
type pipeliner interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// runDurable is the durability mode's EVALSHA + WAIT. It returns the
// script's command when the script ran (nil and the error otherwise),
// with ErrNotReplicated (wrapped in ErrUnavailable) when WAIT did not
// reach the replicas and the policy refuses.
func (s *RedisStore) runDurable(ctx context.Context, sc *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	var node pipeliner = s.c
	name := ""
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		node, name = m, m.Options().Addr
	}
	d := s.durable
	wait := d.policy == RefuseShortfall || d.obs == nil || !d.obs.SkipWait(name)
	var ev *redis.Cmd
	var acks *redis.IntCmd
	send := func(eval func(redis.Pipeliner) *redis.Cmd) error {
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			ev = eval(p)
			if !wait {
				return nil
			}
			acks = redis.NewIntCmd(ctx, "wait", d.replicas, d.timeout.Milliseconds())
			return p.Process(ctx, acks)
		})
		return err
	}
	err := send(func(p redis.Pipeliner) *redis.Cmd { return sc.EvalSha(ctx, p, keys, args...) })
	if ev != nil && redis.HasErrorPrefix(ev.Err(), "NOSCRIPT") {
		// The script cache was flushed: send the source (the WAIT that
		// followed the refused EVALSHA waited for nothing).
		err = send(func(p redis.Pipeliner) *redis.Cmd { return sc.Eval(ctx, p, keys, args...) })
	}
	if ev == nil || ev.Err() != nil {
		if ev != nil {
			err = ev.Err()
		}
		return nil, err
	}
	if !wait {
		return ev, nil // counted by SkipWait
	}
	n, werr := acks.Result()
	if werr == nil && n >= int64(d.replicas) {
		if d.obs != nil {
			d.obs.Replicated(name)
		}
		return ev, nil
	}
	if werr != nil {
		n = -1
	}
	accept := d.policy == AcceptShortfall
	if d.obs != nil {
		d.obs.ShortOf(name, int(n), d.replicas, accept)
	}
	if accept {
		return ev, nil
	}
	return ev, fmt.Errorf("%w: %w (%d of %d, %v)", ErrUnavailable, ErrNotReplicated, max(n, 0), d.replicas, werr)
}

// runErr classifies an error of run: a durability-mode WAIT that timed out
// is already ErrUnavailable (the write is on the master only); anything
// else goes through unavailable.
func (s *RedisStore) runErr(err error) error {
	if errors.Is(err, ErrNotReplicated) {
		return err
	}
	return unavailable(err)
}

// unreplicatedVerify takes back a verify whose WAIT fell short under
// RefuseShortfall (the caller answers 503): when the code matched, it is
// given back and a fresh binding (and the user the same script created)
// undone, as UndoVerify does after a failed login, so that the SDK's
// retry signs the user in rather than hearing "code used". res is
// verify_lib.lua's 8 fields; loginRan: verify_login.lua completed the
// login too. A wrong code's counted attempt stays (the retry counts
// another). Returns err, joined with the undo's failure if any.
func (s *RedisStore) unreplicatedVerify(ctx context.Context, k CodeKey, res []string, loginRan bool, err error) error {
	if len(res) < 8 || VerifyStatus(res[0]) != VerifyOK {
		return err
	}
	u := Undo{UserID: res[4], Fresh: res[5] == "1", Contact: contactOf(res[2]), LoginRan: loginRan}
	if uerr := s.UndoVerify(ctx, k, u); uerr != nil {
		return errors.Join(err, fmt.Errorf("giving back the unreplicated verify: %w", uerr))
	}
	return err
}

// takeBackStart undoes a start that failed after it may have charged
// (undo.lua on the login id's slot, then the split-slot refunds), each
// with its own short deadline. When the start failed fast (a refused
// connection, a WAIT that fell short, a failed XADD) the answer waits for
// the undo, so the retry finds nothing that refuses it. When it timed out
// (Redis frozen or too slow: the undo would most likely time out too) the
// answer does not wait: the 503 comes after OTPD_REDIS_TIMEOUT, not that
// plus the undo's deadline; the undo goes on in the background, and a
// start for the same code key in this process waits for it first (see
// StartCode), so this process's retry does not race it.
func (s *RedisStore) takeBackStart(ctx context.Context, codeKey string, hash []byte, bs, charged []Bucket, cause error) error {
	ctx = context.WithoutCancel(ctx)
	done := make(chan struct{})
	var uerr error
	s.pending.Store(codeKey, done)
	go func() {
		defer close(done)
		defer s.pending.CompareAndDelete(codeKey, done)
		// An undo that timed out is sent again (for up to undoRetryFor):
		// the start it undoes may still be waiting in a frozen server's
		// socket buffer, and an undo sent once the server answers again
		// runs after it.
		// At most maxRetryingUndos undos retry at once (each holds a pool
		// connection while it waits); the others are sent once.
		retry := false
		select {
		case s.retrying <- struct{}{}:
			retry = true
			defer func() { <-s.retrying }()
		default:
		}
		for begin := time.Now(); ; {
			err := s.undo(ctx, codeKey, hash, bs)
			if err == nil || !retry || !redisconn.TimedOut(err) || time.Since(begin) > undoRetryFor {
				if err != nil {
					uerr = fmt.Errorf("undoing the start: %w", err)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := s.refund(ctx, charged); err != nil {
			uerr = errors.Join(uerr, fmt.Errorf("refunding the project-wide limits: %w", err))
		}
	}()
	if redisconn.TimedOut(cause) {
		if f := s.durable.undoFailed; f != nil {
			go func() {
				<-done
				if uerr != nil {
					f(uerr)
				}
			}()
		}
		return cause
	}
	<-done
	if uerr != nil {
		return errors.Join(cause, uerr)
	}
	return cause
}

// Background undo bounds.
const (
	// undoRetryFor: a start's undo that timed out is sent again for this
	// long (each try bounded by undoTimeout).
	undoRetryFor = 5 * time.Second
	// awaitUndoFor: a start waits this long at most for an earlier undo of
	// its code key (it answers 503 then: Redis is still not answering).
	awaitUndoFor = time.Second
	// maxRetryingUndos bounds the undos being sent again at once, per
	// process.
	maxRetryingUndos = 64
)

// errUndoPending is a start's error while an earlier start of the same
// code key is still being taken back (Redis not answering).
var errUndoPending = fmt.Errorf("%w: an earlier start of this login id is still being taken back", ErrUnavailable)

// awaitUndo waits for a start's undo still running in the background for
// codeKey (see takeBackStart), at most awaitUndoFor or until ctx ends.
func (s *RedisStore) awaitUndo(ctx context.Context, codeKey string) error {
	v, ok := s.pending.Load(codeKey)
	if !ok {
		return nil
	}
	t := time.NewTimer(awaitUndoFor)
	defer t.Stop()
	select {
	case <-v.(chan struct{}):
		return nil
	case <-t.C:
		return errUndoPending
	case <-ctx.Done():
		return ctx.Err()
	}
}
