package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHelperOtpdMain is not a test: it is the otpd binary when the test
// binary runs itself (see startOtpd).
func TestHelperOtpdMain(t *testing.T) {
	if os.Getenv("OTPD_TEST_AS_MAIN") != "1" {
		t.Skip("helper process: runs only when started by startOtpd")
	}
	os.Args = append([]string{"otpd"}, strings.Fields(os.Getenv("OTPD_TEST_ARGS"))...)
	main()
	os.Exit(0) // before the testing package prints PASS
}

// otpdProcess is otpd (this test binary running main) with its output
// lines.
type otpdProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string // "stdout: ..." and "stderr: ..."
	done   chan struct{}
	rc     int
	closed sync.WaitGroup
}

func startOtpd(t *testing.T, env []string, args ...string) *otpdProcess {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestHelperOtpdMain$")
	cmd.Env = append([]string{"OTPD_TEST_AS_MAIN=1", "OTPD_TEST_ARGS=" + strings.Join(args, " "), "PATH=" + os.Getenv("PATH")}, env...)
	p := &otpdProcess{cmd: cmd, done: make(chan struct{})}
	for name, pipe := range map[string]func() (io.ReadCloser, error){"stdout": cmd.StdoutPipe, "stderr": cmd.StderrPipe} {
		r, err := pipe()
		if err != nil {
			t.Fatal(err)
		}
		p.closed.Add(1)
		go func() {
			defer p.closed.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				p.mu.Lock()
				p.lines = append(p.lines, name+": "+sc.Text())
				p.mu.Unlock()
			}
		}()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.closed.Wait()
		_ = cmd.Wait()
		p.rc = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *otpdProcess) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLine waits for a JSON line whose msg is msg and returns it.
func (p *otpdProcess) waitLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range p.output() {
			_, body, _ := strings.Cut(l, ": ")
			var m map[string]any
			if json.Unmarshal([]byte(body), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		select {
		case <-p.done:
			t.Fatalf("otpd exited (%d) without %q:\n%s", p.rc, msg, strings.Join(p.output(), "\n"))
		default:
		}
	}
	t.Fatalf("no %q line:\n%s", msg, strings.Join(p.output(), "\n"))
	return nil
}

// allJSON fails for every output line that is not a JSON object.
func allJSON(t *testing.T, lines []string) {
	t.Helper()
	if len(lines) == 0 {
		t.Error("no output")
	}
	for _, l := range lines {
		_, body, _ := strings.Cut(l, ": ")
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Errorf("not a JSON line: %q", l)
		}
	}
}

// TestServerWritesOnlyJSON runs otpd as a process (embedded Redis, the dev
// console on, tracing on towards a collector that is not there, a code
// delivered by the log provider, a shutdown) and checks that every line
// on stdout and stderr is JSON, that the served addresses are in the log,
// and that /metrics has otpd_build_info.
func TestServerWritesOnlyJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpd")
	}
	p := startOtpd(t, []string{"OTPD_GRPC_ADDR=127.0.0.1:0", "OTPD_HTTP_ADDR=127.0.0.1:0", "OTPD_ADMIN_ADDR=127.0.0.2:0",
		"OTPD_DEV_CONSOLE=true", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_EXPORTER_OTLP_TIMEOUT=200"})
	serving := p.waitLine(t, "otpd serving")
	rest, _ := serving["rest"].(string)
	if !strings.HasPrefix(rest, "http://127.0.0.1:") || !strings.Contains(toString(serving["devConsole"]), "/dev/") {
		t.Fatalf("serving line: %v", serving)
	}
	admin := toString(p.waitLine(t, "admin listener: /metrics, /healthz and (OTPD_PPROF=true) /debug/pprof/")["addr"])
	req, _ := http.NewRequest(http.MethodPost, rest+"/v1/auth/otp/signup-in/email", strings.NewReader(`{"loginId":"ada@example.com"}`))
	req.Header.Set("Authorization", "Bearer P2otpdLocalDevelopment000000")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("start: %d", res.StatusCode)
	}
	p.waitLine(t, "otp message") // the log provider's line on stdout
	res, err = http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "otpd_build_info{goversion=\"go1.") {
		t.Errorf("no otpd_build_info in /metrics")
	}
	time.Sleep(500 * time.Millisecond) // the exporter fails to reach the collector
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("otpd did not stop")
	}
	if p.rc != 0 {
		t.Errorf("exit code %d", p.rc)
	}
	allJSON(t, p.output())
	if os.Getenv("OTPD_TEST_SHOW") != "" {
		t.Log(strings.Join(p.output(), "\n"))
	}
}

// TestFailedStartIsJSON: a server that cannot start says why in one JSON
// line (all problems in it) and exits 1; a tool's error stays text.
func TestFailedStartIsJSON(t *testing.T) {
	p := startOtpd(t, []string{"OTPD_LOG_LEVEL=loud", "OTPD_GRPC_ADDR=nonsense"})
	<-p.done
	if p.rc != 1 {
		t.Errorf("exit code %d", p.rc)
	}
	out := p.output()
	allJSON(t, out)
	if len(out) != 1 || !strings.Contains(out[0], "OTPD_LOG_LEVEL") {
		t.Errorf("want one line naming the problem: %q", out)
	}
	tool := startOtpd(t, nil, "deadletters", "bogus")
	<-tool.done
	if tool.rc != 1 || len(tool.output()) == 0 || strings.HasPrefix(strings.TrimPrefix(tool.output()[0], "stderr: "), "{") {
		t.Errorf("a tool's error: rc %d %q", tool.rc, tool.output())
	}
}

func toString(v any) string { s, _ := v.(string); return s }
