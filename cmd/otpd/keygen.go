package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/token"
)

// Sizes of generated secrets.
const (
	hmacSecretBytes = 32 // 64 hex characters (config wants >= 32 characters)
	sealKeyBytes    = 32 // AES-256
	mgmtKeyBytes    = 32 // 43 base64url characters (>= 32, no ':')
)

// runKeygen writes fresh key material into a folder, each file 0600 and
// never overwritten, and prints the settings that use it.
func runKeygen(args []string, te toolEnv) error {
	fs := flag.NewFlagSet("otpd keygen", flag.ContinueOnError)
	fs.SetOutput(te.stderr)
	dir := fs.String("dir", "otpd-keys", "folder to write the files into (created 0700)")
	alg := fs.String("alg", config.DefaultAlgorithm, "signing algorithm: ES256, EdDSA or RS256")
	only := fs.String("only", "", "write one kind only: signing, hmac, seal or management (default: all)")
	project := fs.String("project", config.DefaultProjectID, "project id for the config snippet")
	keep := fs.Bool("keep", false, "keep files that exist (and use them in the snippet); write only the missing ones")
	fs.Usage = func() {
		fmt.Fprintln(te.stderr, "usage: otpd keygen [-dir DIR] [-alg ES256|EdDSA|RS256] [-only KIND] [-project ID] [-keep]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keygen: unexpected arguments %q", fs.Args())
	}
	a, err := token.ParseAlgorithm(*alg)
	if err != nil {
		return fmt.Errorf("keygen: -alg: %w", err)
	}
	kinds := map[string]bool{"signing": true, "hmac": true, "seal": true, "management": true}
	if *only != "" {
		if !kinds[*only] {
			return fmt.Errorf("keygen: -only %q: want signing, hmac, seal or management", *only)
		}
		kinds = map[string]bool{*only: true}
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := checkKeyDir(*dir); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102")
	write := func(name string, gen func() ([]byte, error)) error {
		if *keep {
			if fi, err := os.Stat(name); err == nil {
				if err := checkKeptFile(name, fi); err != nil {
					return err
				}
				fmt.Fprintf(te.stderr, "keygen: keeping %s\n", name)
				return nil
			}
		}
		b, err := gen()
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		return writeSecret(name, b)
	}
	var env, yaml []string
	if kinds["signing"] {
		name := filepath.Join(abs, "signing-"+strings.ToLower(string(a))+".pem")
		err := write(name, func() ([]byte, error) {
			k, err := token.GenerateKey(a)
			if err != nil {
				return nil, err
			}
			return k.MarshalPEM()
		})
		if err != nil {
			return err
		}
		env = append(env, "OTPD_SIGNING_KEY_FILE="+name, "OTPD_TOKEN_ALGORITHM="+string(a))
		yaml = append(yaml, "algorithm: "+string(a), "signingKeyFiles:", "  - "+yamlString(name))
	}
	if kinds["hmac"] {
		name := filepath.Join(abs, "hmac-secrets")
		if err := write(name, func() ([]byte, error) { return []byte(hex.EncodeToString(random(hmacSecretBytes)) + "\n"), nil }); err != nil {
			return err
		}
		env = append(env, "OTPD_HMAC_SECRETS_FILE="+name)
	}
	if kinds["seal"] {
		name := filepath.Join(abs, "seal-keys")
		if err := write(name, func() ([]byte, error) {
			return []byte(base64.StdEncoding.EncodeToString(random(sealKeyBytes)) + "\n"), nil
		}); err != nil {
			return err
		}
		env = append(env, "OTPD_SEAL_KEYS_FILE="+name)
	}
	if kinds["management"] {
		name := filepath.Join(abs, "management-keys")
		err := write(name, func() ([]byte, error) {
			return []byte("mk-" + stamp + "=" + base64.RawURLEncoding.EncodeToString(random(mgmtKeyBytes)) + "\n"), nil
		})
		if err != nil {
			return err
		}
		env = append(env, "OTPD_MANAGEMENT_KEYS_FILE="+name)
		yaml = append(yaml, "managementKeysFile: "+yamlString(name))
	}
	w := te.stdout
	fmt.Fprintf(w, "# otpd keygen wrote these files (mode 0600) in %s.\n", abs)
	fmt.Fprintln(w, "# Environment (single project, no OTPD_CONFIG):")
	for _, l := range env {
		fmt.Fprintln(w, l)
	}
	if len(yaml) > 0 {
		fmt.Fprintln(w, "# Or, in the OTPD_CONFIG file (remove the leading \"# \"; the HMAC secrets and seal keys")
		fmt.Fprintln(w, "# stay in the environment above, as they are process-wide):")
		for _, l := range yamlSnippet(*project, yaml) {
			fmt.Fprintln(w, "# "+l)
		}
	}
	fmt.Fprintln(w, "# Rotation: put a new key first (signing: signingKeyFiles; secrets: first line) and keep the old")
	fmt.Fprintln(w, "# ones listed until what they protect has expired.")
	return nil
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// writeSecret creates name with mode 0600; an existing file is never
// overwritten (a key in use would be lost).
func writeSecret(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keygen: %s exists; not overwriting a key that may be in use (choose another -dir, or -keep to reuse it)", name)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	return f.Close()
}

// yamlSnippet is the OTPD_CONFIG file that uses the written files: one
// project whose settings are lines (each indented under it).
func yamlSnippet(project string, lines []string) []string {
	out := []string{"projects:", "  - id: " + yamlString(project)}
	for _, l := range lines {
		out = append(out, "    "+l)
	}
	return out
}

// yamlString quotes s for YAML (a JSON string is a YAML string), so a
// path with ':', '#' or spaces stays one value.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkKeyDir refuses a folder that others may write to: whoever can
// write there can replace a key file (their signing key, their secret)
// between keygen and otpd's start. otpd does not change the mode of a
// folder it did not create (it may be shared, like /tmp): it says so.
func checkKeyDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("keygen: -dir %s is not a folder", dir)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("keygen: -dir %s has mode %04o: others can write to it and replace the keys; "+
			"run chmod 700 %s (or choose a folder only you can write to)", dir, m, dir)
	}
	return nil
}

// checkKeptFile refuses to reuse (-keep) a secrets file that others can
// read or write: a key others may have read is no longer secret, so
// otpd does not quietly tighten the mode and carry on; the operator
// decides (rotate it, or chmod 600 it when nobody else could have read it).
func checkKeptFile(name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("keygen: -keep: %s is not a regular file", name)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("keygen: -keep: %s has mode %04o: others can read or change it, so it may no longer be secret; "+
			"replace it with a new key (remove it and run keygen again, then rotate as docs/operations.md says), "+
			"or run chmod 600 %s if nobody else can have read it", name, m, name)
	}
	return nil
}
