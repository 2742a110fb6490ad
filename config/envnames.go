package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// EnvNames are the OTPD_* environment variables otpd reads. A variable
// that otpd reads must be listed here, or `otpd config check` and startup
// call it unknown (TestEnvNamesListsEveryVariableRead scans the source).
var EnvNames = []string{
	"OTPD_ADMIN_ADDR", "OTPD_BENCH_PINNED", "OTPD_CLIENT_IPV6_PREFIX", "OTPD_CONFIG", "OTPD_CORS_ALLOW_ANY", "OTPD_CORS_ORIGINS",
	"OTPD_DELIVERY_MAX_ATTEMPTS", "OTPD_DEV_CONSOLE", "OTPD_GRPC_ADDR", "OTPD_GRPC_MAX_CONNS",
	"OTPD_GRPC_MAX_CONNS_PER_IP", "OTPD_GRPC_REFLECTION", "OTPD_HMAC_SECRETS", "OTPD_HMAC_SECRETS_FILE",
	"OTPD_HTTP_ADDR", "OTPD_HTTP_MAX_CONNS", "OTPD_HTTP_MAX_CONNS_PER_IP", "OTPD_REQUEST_BUDGET_BYTES", "OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES", "OTPD_LOADTEST_MGMT_KEY", "OTPD_LOG_FLUSH", "OTPD_LOG_LEVEL", "OTPD_MANAGEMENT_KEYS", "OTPD_MANAGEMENT_KEYS_FILE",
	"OTPD_PPROF", "OTPD_PROJECT_ID", "OTPD_PROVIDER_CIRCUIT_FAILURES", "OTPD_PROVIDER_CIRCUIT_WINDOW", "OTPD_QUEUE_MAXLEN", "OTPD_QUEUE_SHARDS", "OTPD_REDIS_AUTOPIPELINE",
	"OTPD_REDIS_CLUSTER", "OTPD_REDIS_TIMEOUT", "OTPD_REDIS_URL", "OTPD_REDIS_WAIT_REPLICAS",
	"OTPD_REDIS_WAIT_POLICY", "OTPD_REDIS_WAIT_TIMEOUT", "OTPD_REDIS_WAIT_UNREADY", "OTPD_SEAL_KEYS", "OTPD_SEAL_KEYS_FILE", "OTPD_SIGNING_KEY_FILE",
	"OTPD_STATUS_CALLBACK_RATE", "OTPD_STATUS_CALLBACK_URL",
	"OTPD_TOKEN_ALGORITHM", "OTPD_TRUSTED_PROXIES", "OTPD_WORKERS", "OTPD_WORKER_METRICS_ADDR",
}

// unknownEnv names each OTPD_* variable in environ that otpd does not read
// (neither in EnvNames nor named by the configuration as where a secret
// is: managementKeysEnv, a provider's passwordEnv, authTokenEnv or
// secretEnv), with the known name it is closest to.
func unknownEnv(environ []string, c *Config) []string {
	known := map[string]bool{}
	for _, n := range EnvNames {
		known[n] = true
	}
	for _, p := range c.Projects {
		known[p.ManagementKeysEnv] = true
		for _, pr := range p.Delivery.Providers {
			if pr.SMTP != nil {
				known[pr.SMTP.PasswordEnv] = true
			}
			if pr.Twilio != nil {
				known[pr.Twilio.AuthTokenEnv] = true
			}
			if pr.Webhook != nil {
				known[pr.Webhook.SecretEnv] = true
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "OTPD_") || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		msg := fmt.Sprintf("%s is set but otpd reads no such variable; it has no effect", name)
		if s := closest(name); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// closest is the known name nearest to name (at most a third of its
// letters different), or "".
func closest(name string) string {
	best, bestD := "", len(name)/3+1
	for _, k := range EnvNames {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
