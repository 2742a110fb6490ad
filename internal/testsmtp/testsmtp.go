// Package testsmtp is an in-process SMTP server for tests: it accepts
// every message on a loopback port and keeps it for inspection.
package testsmtp

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Server records what it receives.
type Server struct {
	Host string
	Port int
	mu   sync.Mutex
	got  []Mail
}

// Start listens on 127.0.0.1 and stops with t.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Received returns the messages so far.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail{}, s.got...)
}

type session struct {
	s   *Server
	cur Mail
}

func (x *session) Mail(from string, _ *gosmtp.MailOptions) error { x.cur.From = from; return nil }
func (x *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	x.cur.To = append(x.cur.To, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.cur.Data = b
	x.s.mu.Lock()
	x.s.got = append(x.s.got, x.cur)
	x.s.mu.Unlock()
	x.cur = Mail{}
	return nil
}
func (x *session) Reset()        { x.cur = Mail{} }
func (x *session) Logout() error { return nil }
