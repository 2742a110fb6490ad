package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func filesOf(m map[string]string) config.ReadFile {
	return func(p string) ([]byte, error) {
		if v, ok := m[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file")
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil), filesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Projects[0]
	if !c.Embedded() || p.ID != config.DefaultProjectID || p.CodeLength != 6 || p.CodeTTL.D() != 5*time.Minute ||
		p.MaxAttempts != 5 || p.SessionTTL.D() != 10*time.Minute || c.GRPCAddr != "127.0.0.1:50051" ||
		c.HTTPAddr != "127.0.0.1:8080" || len(c.CORSOrigins) != 1 || c.CORSOrigins[0] != "*" || c.QueueShards != 16 ||
		!c.RedisAutoPipeline {
		t.Fatalf("defaults: %+v %+v", c, p)
	}
}

func TestFileAndValidation(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	cases := []struct {
		name    string
		env     map[string]string
		files   map[string]string
		wantErr []string // substrings; empty = must load
	}{
		{"yaml file", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": `
projects:
  - id: P2one
    codeLength: 8
    codeTTL: 3m
    maxAttempts: 3
    algorithm: EdDSA
  - id: P2two
`}, nil},
		{"json file", map[string]string{"OTPD_CONFIG": "c.json"}, map[string]string{"c.json": `{"projects":[{"id":"P2j","codeTTL":120}]}`}, nil},
		{"unknown field", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects:\n  - id: P2x\n    codeLenght: 8\n"}, []string{"codeLenght"}},
		{"bad values", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": `
projects:
  - id: "bad id!"
    codeLength: 3
    codeTTL: 10s
    maxAttempts: 50
    algorithm: HS256
    sessionTTL: 1h
    refreshTTL: 30m
`}, []string{"id must be", "codeLength 3", "codeTTL 10s", "maxAttempts 50", "algorithm \"HS256\"", "refreshTTL 30m0s"}},
		{"duplicate project", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: [{id: A}, {id: A}]"}, []string{"listed twice"}},
		{"no projects", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: []"}, []string{"lists no projects"}},
		{"missing file", map[string]string{"OTPD_CONFIG": "nope.yaml"}, nil, []string{"OTPD_CONFIG"}},
		{"real redis needs secrets, keys and providers", map[string]string{"OTPD_REDIS_URL": "redis://127.0.0.1:6379"}, nil,
			[]string{"OTPD_HMAC_SECRETS", "signingKeyFiles is required", "OTPD_SEAL_KEYS", "providers are required"}},
		{"real redis with everything", map[string]string{"OTPD_REDIS_URL": "redis://127.0.0.1:6379", "OTPD_CONFIG": "c.yaml",
			"OTPD_HMAC_SECRETS_FILE": "s", "OTPD_SEAL_KEYS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
			map[string]string{"s": secret + "\n" + secret + "x\n", "c.yaml": "projects: [{id: A, signingKeyFiles: [k.pem], delivery: {providers: [{id: l, type: log, channels: [email]}]}}]"}, nil},
		{"short secret", map[string]string{"OTPD_HMAC_SECRETS": "short"}, nil, []string{"at least 32"}},
		{"bad log level", map[string]string{"OTPD_LOG_LEVEL": "loud"}, nil, []string{"OTPD_LOG_LEVEL"}},
		{"bad log flush", map[string]string{"OTPD_LOG_FLUSH": "-1s"}, nil, []string{"OTPD_LOG_FLUSH"}},
		{"log flush that would spin", map[string]string{"OTPD_LOG_FLUSH": "1ns"}, nil, []string{"OTPD_LOG_FLUSH"}},
		{"auto-pipelining off", map[string]string{"OTPD_REDIS_AUTOPIPELINE": "false"}, nil, nil},
		{"bad auto-pipelining", map[string]string{"OTPD_REDIS_AUTOPIPELINE": "sometimes"}, nil, []string{"OTPD_REDIS_AUTOPIPELINE"}},
		{"durability accept policy, unready", map[string]string{"OTPD_REDIS_WAIT_REPLICAS": "1", "OTPD_REDIS_WAIT_POLICY": "accept", "OTPD_REDIS_WAIT_UNREADY": "true"}, nil, nil},
		{"bad durability policy", map[string]string{"OTPD_REDIS_WAIT_REPLICAS": "1", "OTPD_REDIS_WAIT_POLICY": "maybe"}, nil, []string{"OTPD_REDIS_WAIT_POLICY: must be refuse or accept"}},
		{"durability policy without the mode", map[string]string{"OTPD_REDIS_WAIT_POLICY": "accept", "OTPD_REDIS_WAIT_UNREADY": "true"}, nil,
			[]string{"OTPD_REDIS_WAIT_POLICY: accept needs OTPD_REDIS_WAIT_REPLICAS", "OTPD_REDIS_WAIT_UNREADY: needs OTPD_REDIS_WAIT_REPLICAS"}},
		{"unknown provider type", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: [{id: A, delivery: {providers: [{id: p, type: pigeon}]}}]"}, []string{`type "pigeon"`}},
		{"provider without its settings", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: [{id: A, delivery: {providers: [{id: m, type: smtp, channels: [email]}, {id: t, type: twilio}]}}]"}, []string{"smtp needs host", "twilio needs accountSid"}},
		{"channel listed twice by one provider", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: [{id: A, delivery: {providers: [{id: a, type: log, channels: [sms, sms]}, {id: b, type: noop, channels: [sms]}]}}]"}, []string{`provider "a" lists channel sms twice`}},
		{"bad seal key", map[string]string{"OTPD_SEAL_KEYS": "c2hvcnQ="}, nil, []string{"32 bytes"}},
		{"bad worker count", map[string]string{"OTPD_WORKERS": "many"}, nil, []string{"OTPD_WORKERS"}},
		{"queue shards not a power of two", map[string]string{"OTPD_QUEUE_SHARDS": "12"}, nil, []string{"OTPD_QUEUE_SHARDS: must be a power of two from 1 to 64"}},
		{"queue shards zero", map[string]string{"OTPD_QUEUE_SHARDS": "0"}, nil, []string{"OTPD_QUEUE_SHARDS"}},
		{"queue shards too many", map[string]string{"OTPD_QUEUE_SHARDS": "128"}, nil, []string{"OTPD_QUEUE_SHARDS"}},
		{"queue shards not a number", map[string]string{"OTPD_QUEUE_SHARDS": "lots"}, nil, []string{"OTPD_QUEUE_SHARDS"}},
		{"queue shards 64", map[string]string{"OTPD_QUEUE_SHARDS": "64"}, nil, nil},
		{"status callback url http off loopback", map[string]string{"OTPD_STATUS_CALLBACK_URL": "http://otp.example.com"}, nil, []string{"OTPD_STATUS_CALLBACK_URL: http is allowed only for a loopback host"}},
		{"status callback url with query", map[string]string{"OTPD_STATUS_CALLBACK_URL": "https://otp.example.com/?a=1"}, nil, []string{"OTPD_STATUS_CALLBACK_URL: must have no query"}},
		{"status callback url with credentials", map[string]string{"OTPD_STATUS_CALLBACK_URL": "https://u:p@otp.example.com"}, nil, []string{"OTPD_STATUS_CALLBACK_URL: must not carry credentials"}},
		{"status callback url relative", map[string]string{"OTPD_STATUS_CALLBACK_URL": "/otp"}, nil, []string{"OTPD_STATUS_CALLBACK_URL: must be an absolute URL"}},
		{"status callback url https", map[string]string{"OTPD_STATUS_CALLBACK_URL": "https://otp.example.com/otpd/"}, nil, nil},
		{"status callback url loopback http", map[string]string{"OTPD_STATUS_CALLBACK_URL": "http://127.0.0.1:8080"}, nil, nil},
		{"status callback rate zero", map[string]string{"OTPD_STATUS_CALLBACK_RATE": "0"}, nil, []string{"OTPD_STATUS_CALLBACK_RATE: must be a number 1..100000"}},
		{"circuit failures zero", map[string]string{"OTPD_PROVIDER_CIRCUIT_FAILURES": "0"}, nil, []string{"OTPD_PROVIDER_CIRCUIT_FAILURES: must be a number 1..1000"}},
		{"circuit window too short", map[string]string{"OTPD_PROVIDER_CIRCUIT_WINDOW": "10ms"}, nil, []string{"OTPD_PROVIDER_CIRCUIT_WINDOW: must be a duration 1s..1h"}},
		{"two providers of one channel (failover)", map[string]string{"OTPD_CONFIG": "c.yaml"}, map[string]string{"c.yaml": "projects: [{id: A, delivery: {providers: [{id: a, type: log, channels: [sms]}, {id: b, type: noop, channels: [sms]}]}}]"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envOf(c.env), filesOf(c.files))
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSecretsRotationOrder(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 40)
	c, err := config.Load(envOf(map[string]string{"OTPD_HMAC_SECRETS": a + "," + b}), filesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HMACSecrets) != 2 || string(c.HMACSecrets[0]) != a || string(c.HMACSecrets[1]) != b {
		t.Fatalf("secrets must keep their order, newest first: %q", c.HMACSecrets)
	}
}
