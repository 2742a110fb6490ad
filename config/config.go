// Package config loads otpd's configuration: process settings from the
// environment, per-project settings from an optional YAML/JSON file, and
// secrets from files or the environment (never the repository).
//
// Load validates everything up front and reports every problem with the
// name of the setting, so a bad deployment fails at startup, not on the
// first request. Lookups go through injected functions so tests never touch
// the real environment or file system.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// DefaultProjectID is the project the embedded default serves when
// OTPD_PROJECT_ID is unset. 28 characters, like Descope's project ids.
const DefaultProjectID = "P2otpdLocalDevelopment000000"

// Defaults of a project's settings.
const (
	DefaultCodeLength  = 6
	DefaultCodeTTL     = 5 * time.Minute
	DefaultMaxAttempts = 5
	DefaultSessionTTL  = 10 * time.Minute
	DefaultRefreshTTL  = 30 * 24 * time.Hour
	DefaultAlgorithm   = "ES256"
	DefaultCookiePath  = "/"
)

// Config is the whole process configuration.
type Config struct {
	GRPCAddr string
	HTTPAddr string
	// RedisURL is empty for the embedded in-process Redis.
	RedisURL string
	// RedisCluster reads RedisURL as a cluster URL.
	RedisCluster bool
	// RedisTimeout bounds every Redis command (OTPD_REDIS_TIMEOUT, 1s).
	RedisTimeout time.Duration
	// RedisWaitReplicas > 0 is the durability mode: starts, verifies and
	// logins WAIT for that many replicas (OTPD_REDIS_WAIT_REPLICAS, 0: off),
	// up to RedisWaitTimeout (OTPD_REDIS_WAIT_TIMEOUT, 250ms).
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	// RedisWaitPolicy is what a write whose WAIT reached too few replicas
	// does (OTPD_REDIS_WAIT_POLICY): "refuse" (503, the start or verify
	// taken back first) or "accept" (kept, the node reported degraded).
	RedisWaitPolicy string
	// RedisWaitUnready makes the node unready (/healthz 503, gRPC health
	// NOT_SERVING) while durability is degraded (OTPD_REDIS_WAIT_UNREADY).
	RedisWaitUnready bool
	// RedisAutoPipeline sends the request path's scripts of concurrent
	// requests together, one pipeline per batch, on a single node or
	// Sentinel (never on Cluster) (OTPD_REDIS_AUTOPIPELINE, true).
	RedisAutoPipeline bool

	ConfigFile string
	// HMACSecrets hash codes, newest first. Empty in embedded mode means
	// "generate one at startup".
	HMACSecrets [][]byte
	LogLevel    slog.Level
	// LogFlush is how long log lines may wait to be written together
	// (OTPD_LOG_FLUSH, 100ms; 0 writes each line at once).
	LogFlush time.Duration
	// SealKeys encrypt delivery jobs at rest, newest first (AES-256).
	// Empty in embedded mode means "generate one at startup".
	SealKeys [][]byte
	// Workers is the number of in-process delivery workers (0: none; run
	// `otpd worker` separately).
	Workers int
	// QueueMaxLen bounds the job and dead-letter streams (the whole
	// queue: each shard is trimmed at QueueMaxLen/QueueShards).
	QueueMaxLen int64
	// QueueShards is how many streams (hash slots) delivery jobs are
	// spread over: a power of two 1..64.
	QueueShards int
	// DeliveryMaxAttempts is how often a job is tried before it is
	// dead-lettered.
	DeliveryMaxAttempts int
	// WorkerMetricsAddr, when set, is where `otpd worker` serves /metrics.
	WorkerMetricsAddr string
	// TrustedProxies are the peers (CIDRs) whose X-Forwarded-For /
	// X-Real-IP (REST) or x-otpd-client-ip (gRPC) name the client.
	TrustedProxies []netip.Prefix
	// CORSOrigins may call the REST API from a browser; "*" is any.
	// Default: "*" in embedded mode, none otherwise; "*" with a real Redis
	// needs OTPD_CORS_ALLOW_ANY=true.
	CORSOrigins []string
	// DevConsole serves the development console (/dev/): on by default in
	// embedded mode only; OTPD_DEV_CONSOLE=true forces it on (also with a
	// real Redis, and for non-loopback clients), false turns it off.
	DevConsole bool
	// DevConsoleForced is OTPD_DEV_CONSOLE=true.
	DevConsoleForced bool
	// AdminAddr serves /metrics and /debug/pprof/ ("" = no admin listener).
	AdminAddr string
	// GRPCReflection registers the reflection service (grpcurl, ghz).
	GRPCReflection bool
	// GRPCMaxConnsPerIP and GRPCMaxConns cap gRPC connections per client
	// key (see ClientIPv6Bits) and in all; 0 = no cap.
	GRPCMaxConnsPerIP, GRPCMaxConns int
	// ClientIPv6Bits is the prefix length an IPv6 client is keyed by, for
	// per-IP limits and connection caps.
	ClientIPv6Bits int
	// HTTPMaxConnsPerIP and HTTPMaxConns cap REST connections like the
	// gRPC ones; 0 = no cap.
	HTTPMaxConnsPerIP, HTTPMaxConns int
	// RequestBudget and RequestBudgetPerClient bound the bytes held for
	// requests not yet decoded, in all and per client (package membudget).
	RequestBudget, RequestBudgetPerClient int

	Projects []Project

	Callbacks
}

// Embedded reports whether otpd runs on the in-process Redis.
func (c *Config) Embedded() bool { return c.RedisURL == "" }

// Project is one project's settings.
type Project struct {
	ID          string   `json:"id"`
	CodeLength  int      `json:"codeLength,omitempty"`
	CodeTTL     Duration `json:"codeTTL,omitempty"`
	MaxAttempts int      `json:"maxAttempts,omitempty"`
	SessionTTL  Duration `json:"sessionTTL,omitempty"`
	RefreshTTL  Duration `json:"refreshTTL,omitempty"`
	// Algorithm signs tokens: ES256 (default), EdDSA or RS256. With
	// signingKeyFiles it may be left empty (the key decides); when set, it
	// must match the key.
	Algorithm string `json:"algorithm,omitempty"`
	// SigningKeyFiles are PEM private keys: the first signs, the rest stay
	// published for verification until their tokens expire. Required
	// outside embedded mode.
	SigningKeyFiles []string `json:"signingKeyFiles,omitempty"`
	// DefaultPhoneRegion (ISO 3166 alpha-2) reads phone numbers without a
	// leading '+'. Empty: such numbers are refused.
	DefaultPhoneRegion string `json:"defaultPhoneRegion,omitempty"`
	CookieDomain       string `json:"cookieDomain,omitempty"`
	CookiePath         string `json:"cookiePath,omitempty"`
	// RefreshRotation issues a new refresh JWT on every refresh; a reused
	// old one revokes its whole family.
	RefreshRotation bool `json:"refreshRotation,omitempty"`
	// RefreshRotationGrace: a rotated refresh JWT presented again within it
	// is answered, not treated as reuse (default 10s; 0 turns it off).
	RefreshRotationGrace *Duration `json:"refreshRotationGrace,omitempty"`
	// MaxRefreshTokensPerUser caps a user's live refresh JWTs (token
	// families); a sign-in past it evicts the oldest (default 100).
	MaxRefreshTokensPerUser int `json:"maxRefreshTokensPerUser,omitempty"`
	// RecentSignInMaxAge: a refresh JWT may change a verified contact or a
	// login id (update email/phone, addToLoginIDs) only while the sign-in
	// (or step-up) that started its session is at most this old; older
	// sessions step up first (default 10m, 1m..24h; docs/security.md).
	RecentSignInMaxAge Duration `json:"recentSignInMaxAge,omitempty"`
	// SessionTokenResponseMethod and RefreshTokenResponseMethod are
	// "response_body" (default) or "cookies" (Descope's project settings).
	SessionTokenResponseMethod string `json:"sessionTokenResponseMethod,omitempty"`
	RefreshTokenResponseMethod string `json:"refreshTokenResponseMethod,omitempty"`
	// Limits are the abuse limits (defaults apply to unset fields).
	Limits Limits `json:"limits,omitzero"`
	// PhonePolicy per phone channel: countries and number types.
	PhonePolicy map[string]PhonePolicy `json:"phonePolicy,omitempty"`
	// FraudGuard is the conversion-based pumping guard (config/fraud.go).
	FraudGuard FraudGuard `json:"fraudGuard,omitzero"`
	// EnumerationProtection makes sign-in for an unknown user answer like
	// a known one (and send nothing).
	EnumerationProtection bool `json:"enumerationProtection,omitempty"`
	// Delivery is templates and providers.
	Delivery Delivery `json:"delivery,omitzero"`
	// ManagementKeysFile (one key per line) and ManagementKeysEnv (the
	// name of a variable holding comma-separated keys) name where the
	// project's management keys are; the keys themselves never appear in
	// the config file. An entry is "<id>=<key>" or a bare key. Several may
	// be active at once (rotation). None: the management API answers 401.
	ManagementKeysFile string `json:"managementKeysFile,omitempty"`
	ManagementKeysEnv  string `json:"managementKeysEnv,omitempty"`
	// ManagementKeys are the entries read from those (not from the file).
	ManagementKeys []string `json:"-"`
}

type file struct {
	Projects []Project `json:"projects"`
}

// Env and ReadFile are the injected lookups.
type (
	Env      func(key string) (string, bool)
	ReadFile func(path string) ([]byte, error)
)

var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Load builds and validates the configuration: the settings, secrets and
// management keys. It does not read signing keys or build templates and
// providers; startup and `otpd config check` run Check, which does.
func Load(env Env, read ReadFile) (*Config, error) {
	c, errs := load(env, read)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// load builds the configuration and returns every problem found; the
// Config is filled as far as it could be.
func load(env Env, read ReadFile) (*Config, []error) {
	get := func(k, def string) string {
		if v, ok := env(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := &Config{
		GRPCAddr:          get("OTPD_GRPC_ADDR", "127.0.0.1:50051"),
		HTTPAddr:          get("OTPD_HTTP_ADDR", "127.0.0.1:8080"),
		RedisURL:          get("OTPD_REDIS_URL", ""),
		RedisCluster:      get("OTPD_REDIS_CLUSTER", "") == "true",
		ConfigFile:        get("OTPD_CONFIG", ""),
		WorkerMetricsAddr: get("OTPD_WORKER_METRICS_ADDR", ""),
	}
	var errs []error
	switch v := get("OTPD_DEV_CONSOLE", ""); v {
	case "":
		c.DevConsole = c.Embedded()
	case "true":
		c.DevConsole, c.DevConsoleForced = true, true
	case "false":
	default:
		errs = append(errs, fmt.Errorf("OTPD_DEV_CONSOLE: %q must be true or false (unset: on in embedded mode only)", v))
	}
	for _, t := range strings.Split(get("OTPD_TRUSTED_PROXIES", ""), ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(t)
		if err != nil {
			if a, aerr := netip.ParseAddr(t); aerr == nil {
				pfx, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("OTPD_TRUSTED_PROXIES: %q is not an IP or CIDR", t))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("OTPD_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("OTPD_LOG_LEVEL: %w", err))
	}
	if d, err := time.ParseDuration(get("OTPD_LOG_FLUSH", "100ms")); err != nil || d < 0 || (d > 0 && d < 10*time.Millisecond) || d > 10*time.Second {
		errs = append(errs, errors.New("OTPD_LOG_FLUSH: must be 0 (each line at once) or a duration 10ms..10s"))
	} else {
		c.LogFlush = d
	}
	intVar := func(name, def string, lo, hi int) int {
		n, err := strconv.Atoi(get(name, def))
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s: must be a number %d..%d", name, lo, hi))
		}
		return n
	}
	errs = append(errs, c.loadListen(get, intVar)...)
	errs = append(errs, c.loadCallbacks(get, intVar)...)
	c.Workers = intVar("OTPD_WORKERS", "4", 0, 1000)
	if d, err := time.ParseDuration(get("OTPD_REDIS_TIMEOUT", "1s")); err != nil || d < 10*time.Millisecond || d > time.Minute {
		errs = append(errs, errors.New("OTPD_REDIS_TIMEOUT: must be a duration 10ms..1m"))
	} else {
		c.RedisTimeout = d
	}
	c.RedisWaitReplicas = intVar("OTPD_REDIS_WAIT_REPLICAS", "0", 0, 5)
	if d, err := time.ParseDuration(get("OTPD_REDIS_WAIT_TIMEOUT", "250ms")); err != nil || d < time.Millisecond || d >= c.RedisTimeout {
		errs = append(errs, errors.New("OTPD_REDIS_WAIT_TIMEOUT: must be a duration >= 1ms and below OTPD_REDIS_TIMEOUT"))
	} else {
		c.RedisWaitTimeout = d
	}
	switch c.RedisWaitPolicy = get("OTPD_REDIS_WAIT_POLICY", "refuse"); {
	case c.RedisWaitPolicy != "refuse" && c.RedisWaitPolicy != "accept":
		errs = append(errs, errors.New("OTPD_REDIS_WAIT_POLICY: must be refuse or accept"))
	case c.RedisWaitPolicy == "accept" && c.RedisWaitReplicas == 0:
		errs = append(errs, errors.New("OTPD_REDIS_WAIT_POLICY: accept needs OTPD_REDIS_WAIT_REPLICAS > 0 (the durability mode is off)"))
	}
	if u, err := boolVar(get, "OTPD_REDIS_WAIT_UNREADY", false); err != nil {
		errs = append(errs, err)
	} else if c.RedisWaitUnready = u; u && c.RedisWaitReplicas == 0 {
		errs = append(errs, errors.New("OTPD_REDIS_WAIT_UNREADY: needs OTPD_REDIS_WAIT_REPLICAS > 0 (the durability mode is off)"))
	}
	if ap, err := boolVar(get, "OTPD_REDIS_AUTOPIPELINE", true); err != nil {
		errs = append(errs, err)
	} else {
		c.RedisAutoPipeline = ap
	}
	c.DeliveryMaxAttempts = intVar("OTPD_DELIVERY_MAX_ATTEMPTS", "6", 1, 1000)
	if n, err := strconv.ParseInt(get("OTPD_QUEUE_MAXLEN", "100000"), 10, 64); err != nil || n < 100 {
		errs = append(errs, errors.New("OTPD_QUEUE_MAXLEN: must be a number >= 100"))
	} else {
		c.QueueMaxLen = n
	}
	if n, err := strconv.Atoi(get("OTPD_QUEUE_SHARDS", "16")); err != nil || n < 1 || n > 64 || n&(n-1) != 0 {
		errs = append(errs, errors.New("OTPD_QUEUE_SHARDS: must be a power of two from 1 to 64 (1, 2, 4, 8, 16, 32, 64)"))
	} else {
		c.QueueShards = n
	}
	sealKeys, err := loadSealKeys(get("OTPD_SEAL_KEYS", ""), get("OTPD_SEAL_KEYS_FILE", ""), read)
	if err != nil {
		errs = append(errs, err)
	}
	c.SealKeys = sealKeys
	if len(sealKeys) == 0 && !c.Embedded() {
		errs = append(errs, errors.New("OTPD_SEAL_KEYS or OTPD_SEAL_KEYS_FILE is required with OTPD_REDIS_URL (every replica and worker must open the same delivery jobs)"))
	}

	secrets, err := loadSecrets(get("OTPD_HMAC_SECRETS", ""), get("OTPD_HMAC_SECRETS_FILE", ""), read)
	if err != nil {
		errs = append(errs, err)
	}
	c.HMACSecrets = secrets
	if len(secrets) == 0 && !c.Embedded() {
		errs = append(errs, errors.New("OTPD_HMAC_SECRETS or OTPD_HMAC_SECRETS_FILE is required with OTPD_REDIS_URL (every replica must hash codes with the same secret)"))
	}

	if c.ConfigFile != "" {
		b, err := read(c.ConfigFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("OTPD_CONFIG: %w", err))
		} else {
			var f file
			if err := yaml.UnmarshalStrict(b, &f); err != nil {
				errs = append(errs, fmt.Errorf("OTPD_CONFIG %s: %w", c.ConfigFile, err))
			}
			c.Projects = f.Projects
			if len(f.Projects) == 0 && err == nil {
				errs = append(errs, fmt.Errorf("OTPD_CONFIG %s: lists no projects", c.ConfigFile))
			}
		}
	} else {
		p := Project{ID: get("OTPD_PROJECT_ID", DefaultProjectID)}
		if kf := get("OTPD_SIGNING_KEY_FILE", ""); kf != "" {
			p.SigningKeyFiles = []string{kf}
		}
		p.Algorithm = get("OTPD_TOKEN_ALGORITHM", "")
		p.ManagementKeysFile = get("OTPD_MANAGEMENT_KEYS_FILE", "")
		if _, ok := env("OTPD_MANAGEMENT_KEYS"); ok {
			p.ManagementKeysEnv = "OTPD_MANAGEMENT_KEYS"
		}
		c.Projects = []Project{p}
	}
	seen := map[string]bool{}
	for i := range c.Projects {
		p := &c.Projects[i]
		p.applyDefaults()
		for _, e := range p.validate(c.Embedded()) {
			errs = append(errs, fmt.Errorf("project %d (%q): %w", i, p.ID, e))
		}
		inline := ""
		if p.ManagementKeysEnv != "" {
			inline, _ = env(p.ManagementKeysEnv)
		}
		keys, err := secretList("managementKeysEnv", inline, p.ManagementKeysFile, read)
		if err != nil {
			errs = append(errs, fmt.Errorf("project %d (%q): management keys: %w", i, p.ID, err))
		}
		p.ManagementKeys = keys
		for _, e := range checkManagementKeys(keys) {
			errs = append(errs, fmt.Errorf("project %d (%q): %w", i, p.ID, e))
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("project %q is listed twice", p.ID))
		}
		seen[p.ID] = true
	}
	return c, errs
}

// secretList reads a list of secrets, newest first: comma-separated from
// the variable name, then one per line from the file name+"_FILE".
func secretList(name, inline, path string, read ReadFile) ([]string, error) {
	var raw []string
	if inline != "" {
		raw = strings.Split(inline, ",")
	}
	if path != "" {
		b, err := read(path)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", name, err)
		}
		raw = append(raw, strings.Split(string(b), "\n")...)
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func loadSecrets(inline, path string, read ReadFile) ([][]byte, error) {
	raw, err := secretList("OTPD_HMAC_SECRETS", inline, path, read)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range raw {
		if len(s) < 32 {
			return nil, errors.New("OTPD_HMAC_SECRETS: every secret must be at least 32 characters")
		}
		if isPlaceholder(s) {
			return nil, errors.New("OTPD_HMAC_SECRETS: a secret is a placeholder (\"REPLACE…\"/\"CHANGEME…\"): write a real one with otpd keygen")
		}
		out = append(out, []byte(s))
	}
	return out, nil
}

func (p *Project) applyDefaults() {
	if p.CodeLength == 0 {
		p.CodeLength = DefaultCodeLength
	}
	if p.CodeTTL == 0 {
		p.CodeTTL = Duration(DefaultCodeTTL)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.SessionTTL == 0 {
		p.SessionTTL = Duration(DefaultSessionTTL)
	}
	if p.RefreshTTL == 0 {
		p.RefreshTTL = Duration(DefaultRefreshTTL)
	}
	if p.CookiePath == "" {
		p.CookiePath = DefaultCookiePath
	}
	p.applySessionDefaults()
	p.Limits.applyDefaults()
	p.FraudGuard.applyDefaults()
}

// ApplyDefaults fills unset fields with the defaults (for projects built in
// code rather than loaded).
func (p *Project) ApplyDefaults() { p.applyDefaults() }

func (p *Project) validate(embedded bool) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !projectIDPattern.MatchString(p.ID) {
		bad("id must be 1-64 characters of letters, digits, '_' or '-'")
	}
	if p.CodeLength < 4 || p.CodeLength > 10 {
		bad("codeLength %d: must be 4..10", p.CodeLength)
	}
	if p.CodeTTL.D() < 30*time.Second || p.CodeTTL.D() > time.Hour {
		bad("codeTTL %s: must be 30s..1h", p.CodeTTL.D())
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 20 {
		bad("maxAttempts %d: must be 1..20", p.MaxAttempts)
	}
	if p.SessionTTL.D() < time.Minute {
		bad("sessionTTL %s: must be at least 1m", p.SessionTTL.D())
	}
	if p.RefreshTTL.D() < p.SessionTTL.D() {
		bad("refreshTTL %s: must be at least sessionTTL", p.RefreshTTL.D())
	}
	switch strings.ToUpper(p.Algorithm) {
	case "", "ES256", "EDDSA", "RS256":
	default:
		bad("algorithm %q: must be ES256, EdDSA or RS256", p.Algorithm)
	}
	if len(p.SigningKeyFiles) == 0 && !embedded {
		bad("signingKeyFiles is required with OTPD_REDIS_URL (every replica must sign with the same key)")
	}
	for name, m := range map[string]string{"sessionTokenResponseMethod": p.SessionTokenResponseMethod, "refreshTokenResponseMethod": p.RefreshTokenResponseMethod} {
		if m != "" && m != "response_body" && m != "cookies" {
			bad("%s %q: must be response_body or cookies", name, m)
		}
	}
	errs = append(errs, p.validateSessions()...)
	errs = append(errs, p.Limits.validate()...)
	errs = append(errs, p.FraudGuard.validate()...)
	errs = append(errs, p.Delivery.validate(embedded)...)
	errs = append(errs, validatePolicies(p.PhonePolicy)...)
	if r := p.DefaultPhoneRegion; r != "" && (len(r) != 2 || strings.ToUpper(r) != r) {
		bad("defaultPhoneRegion %q: must be an upper-case ISO 3166 alpha-2 code", r)
	}
	return errs
}

// isPlaceholder reports whether a secret is a manifest's or a guide's
// placeholder text rather than a secret ("REPLACE: otpd keygen writes
// hmac-secrets" is long enough to pass the length check, and a cluster
// that applied it would hash every code with a published string).
func isPlaceholder(s string) bool {
	u := strings.ToUpper(s)
	return strings.HasPrefix(u, "REPLACE") || strings.HasPrefix(u, "CHANGEME") || strings.HasPrefix(u, "CHANGE-ME") || strings.HasPrefix(u, "CHANGE_ME")
}
