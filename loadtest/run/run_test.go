package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/server"
	"github.com/otpd/otpd/store"
)

const testMgmtKey = "mk-loadtest-0123456789abcdefghijklmnopqrstuv"

// startOtpd serves the shipped load-test preset (loadtest/otpd-loadtest.yaml)
// on a loopback gRPC port, the way `make run`-style otpd would.
func startOtpd(t *testing.T) (addr, rest, project string) {
	t.Helper()
	env := map[string]string{"OTPD_CONFIG": "../otpd-loadtest.yaml", "OTPD_MANAGEMENT_KEYS": testMgmtKey,
		"OTPD_ADMIN_ADDR": "off", "OTPD_WORKERS": "1"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.StartEmbedded(clock.Real{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Redis: e.Client, Clock: clock.Real{},
		Log: slog.New(slog.DiscardHandler), CodeLog: io.Discard, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeListeners(ctx, server.Listeners{GRPC: gl, HTTP: hl}) }()
	t.Cleanup(func() { cancel(); <-done })
	return gl.Addr().String(), "http://" + hl.Addr().String(), cfg.Projects[0].ID
}

// TestCodesAndLoginsAgainstOtpd: against an otpd serving the load-test
// preset, the runner's test users get real codes from the management API
// that the ordinary Verify accepts, once each; the login scenario completes
// sign-ins with no error; the runner deletes its users afterwards.
func TestCodesAndLoginsAgainstOtpd(t *testing.T) {
	addr, rest, project := startOtpd(t)
	o := options{target: addr, rest: rest, project: project, mgmtKey: testMgmtKey, conc: 4, conns: 1, codes: 12, duration: time.Second}
	cc, err := dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := context.Background()
	pool, err := newUserPool(ctx, cc, o)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range pool.ids {
		if seen[id] {
			t.Fatalf("login id %s used twice", id)
		}
		seen[id] = true
	}
	got, _, err := pool.fetchCodes(ctx, o.conc)
	if err != nil || len(got) != o.codes {
		t.Fatalf("fetchCodes: %d codes, %v", len(got), err)
	}
	// What ghz does with the data file: each code verifies once.
	email := otpv1.NewOtpEmailClient(cc)
	pctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+project)
	for _, c := range got {
		r, err := email.Verify(pctx, &otpv1.VerifyRequest{LoginId: c.LoginID, Code: c.Code})
		if err != nil || r.GetSessionJwt() == "" {
			t.Fatalf("verify %s with its fetched code: %v", c.LoginID, err)
		}
		if _, err := email.Verify(pctx, &otpv1.VerifyRequest{LoginId: c.LoginID, Code: c.Code}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a fetched code verified twice: %v", err)
		}
	}

	r, err := loginScenario(ctx, cc, o, pool)
	if err != nil || r.errors != 0 || r.count == 0 || r.p99 <= 0 {
		t.Fatalf("login scenario: %+v, %v", r, err)
	}

	// Over REST: fresh codes verify once each; a used one is an error
	// named by its status and Descope error code.
	got, _, err = pool.fetchCodes(ctx, o.conc)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := restScenario(ctx, o, "rest-verify", got); err != nil || r.count != o.codes || r.errors != 0 {
		t.Fatalf("rest-verify: %+v, %v", r, err)
	}
	if r, _ := restScenario(ctx, o, "rest-verify", got[:1]); r.errors != 1 || len(r.errs) != 1 {
		t.Fatalf("a used code over REST: %+v", r)
	} else {
		for m := range r.errs {
			if !strings.HasPrefix(m, "HTTP 401 E") {
				t.Fatalf("a used code over REST: %q", m)
			}
		}
	}
	o.duration = 300 * time.Millisecond
	if r, err := restScenario(ctx, o, "rest-start", nil); err != nil || r.errors != 0 || r.count == 0 {
		t.Fatalf("rest-start: %+v, %v", r, err)
	}

	if n, _, err := pool.delete(ctx, o.conc); err != nil || n != o.codes {
		t.Fatalf("delete: %d, %v", n, err)
	}
	mgmt := otpv1.NewManagementClient(cc)
	if _, err := mgmt.LoadUser(pool.mgmtCtx(ctx), &otpv1.MgmtUserRef{LoginId: pool.ids[0]}); err == nil {
		t.Fatal("a test user the runner created is still there after the run")
	}
}

// TestShippedGhzConfigs: each loadtest/*.json names a gRPC method otpd
// serves, authorizes with the project id from the environment, and the
// start config gives every call its own login id.
func TestShippedGhzConfigs(t *testing.T) {
	files, _ := filepath.Glob("../*.json")
	if len(files) < 2 {
		t.Fatalf("shipped ghz configs: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Call     string            `json:"call"`
			Metadata map[string]string `json:"metadata"`
			Data     map[string]string `json:"data"`
			DataFile string            `json:"data-file"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		i := strings.LastIndex(cfg.Call, ".")
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(cfg.Call[:i]))
		if err != nil || d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(cfg.Call[i+1:])) == nil {
			t.Errorf("%s: call %q is not an otpd method", f, cfg.Call)
		}
		if cfg.Metadata["authorization"] != "Bearer {{env `OTPD_PROJECT_ID`}}" {
			t.Errorf("%s: authorization %q", f, cfg.Metadata["authorization"])
		}
		if cfg.Data == nil && cfg.DataFile == "" {
			t.Errorf("%s: no data", f)
		}
		if strings.HasSuffix(f, "start.json") && !strings.Contains(cfg.Data["loginId"], "{{.UUID}}") {
			t.Errorf("%s: loginId %q is not distinct per call", f, cfg.Data["loginId"])
		}
	}
}

// TestRateLimitErrorsGroup: refusals that differ only in their retry delay
// are one line, and the hint names the load-test preset.
func TestRateLimitErrorsGroup(t *testing.T) {
	r, err := parseGhz([]byte(`{"count":30,"rps":10,"errorDistribution":{
		"rpc error: code = ResourceExhausted desc = Rate limit exceeded (limits.sendsPerIp); retry in 34 s":10,
		"rpc error: code = ResourceExhausted desc = Rate limit exceeded (limits.sendsPerIp); retry in 35 s":5,
		"rpc error: code = Canceled desc = grpc: the client connection is closing":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 15 || r.count != 27 || len(r.errs) != 1 {
		t.Fatalf("%+v", r)
	}
}

// TestRunGhzWritesTheRunsConfig: the runner hands ghz the shipped config
// with this run's target, concurrency, authorization and (for verify) the
// absolute data file and an exact total instead of a duration, and reads
// ghz's JSON report. ghz is replaced by a script that keeps its config.
func TestRunGhzWritesTheRunsConfig(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept.json")
	fake := filepath.Join(dir, "ghz")
	script := "#!/bin/sh\n[ \"$1\" = --config ] && [ \"$3\" = -O ] && [ \"$4\" = json ] || exit 2\ncp \"$2\" " + kept +
		"\necho '{\"count\":12,\"rps\":6,\"latencyDistribution\":[{\"percentage\":50,\"latency\":2000000},{\"percentage\":99,\"latency\":9000000}],\"errorDistribution\":{}}'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir("../..") // the runner reads loadtest/*.json from the repository root
	o := options{target: "otpd.example:443", project: "Pload", conc: 7, conns: 3, ghz: fake, protoset: "x.protoset", dir: dir, tls: true}

	r, err := runGhz(context.Background(), o, "loadtest/verify.json", ghzOverrides{dataFile: filepath.Join(dir, "codes.json"), total: 12})
	if err != nil || r.count != 12 || r.p50 != 2*time.Millisecond || r.p99 != 9*time.Millisecond {
		t.Fatalf("report: %+v, %v", r, err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(kept)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	md, _ := cfg["metadata"].(map[string]any)
	if cfg["host"] != "otpd.example:443" || cfg["concurrency"] != 7.0 || cfg["connections"] != 3.0 || cfg["insecure"] != false ||
		cfg["protoset"] != "x.protoset" || md["authorization"] != "Bearer Pload" || cfg["call"] != "otp.v1.OtpEmail.Verify" {
		t.Fatalf("config given to ghz: %s", b)
	}
	if cfg["data-file"] != filepath.Join(dir, "codes.json") || cfg["total"] != 12.0 || cfg["duration"] != nil {
		t.Fatalf("verify must send each code once (data-file, total, no duration): %s", b)
	}

	o.tls = false
	if _, err := runGhz(context.Background(), o, "loadtest/start.json", ghzOverrides{duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(kept)
	cfg = nil
	_ = json.Unmarshal(b, &cfg)
	if cfg["duration"] != "3s" || cfg["insecure"] != true || !strings.Contains(fmt.Sprint(cfg["data"]), "{{.UUID}}") {
		t.Fatalf("start config given to ghz: %s", b)
	}
}
