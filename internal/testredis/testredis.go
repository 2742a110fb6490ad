// Package testredis gives tests a Redis: the embedded miniredis, or a real
// redis-server process the test starts on a free loopback port and stops.
//
// Real servers are required under CI=true: when redis-server is missing
// there, the test fails instead of skipping. Elsewhere it skips, naming
// scripts/ensure-redis-server.sh.
package testredis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Mini starts an in-process miniredis and a client for it; both stop with t.
func Mini(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return m, c
}

// Server is a redis-server child process.
type Server struct {
	Addr string
	cmd  *exec.Cmd
}

// Real starts a redis-server on a free 127.0.0.1 port with persistence off,
// waits until it answers PING, and stops it when t ends.
func Real(t testing.TB) (*Server, *redis.Client) {
	t.Helper()
	return realServer(t)
}

// ClusterEnabled is Real with cluster mode on and no slots assigned: enough
// for CLUSTER KEYSLOT, which tests use as the reference for slot maths.
func ClusterEnabled(t testing.TB) *redis.Client {
	t.Helper()
	_, c := realServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	return c
}

func realServer(t testing.TB, extra ...string) (*Server, *redis.Client) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found under CI=true (run scripts/ensure-redis-server.sh): %v", err)
		}
		t.Skip("redis-server not installed; run scripts/ensure-redis-server.sh")
	}
	var lastErr error
	for try := 0; try < 5; try++ {
		s, err := start(t, bin, extra...)
		if err == nil {
			c := redis.NewClient(&redis.Options{Addr: s.Addr})
			t.Cleanup(func() { _ = c.Close() })
			return s, c
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(t testing.TB, bin string, extra ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	return startAt(t, bin, port, dir, append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"}, extra...)...)
}

// startAt runs bin with args (the server listens on port) and waits for PING.
func startAt(t testing.TB, bin string, port int, dir string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	stderr, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	logs := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case logs <- sc.Text():
			default:
			}
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("redis-server on %s did not start: %v (%s)", addr, err, drain(logs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := &Server{Addr: addr, cmd: cmd}
	t.Cleanup(s.stop)
	return s, nil
}

func drain(ch chan string) string {
	var out string
	for {
		select {
		case l := <-ch:
			out += l + "\n"
		default:
			return out
		}
	}
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Freeze stops the process (SIGSTOP): connections stay open, nothing answers.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) })
}

// Thaw resumes a frozen process (SIGCONT).
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// Kill stops the process at once (SIGKILL) and waits for it.
func (s *Server) Kill() { s.stop() }

func (s *Server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// FreePort returns a free loopback port (for a server started later).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// RealOn starts a redis-server on port (see Real); it stops with t.
func RealOn(t testing.TB, port int) *Server {
	t.Helper()
	bin := lookup(t)
	dir := t.TempDir()
	s, err := startAt(t, bin, port, dir, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning")
	if err != nil {
		t.Fatalf("starting redis-server on %d: %v", port, err)
	}
	return s
}
