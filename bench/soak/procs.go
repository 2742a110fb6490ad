package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/token"
)

// build compiles the benchmark build of otpd (every code is 000000).
func build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "otpd-bench")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "otpd_bench", "-o", out, "./cmd/otpd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintln(os.Stderr, "$", strings.Join(cmd.Args, " "))
	return out, cmd.Run()
}

type proc struct{ cmd *exec.Cmd }

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func (p *proc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type redisProc struct {
	*proc
	addr string
}

func startRedis(ctx context.Context, dir string) (*redisProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	log, _ := os.Create(filepath.Join(dir, "redis.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server (scripts/ensure-redis-server.sh installs it): %w", err)
	}
	r := &redisProc{proc: &proc{cmd: cmd}, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return r, nil
		}
		if i > 100 {
			r.stop()
			return nil, fmt.Errorf("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// target is the otpd under test.
type target struct {
	*proc
	grpc, http, admin string
	project           string
}

// startOtpd runs otpd on its default limits (rate limits, connection
// caps, request budget) with 127.0.0.1 as a trusted proxy.
func startOtpd(ctx context.Context, o options, bin, redisAddr string) (*target, error) {
	t := &target{project: "P2soak0000000000000000000000"}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	t.grpc, t.http, t.admin = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	key, err := token.GenerateKey(token.ES256)
	if err != nil {
		return nil, err
	}
	pem, _ := key.MarshalPEM()
	keyFile, cfgFile := filepath.Join(o.dir, "signing.pem"), filepath.Join(o.dir, "otpd.yaml")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`projects:
  - id: %s
    signingKeyFiles: [%s]
    delivery:
      providers:
        - {id: noop, type: noop, channels: [email, sms, voice, whatsapp]}
`, t.project, keyFile)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	secret, seal := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(seal)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"OTPD_GRPC_ADDR="+t.grpc, "OTPD_HTTP_ADDR="+t.http, "OTPD_ADMIN_ADDR="+t.admin, "OTPD_REDIS_URL=redis://"+redisAddr,
		"OTPD_CONFIG="+cfgFile, "OTPD_HMAC_SECRETS="+base64.RawURLEncoding.EncodeToString(secret)+"-hmac-secret",
		"OTPD_SEAL_KEYS="+base64.StdEncoding.EncodeToString(seal), "OTPD_TRUSTED_PROXIES=127.0.0.1/32",
		"OTPD_LOG_LEVEL=warn")
	log, _ := os.Create(filepath.Join(o.dir, "otpd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.proc = &proc{cmd: cmd}
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", t.grpc, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return t, nil
		}
		if i > 100 {
			t.stop()
			return nil, fmt.Errorf("otpd did not start; see %s", filepath.Join(o.dir, "otpd.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric reads one unlabelled metric (or a full labelled name) from the
// admin listener; -1 when absent.
func (t *target) metrics() string {
	resp, err := http.Get("http://" + t.admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(m, name string) float64 {
	for _, l := range strings.Split(m, "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

// metricSum adds every line of a metric family whose labels contain sub.
func metricSum(m, family, sub string) float64 {
	var sum float64
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, family+"{") && strings.Contains(l, sub) {
			f := strings.Fields(l)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// watchBudget samples the budget in use every 100 ms until ctx ends, then
// sends its peak.
func watchBudget(ctx context.Context, t *target) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		peak := 0.0
		for ctx.Err() == nil {
			peak = max(peak, metricValue(t.metrics(), "otpd_request_budget_in_use_bytes"))
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		out <- peak
	}()
	return out
}
