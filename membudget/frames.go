package membudget

import "encoding/binary"

// HTTP/2 frame types and flags the gRPC accounting follows (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagEndHeaders = 0x4
)

// frameHeader is the 9-byte header of an HTTP/2 frame.
type frameHeader struct {
	length   uint32
	typ      byte
	flags    byte
	streamID uint32
}

// frameScanner finds frame headers in a byte stream that arrives in
// arbitrary pieces; it never looks into payloads.
type frameScanner struct {
	skip int // bytes to pass before the next header (preface, payload)
	hdr  [9]byte
	hn   int
}

// feed scans p, calling on for every complete frame header; on returning
// false stops the scan (the rest of p is not scanned) and feed returns
// false.
func (s *frameScanner) feed(p []byte, on func(frameHeader) bool) bool {
	for len(p) > 0 {
		if s.skip > 0 {
			n := min(s.skip, len(p))
			s.skip -= n
			p = p[n:]
			continue
		}
		n := copy(s.hdr[s.hn:], p)
		s.hn += n
		p = p[n:]
		if s.hn < len(s.hdr) {
			return true
		}
		s.hn = 0
		h := frameHeader{
			length:   uint32(s.hdr[0])<<16 | uint32(s.hdr[1])<<8 | uint32(s.hdr[2]),
			typ:      s.hdr[3],
			flags:    s.hdr[4],
			streamID: binary.BigEndian.Uint32(s.hdr[5:]) & 0x7fffffff,
		}
		s.skip = int(h.length)
		if !on(h) {
			return false
		}
	}
	return true
}
