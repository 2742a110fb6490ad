package grpcbounds

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestFixedFlowControlWindows: the server grants StreamWindow per stream
// (the 64 KiB message limit) and ConnWindow per connection
// and sends no bandwidth-estimation PING however many calls carry data
// (each would cost a frame each way per call).
func TestFixedFlowControlWindows(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions(1<<20, 0, nil)...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)

	conn, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fr := http2.NewFramer(conn, conn)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	const calls = 20
	for i := range calls {
		hbuf.Reset()
		for _, h := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.health.v1.Health/Check"}, {":authority", "otpd"},
			{"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		id := uint32(2*i + 1)
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		// An empty HealthCheckRequest: the 5-byte gRPC message header.
		if err := fr.WriteData(id, true, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
	}
	window, pings, ended, connGrant := uint32(0), 0, 0, uint32(0)
	for ended < calls {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d calls: %v", ended, calls, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				window = v
			}
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 && connGrant == 0 {
				connGrant = f.Increment
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				ended++
			}
		}
	}
	if window != StreamWindow {
		t.Errorf("stream window %d, want %d", window, StreamWindow)
	}
	// The connection's window starts at HTTP/2's 65,535 bytes; the server
	// widens it to ConnWindow with its first WINDOW_UPDATE.
	if connGrant+65535 != ConnWindow {
		t.Errorf("connection window %d, want %d", connGrant+65535, ConnWindow)
	}
	if pings != 0 {
		t.Errorf("the server sent %d PINGs during %d calls, want none", pings, calls)
	}
}
