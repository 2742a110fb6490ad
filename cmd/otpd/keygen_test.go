package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// yamlFromKeygen is the OTPD_CONFIG snippet keygen printed, with the
// leading "# " removed as its instructions say.
func yamlFromKeygen(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "# projects:":
			in = true
		case strings.HasPrefix(l, "# Rotation"):
			in = false
		}
		if in {
			if !strings.HasPrefix(l, "# ") {
				t.Fatalf("snippet line %q does not start with \"# \"", l)
			}
			b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		}
	}
	if b.Len() == 0 {
		t.Fatalf("keygen printed no OTPD_CONFIG snippet:\n%s", out)
	}
	return b.String()
}

// TestKeygenYAMLSnippetLoads: the OTPD_CONFIG snippet keygen prints is
// valid YAML that `otpd config check` accepts as printed, for a
// production-shaped setup (a real Redis URL, so signing keys and secrets
// are required), also when the folder's name has YAML's special
// characters in it; the project gets the management key keygen wrote.
func TestKeygenYAMLSnippetLoads(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		dir := filepath.Join(t.TempDir(), "keys: #1 "+alg)
		out, _, err := run(t, nil, "keygen", "-dir", dir, "-alg", alg, "-project", "shop-prod")
		if err != nil {
			t.Fatal(err)
		}
		snippet := yamlFromKeygen(t, out)
		cfgFile := filepath.Join(t.TempDir(), "otpd.yaml")
		if err := os.WriteFile(cfgFile, []byte(snippet), 0o600); err != nil {
			t.Fatal(err)
		}
		env := envLines(out)
		// As printed, on the embedded default.
		cfgEnv := map[string]string{"OTPD_CONFIG": cfgFile}
		if got, _, err := run(t, cfgEnv, "config", "check"); err != nil || !strings.Contains(got, "configuration OK: 1 project(s) [shop-prod]") {
			t.Fatalf("%s: config check of keygen's YAML: %v\n%s\nYAML:\n%s", alg, err, got, snippet)
		}
		// With a real Redis (providers are then required: one is added
		// under the project, at the snippet's indentation).
		prod := filepath.Join(t.TempDir(), "otpd.yaml")
		if err := os.WriteFile(prod, []byte(snippet+"    delivery:\n      providers:\n        - {id: l, type: log, channels: [email]}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgEnv = map[string]string{
			"OTPD_CONFIG": prod, "OTPD_REDIS_URL": "redis://127.0.0.1:6379",
			"OTPD_HMAC_SECRETS_FILE": env["OTPD_HMAC_SECRETS_FILE"], "OTPD_SEAL_KEYS_FILE": env["OTPD_SEAL_KEYS_FILE"],
		}
		if got, _, err := run(t, cfgEnv, "config", "check"); err != nil || !strings.Contains(got, "configuration OK: 1 project(s) [shop-prod]") {
			t.Fatalf("%s: config check of keygen's YAML with a real Redis: %v\n%s", alg, err, got)
		}
		cfg, err := config.Load(func(k string) (string, bool) { v, ok := cfgEnv[k]; return v, ok }, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Projects[0]
		if len(p.ManagementKeys) != 1 || p.Algorithm != alg || len(p.SigningKeyFiles) != 1 || p.SigningKeyFiles[0] != env["OTPD_SIGNING_KEY_FILE"] {
			t.Errorf("%s: project loaded from the snippet: %d management keys, algorithm %q, signing keys %q",
				alg, len(p.ManagementKeys), p.Algorithm, p.SigningKeyFiles)
		}
	}
}

// TestKeygenRefusesLooseModes: keygen does not write keys into a folder
// others can write to (they could swap a key file); it says why and how
// to fix it, writes nothing and leaves the folder's mode alone.
func TestKeygenRefusesLooseModes(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		_ = os.Chmod(shared, mode)
		_, _, err := run(t, nil, "keygen", "-dir", shared)
		if err == nil || !strings.Contains(err.Error(), "chmod 700") || !strings.Contains(err.Error(), fmt.Sprintf("mode %04o", mode)) {
			t.Errorf("keygen into a folder of mode %04o: %v, want a refusal naming chmod 700", mode, err)
		}
		if ents, _ := os.ReadDir(shared); len(ents) != 0 {
			t.Errorf("mode %04o: keygen wrote %d files into the folder", mode, len(ents))
		}
		if fi, _ := os.Stat(shared); fi.Mode().Perm() != mode {
			t.Errorf("keygen changed the mode of a folder it did not create: %v", fi.Mode().Perm())
		}
	}
	// A folder only its owner writes to is fine (0755: others may list it).
	fresh := filepath.Join(t.TempDir(), "listable")
	if err := os.Mkdir(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(fresh, 0o755)
	if _, _, err := run(t, nil, "keygen", "-dir", fresh); err != nil {
		t.Fatalf("keygen into a 0755 folder: %v", err)
	}
}

// TestKeygenKeepRefusesReadableSecrets: -keep does not reuse a secrets
// file others can read or write; it says why and how to fix it, prints no
// settings that use it and leaves the file as it was.
func TestKeygenKeepRefusesReadableSecrets(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "keys")
	if _, _, err := run(t, nil, "keygen", "-dir", shared); err != nil {
		t.Fatal(err)
	}
	hmac := filepath.Join(shared, "hmac-secrets")
	before, _ := os.ReadFile(hmac)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		_ = os.Chmod(hmac, mode)
		out, _, err := run(t, nil, "keygen", "-dir", shared, "-keep")
		if err == nil || !strings.Contains(err.Error(), hmac) || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), fmt.Sprintf("mode %04o", mode)) {
			t.Errorf("keygen -keep with a %04o secrets file: %v, want a refusal naming the file", mode, err)
		}
		if strings.Contains(out, "OTPD_HMAC_SECRETS_FILE=") {
			t.Errorf("keygen -keep printed settings that use a %04o secrets file", mode)
		}
		if fi, _ := os.Stat(hmac); fi.Mode().Perm() != mode {
			t.Errorf("keygen -keep changed the file's mode to %v", fi.Mode().Perm())
		}
	}
	_ = os.Chmod(hmac, 0o600)
	out, _, err := run(t, nil, "keygen", "-dir", shared, "-keep")
	if err != nil || envLines(out)["OTPD_HMAC_SECRETS_FILE"] != hmac {
		t.Fatalf("keygen -keep with 0600 files: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(hmac); string(after) != string(before) {
		t.Error("keygen -keep replaced the secret")
	}
}
