// Package deploy_test checks the container and Kubernetes files without a
// Docker engine or a cluster: the Dockerfile's build command produces a
// static binary, and the settings that docker-compose.yml and the
// Kubernetes example give otpd pass `otpd config check` with keys from
// `otpd keygen`.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
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
	for _, want := range []string{"FROM gcr.io/distroless/static-debian12:nonroot", "USER nonroot:nonroot", "ENTRYPOINT [\"/otpd\"]"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	out := filepath.Join(t.TempDir(), "otpd")
	script := strings.ReplaceAll(m[1], "${VERSION}", "v0.0.0-deploytest") + " -o " + out + " ./cmd/otpd"
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
	if o, err := exec.Command(out, "version").Output(); err != nil || !strings.Contains(string(o), "otpd v0.0.0-deploytest") || !strings.Contains(string(o), "static") {
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

	t.Run("compose", func(t *testing.T) {
		b, err := os.ReadFile("../docker-compose.yml")
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Name     string         `json:"name"`
			Volumes  map[string]any `json:"volumes"`
			Services map[string]struct {
				Build       string            `json:"build"`
				Image       string            `json:"image"`
				Restart     string            `json:"restart"`
				ReadOnly    bool              `json:"read_only"`
				Healthcheck map[string]any    `json:"healthcheck"`
				Command     []string          `json:"command"`
				Environment map[string]string `json:"environment"`
				Volumes     []string          `json:"volumes"`
				Ports       []string          `json:"ports"`
				DependsOn   map[string]struct {
					Condition string `json:"condition"`
				} `json:"depends_on"`
			} `json:"services"`
		}
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			t.Fatal(err)
		}
		otpd, redis, kg := c.Services["otpd"], c.Services["redis"], c.Services["keygen"]
		if otpd.Environment["OTPD_REDIS_URL"] == "" || !strings.Contains(strings.Join(redis.Command, " "), "noeviction") {
			t.Error("compose: otpd must use the Redis service, which must not evict")
		}
		if otpd.DependsOn["keygen"].Condition != "service_completed_successfully" || otpd.DependsOn["redis"].Condition != "service_healthy" {
			t.Errorf("compose: otpd depends on %+v", otpd.DependsOn)
		}
		if !strings.Contains(strings.Join(kg.Command, " "), "-keep") {
			t.Error("compose: keygen without -keep fails on the second start")
		}
		for _, p := range otpd.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("compose: port %s published beyond loopback", p)
			}
		}
		dir := keygen(t, bin)
		cfg, err := os.ReadFile("compose/otpd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(t.TempDir(), "otpd.yaml")
		_ = os.WriteFile(cfgPath, bytes.ReplaceAll(cfg, []byte("/keys/"), []byte(dir+"/")), 0o644)
		env := map[string]string{}
		for k, v := range otpd.Environment {
			env[k] = v
		}
		env["OTPD_CONFIG"] = cfgPath
		configCheck(t, bin, env, "/keys", dir)
	})

	t.Run("kubernetes", func(t *testing.T) {
		b, err := os.ReadFile("kubernetes/otpd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		docs := map[string]map[string]any{}
		for _, d := range strings.Split(string(b), "\n---\n") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(d), &m); err != nil {
				t.Fatal(err)
			}
			docs[m["kind"].(string)] = m
		}
		for _, k := range []string{"Secret", "ConfigMap", "Deployment", "Service"} {
			if docs[k] == nil {
				t.Fatalf("kubernetes: no %s", k)
			}
		}
		var dep struct {
			Spec struct {
				Template struct {
					Spec struct {
						SecurityContext struct {
							RunAsNonRoot bool `json:"runAsNonRoot"`
							FSGroup      int  `json:"fsGroup"`
						} `json:"securityContext"`
						Containers []struct {
							Env []struct {
								Name, Value string
							} `json:"env"`
							ReadinessProbe struct {
								HTTPGet struct{ Path string } `json:"httpGet"`
							} `json:"readinessProbe"`
							LivenessProbe map[string]any `json:"livenessProbe"`
							Resources     struct {
								Requests, Limits map[string]string
							} `json:"resources"`
							VolumeMounts []struct{ Name, MountPath string } `json:"volumeMounts"`
						} `json:"containers"`
						Volumes []struct {
							Name   string
							Secret *struct{ SecretName string } `json:"secret"`
						} `json:"volumes"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		db, _ := yaml.Marshal(docs["Deployment"])
		if err := yaml.Unmarshal(db, &dep); err != nil {
			t.Fatal(err)
		}
		pod := dep.Spec.Template.Spec
		ctr := pod.Containers[0]
		if ctr.ReadinessProbe.HTTPGet.Path != "/healthz" || ctr.LivenessProbe == nil {
			t.Errorf("kubernetes: readiness %+v, liveness %v", ctr.ReadinessProbe, ctr.LivenessProbe)
		}
		if ctr.Resources.Requests["cpu"] == "" || ctr.Resources.Limits["memory"] == "" {
			t.Errorf("kubernetes: resources %+v", ctr.Resources)
		}
		if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.FSGroup == 0 {
			t.Errorf("kubernetes: pod security context %+v", pod.SecurityContext)
		}
		if len(pod.Volumes) == 0 || pod.Volumes[0].Secret == nil || pod.Volumes[0].Secret.SecretName != docs["Secret"]["metadata"].(map[string]any)["name"] {
			t.Error("kubernetes: the keys volume is not the Secret")
		}
		ports := map[string]bool{}
		for _, p := range docs["Service"]["spec"].(map[string]any)["ports"].([]any) {
			ports[p.(map[string]any)["name"].(string)] = true
		}
		if !ports["grpc"] || !ports["http"] {
			t.Errorf("kubernetes: Service ports %v, want grpc and http", ports)
		}
		// Every key file the settings name is one the Secret holds, and
		// the settings pass config check with keygen's files in its place.
		secret := docs["Secret"]["stringData"].(map[string]any)
		dir := keygen(t, bin)
		cfg := docs["ConfigMap"]["data"].(map[string]any)["otpd.yaml"].(string)
		cfgPath := filepath.Join(t.TempDir(), "otpd.yaml")
		_ = os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfg, "/etc/otpd/keys/", dir+"/")), 0o644)
		env := map[string]string{"OTPD_SMTP_PASSWORD": "test-password"}
		for _, e := range ctr.Env {
			if e.Value != "" {
				env[e.Name] = e.Value
			}
			if strings.HasPrefix(e.Value, "/etc/otpd/keys/") {
				if _, ok := secret[strings.TrimPrefix(e.Value, "/etc/otpd/keys/")]; !ok {
					t.Errorf("kubernetes: %s names %s, which the Secret lacks", e.Name, e.Value)
				}
			}
		}
		env["OTPD_CONFIG"] = cfgPath
		configCheck(t, bin, env, "/etc/otpd/keys", dir)
	})
}
