package redisconn

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Dialer is go-redis's dialer type.
type Dialer = func(ctx context.Context, network, addr string) (net.Conn, error)

// noBreaker wraps dial so that go-redis's pool never sees a dial fail.
//
// go-redis's pool counts failed dials; from PoolSize of them on, it stops
// dialling and answers its last dial error, until a background probe
// (once a second) connects. After Redis comes back that is up to 1 s of
// cached "connection refused" answers from a server that is listening,
// and after a Sentinel switch, 503s naming the old master (0.6–0.9 s
// measured). noBreaker hands the pool a connection that fails its first
// read or write with the dial's error instead: the command fails as it
// would have (503, "dial tcp …: connection refused"), the pool drops
// that connection, and the next command dials again. A refused dial is
// one round trip of the loopback or the network, as cheap as before.
func noBreaker(dial Dialer) Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return failedConn{err: fmt.Errorf("%w", err)}, nil
		}
		return c, nil
	}
}

// failedConn is a connection whose dial failed: every read and write
// returns that error.
type failedConn struct{ err error }

func (c failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c failedConn) Close() error                     { return nil }
func (c failedConn) LocalAddr() net.Addr              { return noAddr{} }
func (c failedConn) RemoteAddr() net.Addr             { return noAddr{} }
func (c failedConn) SetDeadline(time.Time) error      { return nil }
func (c failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c failedConn) SetWriteDeadline(time.Time) error { return nil }

type noAddr struct{}

func (noAddr) Network() string { return "tcp" }
func (noAddr) String() string  { return "not connected" }
