// Package logbuf batches log lines into fewer writes: a request log line
// per call costs a write(2) per call, a measurable share of a start's CPU
// under load (docs/performance.md). Lines are kept whole and in order; they
// reach the output within the flush interval, when the buffer fills, or at
// Close.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Writer is an io.Writer that buffers whole writes (slog's handlers write
// one line per Write) and writes them out together. It is safe for
// concurrent use.
type Writer struct {
	out  io.Writer
	size int

	mu     sync.Mutex
	buf    []byte
	closed bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Writer that writes to out at least every interval and
// whenever size bytes are waiting. interval <= 0 or size <= 0 means no
// buffering: each Write goes straight to out (Close is then a no-op).
func New(out io.Writer, size int, interval time.Duration) *Writer {
	w := &Writer{out: out, size: size, stop: make(chan struct{}), done: make(chan struct{})}
	if interval <= 0 || size <= 0 {
		w.size = 0
		close(w.done)
		return w
	}
	w.buf = make([]byte, 0, size)
	go w.run(interval)
	return w
}

func (w *Writer) run(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write keeps p to be written with the next flush. A write that would
// overflow the buffer flushes it first; one larger than the buffer goes
// straight out. The error is out's, from a flush this write caused.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size == 0 {
		return w.out.Write(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	var err error
	if len(w.buf)+len(p) > w.size {
		// A failed flush has dropped the batch; this line is still kept.
		err = w.flushLocked()
		if len(p) > w.size {
			if _, werr := w.out.Write(p); werr != nil {
				return 0, werr
			}
			return len(p), err
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), err
}

// Flush writes what is waiting.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	// A failed write drops the batch rather than growing without bound
	// (stderr that cannot be written to will not recover by retrying).
	w.buf = w.buf[:0]
	return err
}

// Close stops the periodic flush and writes what is waiting; later writes
// go straight to out.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.flushLocked()
}
