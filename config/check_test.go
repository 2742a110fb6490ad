package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestListenAddressesChecked: a listen address startup could not bind
// for a reason visible in the address itself is a configuration problem
// naming its variable; good forms pass.
func TestListenAddressesChecked(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"OTPD_HTTP_ADDR": "nonsense"},
		{"OTPD_HTTP_ADDR": "8080"},
		{"OTPD_GRPC_ADDR": ":99999"},
		{"OTPD_GRPC_ADDR": ":-1"},
		{"OTPD_GRPC_ADDR": ":http"},
		{"OTPD_GRPC_ADDR": "127.0.0.1:"},
		{"OTPD_ADMIN_ADDR": "bad host!:9090"},
		{"OTPD_WORKER_METRICS_ADDR": "::1:9100"},
		{"OTPD_GRPC_ADDR": "0.0.0.0:7000", "OTPD_HTTP_ADDR": "127.0.0.1:7000"},
		{"OTPD_GRPC_ADDR": "[::1]:7000", "OTPD_ADMIN_ADDR": ":7000"},
		{"OTPD_HTTP_ADDR": "127.0.0.1:9090"}, // the admin default
	} {
		_, err := config.Load(envOf(env), filesOf(nil))
		named := false
		for k := range env {
			named = named || (err != nil && strings.Contains(err.Error(), k))
		}
		if !named {
			t.Errorf("%v: %v, want a problem naming the variable", env, err)
		}
	}
	for _, env := range []map[string]string{
		{"OTPD_HTTP_ADDR": ":8080"},
		{"OTPD_HTTP_ADDR": "[::]:8080", "OTPD_GRPC_ADDR": "[::1]:50051"},
		{"OTPD_HTTP_ADDR": "localhost:8080"},
		{"OTPD_HTTP_ADDR": "otpd.internal.example:8080"},
		{"OTPD_HTTP_ADDR": "127.0.0.1:0", "OTPD_GRPC_ADDR": "127.0.0.1:0", "OTPD_ADMIN_ADDR": "127.0.0.1:0"},
		{"OTPD_HTTP_ADDR": "127.0.0.2:9090"}, // another host than the admin listener's
		{"OTPD_ADMIN_ADDR": "off", "OTPD_HTTP_ADDR": "127.0.0.1:9090"},
	} {
		if _, err := config.Load(envOf(env), filesOf(nil)); err != nil {
			t.Errorf("%v: %v", env, err)
		}
	}
}

// TestManagementKeysCheckedAtLoad: the rules the management API applies
// when it builds its key ring are configuration problems, named by
// entry, without the key.
func TestManagementKeysCheckedAtLoad(t *testing.T) {
	t.Parallel()
	long := "0123456789abcdef0123456789abcdef"
	for _, keys := range []string{
		"abcdefghij0123456789", // 20 characters
		"k=" + long + ":",
		"k=" + long + " x",
		"k=" + long + ",k=" + long + "x",
		"=" + long,
	} {
		_, err := config.Load(envOf(map[string]string{"OTPD_MANAGEMENT_KEYS": keys}), filesOf(nil))
		if err == nil || !strings.Contains(err.Error(), "management key") {
			t.Errorf("%q: %v", keys, err)
			continue
		}
		if strings.Contains(err.Error(), long) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	if _, err := config.Load(envOf(map[string]string{"OTPD_MANAGEMENT_KEYS": "a=" + long + ",b=" + long + "x," + long + "y"}), filesOf(nil)); err != nil {
		t.Errorf("good keys: %v", err)
	}
}

// TestCheckReportsEverything: Check returns every problem of settings,
// signing key files and the project checks it is given, in one pass.
func TestCheckReportsEverything(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"OTPD_WORKERS": "x", "OTPD_SIGNING_KEY_FILE": "/k.pem", "OTPD_HTTP_ADDR": "x"})
	_, r := config.Check(env, filesOf(map[string]string{"/k.pem": "not a key"}), nil,
		func(*config.Project) []error { return []error{os.ErrInvalid} })
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{"OTPD_WORKERS", "OTPD_HTTP_ADDR", "signingKeyFiles[0] /k.pem", os.ErrInvalid.Error()} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if r.Err() == nil {
		t.Error("Err() is nil with problems")
	}
}

// TestEnvNamesListsEveryVariableRead: every OTPD_* name in otpd's
// (non-test) source is in config.EnvNames, so config check and startup
// never call a variable otpd reads unknown (a new variable, or one added
// on another branch, fails here until it is listed).
func TestEnvNamesListsEveryVariableRead(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`"(OTPD_[A-Z0-9_]+)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "gen" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(config.EnvNames, m[1]) {
				t.Errorf("%s reads %s, which config.EnvNames does not list", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
