// Package redisconn builds otpd's Redis client from OTPD_REDIS_URL (single
// node, Sentinel or Cluster) with bounded timeouts, and says which Redis
// failures are real unavailability (503, safe to retry) and which are
// programming errors (500).
//
// Every command is bounded: the client runs with ContextTimeoutEnabled, its
// dial, read, write and pool-wait timeouts set to Options.Timeout, and a
// hook gives every command a deadline of at most Options.Timeout (or the
// caller's, if sooner). Commands are not retried by the client on a single
// node or Sentinel: a script that timed out may have run, and the caller
// (the SDK, on a 503) decides. (go-redis's ClusterClient still retries a
// command after EOF or a reset: docs/scaling.md, "Left open".)
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults.
const (
	// DefaultTimeout bounds one Redis command (dial, pool wait, write,
	// read, and the whole command including redirects).
	DefaultTimeout = time.Second
	// DefaultClusterReload is how stale a Cluster slot map may get without
	// errors; any connection error, CLUSTERDOWN or TRYAGAIN reloads it at once.
	DefaultClusterReload = 2 * time.Second
)

// Options are what Open needs.
type Options struct {
	// URL is OTPD_REDIS_URL: redis://, rediss://, unix://,
	// redis://...?master_name=M&addr=... (Sentinel, go-redis form),
	// redis+sentinel://[user:pass@]host:port[,host:port...]/M[/db], or with
	// Cluster a redis:// URL naming one or more seed nodes (?addr=...).
	URL string
	// Cluster reads URL as a Cluster seed list (OTPD_REDIS_CLUSTER=true).
	Cluster bool
	// Timeout bounds each command (DefaultTimeout when 0).
	Timeout time.Duration
	// ClusterReload is the periodic slot-map reload (DefaultClusterReload when 0).
	ClusterReload time.Duration
	// BlockingConns is added to each Cluster node's pool (the URL's
	// pool_size or go-redis's 10 per CPU): delivery workers hold up to one
	// connection per queue shard in blocking reads, and must not take the
	// request path's. (A single node or Sentinel needs one per worker.)
	BlockingConns int
}

// Open returns a client for o. It does not connect: the first command does.
func Open(o Options) (redis.UniversalClient, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ClusterReload <= 0 {
		o.ClusterReload = DefaultClusterReload
	}
	var c redis.UniversalClient
	switch {
	case o.Cluster:
		opts, err := redis.ParseClusterURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("OTPD_REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		bound(o.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout)
		opts.DialerRetries = 1
		opts.Dialer = noBreaker(redis.NewDialer(&redis.Options{DialTimeout: opts.DialTimeout, TLSConfig: opts.TLSConfig}))
		opts.ClusterStateReloadInterval = o.ClusterReload
		if o.BlockingConns > 0 {
			if opts.PoolSize == 0 {
				opts.PoolSize = 10 * runtime.GOMAXPROCS(0)
			}
			opts.PoolSize += o.BlockingConns
		}
		cc := redis.NewClusterClient(opts)
		cc.AddHook(reloadHook{cc})
		c = cc
	case isSentinel(o.URL):
		opts, err := ParseSentinelURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("OTPD_REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		bound(o.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout)
		opts.DialerRetries = 1
		opts.MaxRetries = -1
		// The data nodes' dialer (go-redis asks the Sentinels for the
		// master's address, then calls it).
		opts.Dialer = noBreaker(redis.NewDialer(&redis.Options{DialTimeout: opts.DialTimeout, TLSConfig: opts.TLSConfig}))
		c = redis.NewFailoverClient(opts)
	default:
		opts, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("OTPD_REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		bound(o.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout)
		opts.DialerRetries = 1
		opts.MaxRetries = -1
		opts.Dialer = noBreaker(redis.NewDialer(opts))
		c = redis.NewClient(opts)
	}
	c.AddHook(deadlineHook{o.Timeout})
	return c, nil
}

// Bound adds the command deadline hook to a client built elsewhere (the
// embedded miniredis, tests).
func Bound(c redis.UniversalClient, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.AddHook(deadlineHook{timeout})
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// isSentinel reports whether u names Sentinels rather than a server.
func isSentinel(u string) bool {
	if strings.HasPrefix(u, "redis+sentinel://") || strings.HasPrefix(u, "rediss+sentinel://") {
		return true
	}
	p, err := url.Parse(u)
	return err == nil && p.Query().Get("master_name") != ""
}

// ParseSentinelURL parses both Sentinel URL forms:
//
//	redis+sentinel://[user:pass@]host:port[,host:port...]/mastername[/db][?options]
//	redis://[user:pass@]host:port?master_name=M[&addr=host:port...][&options]
//
// (rediss+sentinel:// and rediss:// for TLS). The URL's user and password
// authenticate to the Sentinels (go-redis's rule) and, in the
// redis+sentinel form, also to the data nodes unless ?password= names
// theirs. Other query options are go-redis's (dial_timeout=..., db=...).
func ParseSentinelURL(raw string) (*redis.FailoverOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("not a URL")
	}
	if scheme != "redis+sentinel" && scheme != "rediss+sentinel" {
		return redis.ParseFailoverURL(raw)
	}
	// Rewrite to go-redis's form: first host in the authority, the others
	// as addr=, the master name as master_name=.
	authority, path, _ := strings.Cut(rest, "/")
	path, query, _ := strings.Cut(path, "?")
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	hosts := strings.Split(authority, ",")
	if len(hosts) == 0 || hosts[0] == "" {
		return nil, errors.New("redis+sentinel URL: no sentinel address")
	}
	for i, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			hosts[i] = net.JoinHostPort(h, "26379")
		}
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 0 || segs[0] == "" || len(segs) > 2 {
		return nil, errors.New("redis+sentinel URL: the path must be /mastername or /mastername/db")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("redis+sentinel URL: %w", err)
	}
	if q.Has("master_name") {
		return nil, errors.New("redis+sentinel URL: name the master in the path, not with master_name")
	}
	q.Set("master_name", segs[0])
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	db := ""
	if len(segs) == 2 {
		if _, err := strconv.Atoi(segs[1]); err != nil {
			return nil, fmt.Errorf("redis+sentinel URL: invalid database number %q", segs[1])
		}
		db = "/" + segs[1]
	}
	base := "redis"
	if scheme == "rediss+sentinel" {
		base = "rediss"
	}
	o, err := redis.ParseFailoverURL(base + "://" + userinfo + hosts[0] + db + "?" + q.Encode())
	if err == nil && o.Password == "" && o.Username == "" {
		o.Username, o.Password = o.SentinelUsername, o.SentinelPassword
	}
	return o, err
}

// deadlineHook bounds every command and pipeline by timeout.
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= h.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.timeout)
}

func (h deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if blocking(cmd) {
			return next(ctx, cmd)
		}
		ctx, cancel := h.bound(ctx)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (h deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := h.bound(ctx)
		defer cancel()
		return next(ctx, cmds)
	}
}

// blocking commands wait on purpose (XREADGROUP ... BLOCK); go-redis gives
// them their block time plus the read timeout.
func blocking(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "xreadgroup", "xread", "blpop", "brpop", "bzpopmin", "bzpopmax", "wait":
		return true
	}
	return false
}

// reloadHook makes a Cluster client reload its slot map as soon as a
// command fails for a reason a topology change explains (a dead master, a
// failover in progress, a slot in migration), instead of waiting for the
// periodic reload. Reloads are asynchronous and coalesced by go-redis.
type reloadHook struct{ c *redis.ClusterClient }

func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(err)
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(err)
		return err
	}
}

func (h reloadHook) after(err error) {
	if err != nil && topologyError(err) {
		h.c.ReloadState(context.Background())
	}
}

func topologyError(err error) bool {
	if errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		switch prefix(re.Error()) {
		case "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "READONLY", "MASTERDOWN", "LOADING":
			return true
		}
		return false
	}
	return true // network: refused, reset, timeout, EOF
}

func prefix(msg string) string {
	p, _, _ := strings.Cut(msg, " ")
	return p
}

// bound sets each timeout that the URL left unset to t.
func bound(t time.Duration, ds ...*time.Duration) {
	for _, d := range ds {
		*d = or(*d, t)
	}
}
