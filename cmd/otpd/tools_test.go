package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/delivery/status"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

// run runs one otpd subcommand in-process with env as the whole
// environment and returns its output.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	te := toolEnv{stdout: &o, stderr: &e, read: os.ReadFile,
		env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	handled, err := runTool(context.Background(), args, te)
	if !handled {
		t.Fatalf("%v: not a tool subcommand", args)
	}
	return o.String(), e.String(), err
}

// envLines reads the KEY=value lines of keygen's output.
func envLines(out string) map[string]string {
	env := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = v
		}
	}
	return env
}

// TestKeygenOutputLoads: for each algorithm, keygen writes 0600 files that
// the configuration loads exactly as printed, and never overwrites them.
func TestKeygenOutputLoads(t *testing.T) {
	for _, alg := range []token.Algorithm{token.ES256, token.EdDSA, token.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			out, _, err := run(t, nil, "keygen", "-dir", dir, "-alg", string(alg))
			if err != nil {
				t.Fatal(err)
			}
			env := envLines(out)
			for _, k := range []string{"OTPD_SIGNING_KEY_FILE", "OTPD_HMAC_SECRETS_FILE", "OTPD_SEAL_KEYS_FILE", "OTPD_MANAGEMENT_KEYS_FILE"} {
				fi, err := os.Stat(env[k])
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", k, fi.Mode().Perm())
				}
			}
			if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
				t.Errorf("folder mode %v, want 0700", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(env["OTPD_SIGNING_KEY_FILE"])
			k, err := token.ParseKeyPEM(b)
			if err != nil || k.Algorithm() != alg {
				t.Fatalf("signing key: %v, algorithm %v", err, k)
			}
			// The printed settings load, and the server-side checks pass
			// (keys parse, algorithm matches, delivery builds).
			cfgEnv := map[string]string{}
			for k, v := range env {
				if k != "OTPD_MANAGEMENT_KEYS_FILE" { // read by the management API (parity branch)
					cfgEnv[k] = v
				}
			}
			cfg, err := config.Load(func(k string) (string, bool) { v, ok := cfgEnv[k]; return v, ok }, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.HMACSecrets) != 1 || len(cfg.HMACSecrets[0]) != 64 || len(cfg.SealKeys) != 1 {
				t.Errorf("loaded %d HMAC secrets, %d seal keys", len(cfg.HMACSecrets), len(cfg.SealKeys))
			}
			if out, _, err := run(t, cfgEnv, "config", "check"); err != nil || !strings.Contains(out, "configuration OK") {
				t.Errorf("config check on keygen's output: %v\n%s", err, out)
			}
			mk, _ := os.ReadFile(env["OTPD_MANAGEMENT_KEYS_FILE"])
			id, secret, ok := strings.Cut(strings.TrimSpace(string(mk)), "=")
			if !ok || id == "" || len(secret) < 32 || strings.ContainsAny(secret, ": ") {
				t.Errorf("management key entry %q: want <id>=<secret of 32+ characters, no ':'>", mk)
			}
			if _, _, err := run(t, nil, "keygen", "-dir", dir, "-alg", string(alg), "-only", "hmac"); err == nil || !strings.Contains(err.Error(), "not overwriting") {
				t.Errorf("second keygen into the same folder: %v, want a refusal", err)
			}
			before, _ := os.ReadFile(env["OTPD_HMAC_SECRETS_FILE"])
			if len(before) != 65 {
				t.Errorf("HMAC secrets file: %q", before)
			}
			// -keep reuses what exists (a container's keygen step on every
			// start) and prints the same settings.
			out2, _, err := run(t, nil, "keygen", "-dir", dir, "-alg", string(alg), "-keep")
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := os.ReadFile(env["OTPD_HMAC_SECRETS_FILE"]); !bytes.Equal(before, after) || envLines(out2)["OTPD_SIGNING_KEY_FILE"] != env["OTPD_SIGNING_KEY_FILE"] {
				t.Error("keygen -keep replaced a key")
			}
		})
	}
	if _, _, err := run(t, nil, "keygen", "-dir", t.TempDir(), "-alg", "HS256"); err == nil {
		t.Error("keygen -alg HS256: no error")
	}
}

// TestConfigCheck: every problem is reported with its setting, and the
// command fails; a good configuration passes.
func TestConfigCheck(t *testing.T) {
	out, _, err := run(t, map[string]string{
		"OTPD_WORKERS": "many", "OTPD_HMAC_SECRETS": "short", "OTPD_DEV_CONSOLE": "maybe", "OTPD_TRUSTED_PROXIES": "nope",
	}, "config", "check")
	if !errors.Is(err, errConfigInvalid) {
		t.Fatalf("err = %v, want errConfigInvalid", err)
	}
	for _, want := range []string{"OTPD_WORKERS", "OTPD_HMAC_SECRETS", "OTPD_DEV_CONSOLE", "OTPD_TRUSTED_PROXIES"} {
		if !strings.Contains(out, "problem: "+want) {
			t.Errorf("output lacks a problem line for %s:\n%s", want, out)
		}
	}

	// Problems found beyond config.Load: a key of another algorithm, a
	// signing key file that is not a key, a template that does not parse.
	dir := t.TempDir()
	keys, _, err := run(t, nil, "keygen", "-dir", dir, "-alg", "EdDSA", "-only", "signing")
	if err != nil {
		t.Fatal(err)
	}
	notKey := filepath.Join(dir, "not-a-key.pem")
	_ = os.WriteFile(notKey, []byte("hello"), 0o600)
	tpl := filepath.Join(dir, "tpl", "default", "en")
	_ = os.MkdirAll(tpl, 0o755)
	_ = os.WriteFile(filepath.Join(tpl, "sms.txt"), []byte("{{.Code"), 0o644)
	cfgFile := filepath.Join(dir, "otpd.yaml")
	_ = os.WriteFile(cfgFile, []byte("projects:\n"+
		"- id: A\n  algorithm: ES256\n  signingKeyFiles: ["+envLines(keys)["OTPD_SIGNING_KEY_FILE"]+"]\n"+
		"- id: B\n  signingKeyFiles: ["+notKey+"]\n"+
		"- id: C\n  delivery:\n    templatesDir: "+filepath.Join(dir, "tpl")+"\n"), 0o644)
	out, _, err = run(t, map[string]string{"OTPD_CONFIG": cfgFile}, "config", "check")
	if !errors.Is(err, errConfigInvalid) {
		t.Fatalf("err = %v, want errConfigInvalid", err)
	}
	for _, want := range []string{`project 0 ("A"): algorithm ES256, but signingKeyFiles[0] is an EdDSA key`, `project 1 ("B"): signingKeyFiles[0]`, `project 2 ("C"): templates`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = run(t, nil, "config", "check")
	if err != nil || !strings.Contains(out, "configuration OK: 1 project(s) ["+config.DefaultProjectID+"]; embedded Redis") {
		t.Errorf("default config: %v %q", err, out)
	}
	out, _, _ = run(t, map[string]string{"OTPD_REDIS_URL": "redis://user:s3cret@db:6379/0"}, "config", "check")
	if strings.Contains(out, "s3cret") {
		t.Errorf("config check printed the Redis password: %s", out)
	}
}

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
		{Key: "vcs.time", Value: "2026-12-01T22:00:00Z"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
		{Key: "CGO_ENABLED", Value: "0"},
	}}
	if got, want := buildVersion("", bi, true), "otpd v0.3.0 (commit 0123456789ab+modified, 2026-12-01T22:00:00Z, go1.26.8, linux/amd64, static)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := buildVersion("v9.9.9", bi, true); !strings.HasPrefix(got, "otpd v9.9.9 (") {
		t.Errorf("ldflags version ignored: %q", got)
	}
	if got := buildVersion("", nil, false); got != "otpd unknown (no build information)" {
		t.Errorf("no build info: %q", got)
	}
	out, _, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "otpd ") || !strings.Contains(out, "go1.") {
		t.Errorf("otpd version: %v %q", err, out)
	}
}

// TestDeadLetters runs list, replay and purge against a queue whose worker
// dead-lettered real jobs, with the configuration keygen produced.
func TestDeadLetters(t *testing.T) {
	emb, err := store.StartEmbedded(clock.Real{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	dir := t.TempDir()
	keys, _, err := run(t, nil, "keygen", "-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	env := envLines(keys)
	delete(env, "OTPD_MANAGEMENT_KEYS_FILE")
	delete(env, "OTPD_TOKEN_ALGORITHM")
	cfgFile := filepath.Join(dir, "otpd.yaml")
	_ = os.WriteFile(cfgFile, []byte("projects:\n- id: A\n  signingKeyFiles: ["+env["OTPD_SIGNING_KEY_FILE"]+
		"]\n  delivery:\n    providers: [{id: l, type: log, channels: [email, sms]}]\n"), 0o644)
	delete(env, "OTPD_SIGNING_KEY_FILE")
	env["OTPD_CONFIG"] = cfgFile
	env["OTPD_REDIS_URL"] = "redis://" + emb.Server.Addr()

	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(cfg.SealKeys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	layout, err := queue.NewLayout(cfg.QueueShards)
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := layout.Shard("legacy")
	// job-a waits in the pre-sharding keys (an upgrade), the others in two shards.
	shards := map[string]queue.Shard{"job-a": legacy, "job-b": layout.Shards()[0], "job-c": layout.Shards()[5]}
	deadCount := func() (n int64) {
		for _, sh := range layout.All() {
			n += emb.Client.XLen(ctx, sh.Dead).Val()
		}
		return n
	}
	jobs := []struct{ id, project, channel, to string }{
		{"job-a", "A", "email", "alice@example.com"},
		{"job-b", "B", "sms", "+14155550123"},
		{"job-c", "A", "sms", "+14155550199"}, // its code expires within minReplayLife
	}
	for _, j := range jobs {
		exp := now.Add(5 * time.Minute)
		if j.id == "job-c" {
			exp = now.Add(10 * time.Second)
		}
		s, err := queue.Seal(sealer, j.id, delivery.Message{Project: j.project, Channel: j.channel, To: j.to, Code: "424242", ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		if err := queue.Enqueue(ctx, emb.Client, shards[j.id], s, j.to, 1000); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := queue.NewMetrics(prometheus.NewRegistry())
	w := queue.NewWorker(emb.Client, sealer, func(context.Context, queue.Job) error {
		return delivery.Permanent(errors.New("550 mailbox unavailable"))
	}, clock.Real{}, slog.New(slog.DiscardHandler), m, queue.Options{Block: 50 * time.Millisecond, Poll: 50 * time.Millisecond,
		Sweep: 50 * time.Millisecond, Layout: layout})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); deadCount() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("jobs were not dead-lettered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done

	// What the providers reported for job-b (failover's record): listed
	// in PROVIDERS; jobs without a record show "-".
	if err := emb.Client.HSet(ctx, status.Key("job-b"), "p", "B", "try:tw", "1", "st:tw", "failed", "ec:tw", "21211",
		"try:backup", "1", "st:backup", "undelivered").Err(); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, env, "deadletters", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "PROVIDERS") || !strings.Contains(out, "backup:undelivered,tw:failed(21211)") {
		t.Errorf("list lacks job-b's provider statuses:\n%s", out)
	}
	if !strings.Contains(out, "3 dead letter(s)") || !strings.Contains(out, "permanent") || !strings.Contains(out, "550 mailbox unavailable") ||
		!strings.Contains(out, "\nlegacy/") || !strings.Contains(out, "\n"+layout.Shards()[5].Name+"/") {
		t.Errorf("list:\n%s", out)
	}
	for _, j := range jobs {
		if strings.Contains(out, j.to) {
			t.Errorf("list shows the full address %s:\n%s", j.to, out)
		}
	}
	if strings.Contains(out, "424242") {
		t.Errorf("list shows the code:\n%s", out)
	}
	if out, _, _ := run(t, env, "deadletters", "list", "-project", "A", "-channel", "sms"); !strings.Contains(out, "1 dead letter(s)") {
		t.Errorf("list -project A -channel sms:\n%s", out)
	}
	if out, _, _ := run(t, env, "deadletters", "list", "-older-than", "1h"); !strings.Contains(out, "0 dead letter(s)") {
		t.Errorf("list -older-than 1h:\n%s", out)
	}
	if _, _, err := run(t, env, "deadletters", "purge"); err == nil {
		t.Error("purge without a filter or -all: no error")
	}

	out, _, err = run(t, env, "deadletters", "replay", "-project", "A")
	if err != nil || !strings.Contains(out, "replayed 1; skipped 1") {
		t.Fatalf("replay -project A: %v %q", err, out)
	}
	// The legacy dead letter goes back to the legacy stream (which the
	// workers drain).
	ms := emb.Client.XRange(ctx, legacy.Stream, "-", "+").Val()
	if len(ms) != 1 || ms[0].Values["id"] != "job-a" || ms[0].Values["a"] != "1" {
		t.Fatalf("job stream after replay: %+v", ms)
	}
	if n := deadCount(); n != 2 {
		t.Errorf("%d dead letters left, want 2 (job-b, and job-c whose code is expiring)", n)
	}
	out, _, err = run(t, env, "deadletters", "purge", "-all")
	if err != nil || !strings.Contains(out, "purged 2") || deadCount() != 0 {
		t.Errorf("purge -all: %v %q", err, out)
	}
	if _, _, err := run(t, map[string]string{}, "deadletters", "list"); err == nil || !strings.Contains(err.Error(), "OTPD_REDIS_URL") {
		t.Errorf("deadletters in embedded mode: %v", err)
	}
}

// TestRedactURL: `config check` prints the Redis URL without any password,
// in the user-info part or in the query (the redis+sentinel form).
func TestRedactURL(t *testing.T) {
	t.Parallel()
	got := redactURL("redis+sentinel://u:s3cret@h1:26379,h2:26379/0?master_name=m&password=d4ta&sentinel_password=s3nt")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "d4ta") || strings.Contains(got, "s3nt") || !strings.Contains(got, "master_name=m") {
		t.Fatalf("redacted: %q", got)
	}
}
