package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type composeService struct {
	Build       any      `json:"build"`
	Image       string   `json:"image"`
	Profiles    []string `json:"profiles"`
	Restart     string   `json:"restart"`
	ReadOnly    bool     `json:"read_only"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		StartPeriod string   `json:"start_period"`
		Retries     int      `json:"retries"`
	} `json:"healthcheck"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Volumes     []string          `json:"volumes"`
	Ports       []string          `json:"ports"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
}

// checkCompose: docker-compose.yml's services are wired as documented, its
// health checks work in the distroless image (no shell: /otpd healthcheck),
// metrics are published on loopback, and each otpd service's settings pass
// the built binary's config check with keygen's files, the load-test one
// flagged NOT FOR PRODUCTION.
func checkCompose(t *testing.T, bin string) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Volumes  map[string]any            `json:"volumes"`
		Services map[string]composeService `json:"services"`
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatal(err)
	}
	otpd, redis, kg := c.Services["otpd"], c.Services["redis"], c.Services["keygen"]
	if otpd.Environment["OTPD_REDIS_URL"] == "" || !strings.Contains(strings.Join(redis.Command, " "), "noeviction") {
		t.Error("otpd must use the Redis service, which must not evict")
	}
	if otpd.DependsOn["keygen"].Condition != "service_completed_successfully" || otpd.DependsOn["redis"].Condition != "service_healthy" {
		t.Errorf("otpd depends on %+v", otpd.DependsOn)
	}
	if !strings.Contains(strings.Join(kg.Command, " "), "-keep") {
		t.Error("keygen without -keep fails on the second start")
	}
	if args := strings.Join(func() []string {
		m, _ := kg.Build.(map[string]any)
		a, _ := m["args"].(map[string]any)
		var out []string
		for k := range a {
			out = append(out, k)
		}
		return out
	}(), " "); !strings.Contains(args, "COMMIT") || !strings.Contains(args, "VERSION") {
		t.Errorf("the image build does not pass VERSION and COMMIT (build args %q)", args)
	}
	metrics := false
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %s published beyond loopback", name, p)
			}
			metrics = metrics || (name == "otpd" && strings.HasSuffix(p, ":9090"))
		}
		if s.Image == "otpd:local" && name != "keygen" {
			if s.Healthcheck == nil || strings.Join(s.Healthcheck.Test, " ") != "CMD /otpd healthcheck" {
				t.Errorf("%s: healthcheck %+v, want [CMD /otpd healthcheck] (the image has no shell)", name, s.Healthcheck)
			}
		}
	}
	if !metrics {
		t.Error("otpd's admin listener (:9090, /metrics) is not published")
	}
	if lt := c.Services["otpd-loadtest"]; len(lt.Profiles) != 1 || lt.Profiles[0] != "loadtest" {
		t.Errorf("the load-test otpd must be behind the loadtest profile, not started by default: %v", lt.Profiles)
	}
	if pr, err := os.ReadFile("compose/prometheus.yml"); err != nil || !strings.Contains(string(pr), `targets: ["otpd:9090"]`) {
		t.Errorf("compose/prometheus.yml does not scrape otpd:9090: %v", err)
	}

	dir := keygen(t, bin)
	for svc, file := range map[string]string{"otpd": "compose/otpd.yaml", "otpd-loadtest": "compose/otpd-loadtest.yaml"} {
		s := c.Services[svc]
		mounted := false
		for _, v := range s.Volumes {
			mounted = mounted || strings.HasPrefix(v, "./deploy/"+file+":")
		}
		if !mounted {
			t.Errorf("%s does not mount %s", svc, file)
		}
		cfg, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(cfg, []byte("managementKeysFile: /keys/management-keys")) {
			t.Errorf("%s: the management key keygen writes is not wired in", file)
		}
		cfgPath := filepath.Join(t.TempDir(), "otpd.yaml")
		_ = os.WriteFile(cfgPath, bytes.ReplaceAll(cfg, []byte("/keys/"), []byte(dir+"/")), 0o644)
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k] = v
		}
		env["OTPD_CONFIG"] = cfgPath
		out := configCheckOutput(t, bin, env, "/keys", dir)
		if flagged := strings.Contains(out, "NOT FOR PRODUCTION") && strings.Contains(out, "sendsPerIp"); flagged != (svc == "otpd-loadtest") {
			t.Errorf("%s: config check flags it as not for production: %v, want %v\n%s", svc, flagged, svc == "otpd-loadtest", out)
		}
	}
}

// configCheckOutput is configCheck returning the output.
func configCheckOutput(t *testing.T, bin string, env map[string]string, from, dir string) string {
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
	return string(o)
}
