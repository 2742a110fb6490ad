package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// testSMTPServer is an in-process go-smtp server that records what it gets.
type testSMTPServer struct {
	port int

	user, pass string        // accepted credentials; empty: no AUTH required
	rcptErr    error         // returned by RCPT when set
	block      chan struct{} // when set, DATA waits for it to close

	mu   sync.Mutex
	msgs []receivedMail
	auth []string // "user:pass" of each AUTH PLAIN attempt
}

type receivedMail struct {
	helo string
	from string
	to   []string
	data []byte
	tls  bool
}

type smtpServerOpts struct {
	user, pass string
	rcptErr    error
	tlsConfig  *tls.Config // advertises STARTTLS (or, with implicit, serves SMTPS)
	implicit   bool
	host       string // listen address; default 127.0.0.1
	block      chan struct{}
}

func startSMTPServer(t *testing.T, o smtpServerOpts) *testSMTPServer {
	t.Helper()
	ts := &testSMTPServer{user: o.user, pass: o.pass, rcptErr: o.rcptErr, block: o.block}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &testSMTPSession{srv: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout = 5 * time.Second
	s.WriteTimeout = 5 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	addr := "127.0.0.1:0"
	if o.host != "" {
		addr = net.JoinHostPort(o.host, "0")
	}
	var l net.Listener
	var err error
	if o.implicit {
		l, err = tls.Listen("tcp", addr, o.tlsConfig)
	} else {
		s.TLSConfig = o.tlsConfig
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		if o.host != "" {
			t.Skipf("cannot listen on %s: %v", o.host, err)
		}
		t.Fatal(err)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		_ = l.Close() // Serve may not have registered l with s yet
		<-done
	})
	return ts
}

func (s *testSMTPServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.msgs...)
}

func (s *testSMTPServer) authAttempts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

type testSMTPSession struct {
	srv    *testSMTPServer
	conn   *gosmtp.Conn
	authed bool
	cur    receivedMail
}

func (s *testSMTPSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSMTPSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.srv.mu.Lock()
		s.srv.auth = append(s.srv.auth, user+":"+pass)
		s.srv.mu.Unlock()
		if user != s.srv.user || pass != s.srv.pass {
			return gosmtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *testSMTPSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.srv.user != "" && !s.authed {
		return gosmtp.ErrAuthRequired
	}
	s.cur = receivedMail{helo: s.conn.Hostname(), from: from}
	return nil
}

func (s *testSMTPSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *testSMTPSession) Data(r io.Reader) error {
	if s.srv.block != nil {
		<-s.srv.block
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *testSMTPSession) Reset()        { s.cur = receivedMail{} }
func (s *testSMTPSession) Logout() error { return nil }

// selfSignedTLS is a server TLS config for 127.0.0.1 and localhost.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

// freePort returns a local port with nothing listening on it.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
