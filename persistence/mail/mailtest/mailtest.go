// Package mailtest runs a real SMTP server (emersion/go-smtp) in the test
// process, so that tests read the mails that the server under test sent,
// as a mail server received them.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one mail as the server received it.
type Message struct {
	From    string
	To      []string
	Header  mail.Header
	Body    string
	TLS     bool   // whether it came over STARTTLS
	User    string // who authenticated, if anyone
	Subject string
}

// Server is an SMTP server on a loopback port.
type Server struct {
	// Addr is host:port.
	Addr string
	// Roots trusts the server's certificate, when it offers STARTTLS.
	Roots *x509.CertPool

	srv      *smtp.Server
	user     string
	password string

	mu       sync.Mutex
	messages []Message
	refuse   bool
	arrived  chan struct{}
}

// Options say how the server behaves.
type Options struct {
	// STARTTLS makes the server offer STARTTLS with a certificate for
	// 127.0.0.1 that Roots trusts.
	STARTTLS bool
	// User and Password, when set, are the only credentials AUTH PLAIN
	// takes, and mail is refused without them.
	User, Password string
}

// Start starts a server on 127.0.0.1 and stops it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return StartOn(t, l, opts)
}

// StartOn starts a server that accepts on l, and stops it when t ends.
func StartOn(t testing.TB, l net.Listener, opts Options) *Server {
	t.Helper()
	s := &Server{Addr: l.Addr().String(), user: opts.User, password: opts.Password, arrived: make(chan struct{}, 1000)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	if opts.STARTTLS {
		cfg, roots, err := selfSigned()
		if err != nil {
			t.Fatal(err)
		}
		s.srv.TLSConfig, s.Roots = cfg, roots
	}
	go s.srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// URL is the smtp:// URL of the server, with its credentials if any.
func (s *Server) URL() string {
	if s.user != "" {
		return "smtp://" + s.user + ":" + s.password + "@" + s.Addr
	}
	return "smtp://" + s.Addr
}

// Refuse makes the server answer every mail with a temporary failure
// (451) while on is true.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// Messages returns the mails received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait waits up to timeout for the server to have received n mails, and
// returns them; it fails t if they do not come.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.Messages(); len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("the SMTP server received %d mails in %v, want %d", len(s.Messages()), timeout, n)
		}
	}
}

type session struct {
	server *Server
	conn   *smtp.Conn
	user   string
	msg    Message
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if ss.server.user == "" || user != ss.server.user || password != ss.server.password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.server.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.server.mu.Lock()
	refuse := ss.server.refuse
	ss.server.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.msg = Message{From: from, User: ss.user}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	_, ss.msg.TLS = ss.conn.TLSConnectionState()
	ss.msg.Header, ss.msg.Body = m.Header, strings.ReplaceAll(string(body), "\r\n", "\n")
	ss.msg.Subject = m.Header.Get("Subject")
	ss.server.mu.Lock()
	ss.server.messages = append(ss.server.messages, ss.msg)
	ss.server.mu.Unlock()
	select {
	case ss.server.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset() { ss.msg = Message{} }

func (ss *session) Logout() error { return nil }

// selfSigned returns a TLS configuration with a new certificate for
// 127.0.0.1 and a pool that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, errors.Join(errors.New("mailtest: certificate"), err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots, nil
}
