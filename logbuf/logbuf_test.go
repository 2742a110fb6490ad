package logbuf_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/logbuf"
)

// sink records each Write it receives.
type sink struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) all() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.writes, ""), len(s.writes)
}

// TestLinesBatchedWholeAndInOrder: many log lines reach the output in few
// writes, every line whole and in order, all of them by Close.
func TestLinesBatchedWholeAndInOrder(t *testing.T) {
	out := &sink{}
	w := logbuf.New(out, 4096, time.Hour)
	log := slog.New(slog.NewJSONHandler(w, nil))
	const n = 500
	for i := range n {
		log.Info("rpc", "i", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.all()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines out, want %d", len(lines), n)
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, fmt.Sprintf(`"i":%d}`, i)) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
	// ~60-byte lines in 4 KiB batches: far fewer writes than lines.
	if writes > n/20 {
		t.Errorf("%d writes for %d lines: not batched", writes, n)
	}
}

// TestFlushedWithinTheInterval: a quiet server's last line is not held
// back until the next one.
func TestFlushedWithinTheInterval(t *testing.T) {
	out := &sink{}
	w := logbuf.New(out, 1<<16, 20*time.Millisecond)
	defer w.Close()
	_, _ = w.Write([]byte("one line\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.all(); got == "one line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("line not written within 5s with a 20ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLargeLinesAndUnbuffered: a line larger than the buffer is written
// at once, after what was waiting; size or interval 0 writes through.
func TestLargeLinesAndUnbuffered(t *testing.T) {
	out := &sink{}
	w := logbuf.New(out, 16, time.Hour)
	_, _ = w.Write([]byte("small\n"))
	big := strings.Repeat("x", 40) + "\n"
	_, _ = w.Write([]byte(big))
	if got, _ := out.all(); got != "small\n"+big {
		t.Fatalf("got %q", got)
	}
	_ = w.Close()
	_, _ = w.Write([]byte("after close\n"))
	if got, _ := out.all(); !strings.HasSuffix(got, "after close\n") {
		t.Fatalf("write after Close lost: %q", got)
	}

	var direct bytes.Buffer
	u := logbuf.New(&direct, 0, time.Second)
	_, _ = u.Write([]byte("now\n"))
	if direct.String() != "now\n" {
		t.Fatalf("unbuffered writer held the line: %q", direct.String())
	}
	_ = u.Close()
}

// TestFailingOutputReported: when the output fails, the error is
// returned and the failed batch dropped (not kept to grow), but the line
// being written is kept and written once the output works again.
func TestFailingOutputReported(t *testing.T) {
	out := &sink{err: errors.New("disk full")}
	w := logbuf.New(out, 32, time.Hour)
	var failed int
	for range 100 {
		if _, err := w.Write([]byte("0123456789\n")); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no write reported the output's error")
	}
	out.mu.Lock()
	out.err = nil
	out.mu.Unlock()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// What waits at the end is at most one buffer: the last line(s) since
	// the last failed flush, kept whole.
	if got, _ := out.all(); got == "" || len(got) > 32 || !strings.HasSuffix(got, "0123456789\n") {
		t.Fatalf("after the output recovered: %q", got)
	}
}

// TestConcurrentWriters: lines from many goroutines stay whole (run with
// -race).
func TestConcurrentWriters(t *testing.T) {
	out := &sink{}
	w := logbuf.New(out, 512, time.Millisecond)
	log := slog.New(slog.NewJSONHandler(w, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				log.Info("rpc", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	_ = w.Close()
	got, _ := out.all()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("torn line %q", l)
		}
	}
}
