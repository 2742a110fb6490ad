package config_test

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// production is the environment of a deployment on a real Redis.
func production(extra map[string]string) map[string]string {
	m := map[string]string{
		"OTPD_REDIS_URL":    "redis://127.0.0.1:6379",
		"OTPD_HMAC_SECRETS": "0123456789abcdef0123456789abcdef",
		"OTPD_SEAL_KEYS":    "dGVzdC1zZWFsLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=",
		"OTPD_CONFIG":       "c.yaml",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestListenDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil), filesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAddr != "127.0.0.1:9090" || !c.GRPCReflection || c.GRPCMaxConnsPerIP != 16 || c.GRPCMaxConns != 4096 || c.ClientIPv6Bits != 64 {
		t.Fatalf("listen defaults: admin %q reflection %v conns %d/%d ipv6 /%d", c.AdminAddr, c.GRPCReflection,
			c.GRPCMaxConnsPerIP, c.GRPCMaxConns, c.ClientIPv6Bits)
	}
	c, err = config.Load(envOf(map[string]string{"OTPD_ADMIN_ADDR": "off", "OTPD_GRPC_REFLECTION": "false",
		"OTPD_CLIENT_IPV6_PREFIX": "48", "OTPD_GRPC_MAX_CONNS_PER_IP": "0"}), filesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAddr != "" || c.GRPCReflection || c.ClientIPv6Bits != 48 || c.GRPCMaxConnsPerIP != 0 {
		t.Fatalf("set: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"OTPD_ADMIN_ADDR": "127.0.0.1:8080"},
		{"OTPD_GRPC_REFLECTION": "yes"},
		{"OTPD_CLIENT_IPV6_PREFIX": "16"},
		{"OTPD_GRPC_MAX_CONNS": "-1"},
	} {
		if _, err := config.Load(envOf(bad), filesOf(nil)); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

// TestCORSAnyOrigin: "*" (any page may call with the user's cookies) is
// the embedded default, refused with a real Redis unless forced.
func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	files := filesOf(map[string]string{"c.yaml": "projects: [{id: A, signingKeyFiles: [k.pem], delivery: {providers: [{id: l, type: log, channels: [email]}]}}]"})
	if _, err := config.Load(envOf(production(map[string]string{"OTPD_CORS_ORIGINS": "https://app.example.com,*"})), files); err == nil ||
		!strings.Contains(err.Error(), "OTPD_CORS_ALLOW_ANY") {
		t.Fatalf("* with a real Redis: %v", err)
	}
	c, err := config.Load(envOf(production(map[string]string{"OTPD_CORS_ORIGINS": "*", "OTPD_CORS_ALLOW_ANY": "true"})), files)
	if err != nil || len(c.CORSOrigins) != 1 || c.CORSOrigins[0] != "*" {
		t.Fatalf("forced *: %v %v", c, err)
	}
	c, err = config.Load(envOf(production(nil)), files)
	if err != nil || len(c.CORSOrigins) != 0 {
		t.Fatalf("production default: %v %v", c, err)
	}
}

// TestRequestBudgetSettings: the budget and REST connection caps default
// to their documented values; a share larger than the budget, or below the
// minimums, is refused naming the variable.
func TestRequestBudgetSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil), filesOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.RequestBudget != 32<<20 || c.RequestBudgetPerClient != 2<<20 || c.HTTPMaxConnsPerIP != 64 || c.HTTPMaxConns != 4096 {
		t.Fatalf("defaults: budget %d/%d, REST conns %d/%d", c.RequestBudget, c.RequestBudgetPerClient, c.HTTPMaxConnsPerIP, c.HTTPMaxConns)
	}
	for bad, name := range map[[2]string]string{
		{"OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES", "67108864"}: "OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES",
		{"OTPD_REQUEST_BUDGET_BYTES", "1000"}:                "OTPD_REQUEST_BUDGET_BYTES",
		{"OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES", "0"}:        "OTPD_REQUEST_BUDGET_PER_CLIENT_BYTES",
		{"OTPD_HTTP_MAX_CONNS_PER_IP", "-1"}:                 "OTPD_HTTP_MAX_CONNS_PER_IP",
	} {
		_, err := config.Load(envOf(map[string]string{bad[0]: bad[1]}), filesOf(nil))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", bad[0], bad[1], err)
		}
	}
}
