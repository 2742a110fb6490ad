// Package deploy_test checks the container and Kubernetes files without a
// Docker engine or a cluster: the Dockerfile's build command produces a
// static binary, and the settings that docker-compose.yml and the
// Kubernetes example give otpd pass `otpd config check` with keys from
// `otpd keygen`.
package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildLikeDockerfile builds cmd/otpd with the Dockerfile's own `go build`
// command (environment, flags, ldflags) and returns the binary.
func buildLikeDockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	m := regexp.MustCompile(`RUN (CGO_ENABLED=0 [^\n]*?go build [^\n]*?) -o /out/otpd \./cmd/otpd`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile: no `CGO_ENABLED=0 ... go build ... -o /out/otpd ./cmd/otpd` step")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static-debian12:nonroot", "USER nonroot:nonroot", "ENTRYPOINT [\"/otpd\"]",
		"OTPD_ADMIN_ADDR=:9090", "EXPOSE 50051 8080 9090", `HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 CMD ["/otpd", "healthcheck"]`,
		`org.opencontainers.image.revision="${COMMIT}"`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	out := filepath.Join(t.TempDir(), "otpd")
	script := strings.NewReplacer("${VERSION}", "v0.0.0-deploytest", "${COMMIT}", "0123456789abcdef0123456789abcdef01234567").Replace(m[1]) + " -o " + out + " ./cmd/otpd"
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = ".."
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, o)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if o, err := exec.Command(out, "version").Output(); err != nil || !strings.Contains(string(o), "otpd v0.0.0-deploytest (commit 0123456789ab,") || !strings.Contains(string(o), "static") {
		t.Errorf("otpd version: %v %q", err, o)
	}
	return out
}

// keygen writes keys into a fresh folder with the built binary.
func keygen(t *testing.T, bin string) string {
	dir := filepath.Join(t.TempDir(), "keys")
	if o, err := exec.Command(bin, "keygen", "-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, o)
	}
	return dir
}

// configCheck runs `otpd config check` with env (paths under from moved to
// dir) and fails the test on any problem.
func configCheck(t *testing.T, bin string, env map[string]string, from, dir string) {
	t.Helper()
	cmd := exec.Command(bin, "config", "check")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+strings.ReplaceAll(v, from, dir))
	}
	o, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(o), "configuration OK") {
		t.Errorf("config check with %v: %v\n%s", cmd.Env, err, o)
	}
}

func TestComposeAndKubernetesConfigsPassConfigCheck(t *testing.T) {
	bin := buildLikeDockerfile(t)

	t.Run("compose", func(t *testing.T) { checkCompose(t, bin) })
	t.Run("kubernetes", func(t *testing.T) { checkKubernetes(t, bin) })
}
