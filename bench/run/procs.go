package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/token"
)

type binaries struct{ otpd, baseline, ghz, wrk, protoset string }

// build compiles otpd (benchmark build), the baselines and ghz, and the
// protoset ghz reads.
func build(ctx context.Context, dir string) (binaries, error) {
	b := binaries{
		otpd:     filepath.Join(dir, "bin", "otpd-bench"),
		baseline: filepath.Join(dir, "bin", "baseline"),
		ghz:      filepath.Join(dir, "bin", "ghz"),
		protoset: filepath.Join(dir, "otp.protoset"),
	}
	steps := [][]string{
		{"go", "build", "-tags", "otpd_bench", "-o", b.otpd, "./cmd/otpd"},
		{"go", "build", "-o", b.baseline, "./bench/baseline"},
		{"go", "build", "-modfile=bench/tools/go.mod", "-o", b.ghz, "github.com/bojand/ghz/cmd/ghz"},
		{"go", "tool", "-modfile=tools/go.mod", "buf", "build", "-o", b.protoset},
	}
	for _, s := range steps {
		fmt.Fprintln(os.Stderr, "$", strings.Join(s, " "))
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, err
		}
	}
	w, err := exec.LookPath("wrk")
	if err != nil {
		return b, fmt.Errorf("wrk is needed for the REST runs (scripts/ensure-bench-tools.sh installs it): %w", err)
	}
	b.wrk = w
	return b, nil
}

// proc is a child process whose CPU time is measured.
type proc struct {
	name string
	cmd  *exec.Cmd
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// cpu returns the process's user+system CPU time.
func (p *proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that ends the command name.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / time.Duration(clockTicks()), nil
}

// clockTicks is the kernel's CPU-time unit in /proc (CLK_TCK), read once.
var clockTicks = sync.OnceValue(readClockTicks)

func readClockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil && n > 0 {
		return n
	}
	return 100
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
	addr   string
	client *redis.Client
}

func startRedis(ctx context.Context, o options) (*redisProc, error) {
	dir := o.dir
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := o.serverCmd(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	log, _ := os.Create(filepath.Join(dir, "redis.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server (scripts/ensure-redis-server.sh installs it): %w", err)
	}
	r := &redisProc{proc: &proc{name: "redis-server", cmd: cmd}, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr})
	for i := 0; r.client.Ping(ctx).Err() != nil; i++ {
		if i > 200 {
			return nil, fmt.Errorf("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r, nil
}

// targets are the servers under load.
type targets struct {
	otpd               *proc
	otpdGRPC, otpdHTTP string
	otpdAdmin          string           // /metrics and /debug/pprof/
	base               map[string]*proc // echo, redis, sign, sign2
	baseAddr           map[string]string
	projectID          string
	mgmtKey            string   // the project's management key (sign-in scenarios' users and model)
	env                []string // otpd's config, secrets and keys
	// otpdCluster (-cluster) is a second otpd on the 3-master Cluster.
	otpdCluster     *proc
	otpdClusterGRPC string
}

func (t *targets) stop() {
	t.otpd.stop()
	t.otpdCluster.stop()
	for _, p := range t.base {
		p.stop()
	}
}

func (t *targets) otpdPeakRSS() int64 { return t.otpd.peakRSS() }

func startTargets(ctx context.Context, o options, b binaries, r *redisProc) (*targets, error) {
	t := &targets{base: map[string]*proc{}, baseAddr: map[string]string{}, projectID: "P2benchmark00000000000000000"}
	for _, mode := range []string{"echo", "redis", "sign", "sign2"} {
		cmd := o.serverCmd(ctx, b.baseline, "-mode", mode, "-redis", r.addr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", mode, err)
		}
		t.base[mode], t.baseAddr[mode] = &proc{name: "baseline-" + mode, cmd: cmd}, strings.TrimSpace(addr)
	}
	gp, err := freePort()
	if err != nil {
		return nil, err
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	t.otpdGRPC, t.otpdHTTP = fmt.Sprintf("127.0.0.1:%d", gp), fmt.Sprintf("127.0.0.1:%d", hp)
	t.otpdAdmin = fmt.Sprintf("127.0.0.1:%d", ap)
	key, err := token.GenerateKey(token.ES256)
	if err != nil {
		return nil, err
	}
	pem, _ := key.MarshalPEM()
	keyFile, cfgFile := filepath.Join(o.dir, "signing.pem"), filepath.Join(o.dir, "otpd.yaml")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		return nil, err
	}
	off := "{count: 0, window: 1m}"
	cfg := fmt.Sprintf(`projects:
  - id: %s
    signingKeyFiles: [%s]
    managementKeysEnv: %s
    limits:
      sendsPerRecipient: %s
      sendsPerLoginId: %s
      resendCooldown: 0s
      sendsPerIp: %s
      sendsPerPhonePrefix: %s
      sendsPerCountry: %s
      verifiesPerIp: %s
      verifiesPerLoginId: %s
      refreshesPerUser: %s
      refreshesPerIp: %s
      projectSendsPerHour: {email: 0, sms: 0, voice: 0, whatsapp: 0}
    delivery:
      providers:
        - {id: noop, type: noop, channels: [email, sms, voice, whatsapp]}
`, t.projectID, keyFile, benchMgmtKeysEnv, off, off, off, off, off, off, off, off, off)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	seal := make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(seal)
	mk := make([]byte, 30)
	_, _ = rand.Read(mk)
	t.mgmtKey = base64.RawURLEncoding.EncodeToString(mk)
	t.env = []string{benchMgmtKeysEnv + "=bench=" + t.mgmtKey, "OTPD_CONFIG=" + cfgFile, "OTPD_HMAC_SECRETS=" + base64.RawURLEncoding.EncodeToString(secret) + "-hmac-secret",
		"OTPD_SEAL_KEYS=" + base64.StdEncoding.EncodeToString(seal)}
	t.otpd, err = startOtpd(ctx, o, b, "otpd", t.otpdGRPC, t.otpdHTTP, t.otpdAdmin,
		append(t.env, "OTPD_REDIS_URL=redis://"+r.addr, "OTPD_PPROF=true"))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// commands is the sum of INFO commandstats' calls over every command but
// INFO itself: the commands redis-server has run, those run by scripts
// included (Redis counts a command a script calls like any other); and of
// those, the scripts (EVALSHA and EVAL calls).
func (r *redisProc) commands(ctx context.Context) (total, scripts int64, err error) {
	info, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		v, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("INFO commandstats: %q", l)
		}
		total += v
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
			scripts += v
		}
	}
	return total, scripts, nil
}

func (r *redisProc) flush(ctx context.Context) error { return r.client.FlushAll(ctx).Err() }
func (r *redisProc) cmdable() redis.Cmdable          { return r.client }

// startOtpd starts the benchmark build of otpd with env (its Redis among
// them) and waits for its gRPC listener.
func startOtpd(ctx context.Context, o options, b binaries, name, grpcAddr, httpAddr, adminAddr string, env []string) (*proc, error) {
	cmd := o.serverCmd(ctx, b.otpd)
	cmd.Env = append(append(os.Environ(), "OTPD_GRPC_ADDR="+grpcAddr, "OTPD_HTTP_ADDR="+httpAddr, "OTPD_ADMIN_ADDR="+adminAddr), env...)
	logFile := filepath.Join(o.dir, name+".log")
	log, _ := os.Create(logFile)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", grpcAddr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		if i > 100 {
			p.stop()
			return nil, fmt.Errorf("%s did not start; see %s", name, logFile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
