package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"microblog/persistence"
	"microblog/persistence/mail/mailtest"
)

var reset = persistence.Mail{To: "susan@example.com", Subject: "Reset your password", Text: "Your token: abc\nBye.\n"}

func TestSMTPDelivers(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m, err := NewSMTP(srv.URL(), "Microblog <noreply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), reset); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if got.From != "noreply@example.com" || len(got.To) != 1 || got.To[0] != reset.To || got.Subject != reset.Subject {
		t.Errorf("envelope and subject: %+v", got)
	}
	if got.Body != reset.Text || got.Header.Get("Message-Id") == "" || got.Header.Get("Date") == "" {
		t.Errorf("body %q, headers %v", got.Body, got.Header)
	}
	if got.TLS {
		t.Error("TLS without the server offering it")
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "mb", Password: "s3cret"})
	m, err := NewSMTP(srv.URL(), "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m.opts = append(m.opts, gomail.WithTLSConfig(&tls.Config{RootCAs: srv.Roots, ServerName: "127.0.0.1"}))
	if err := m.Send(context.Background(), reset); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if !got.TLS || got.User != "mb" {
		t.Errorf("TLS %v, user %q: want STARTTLS, then AUTH as mb", got.TLS, got.User)
	}

	wrong, err := NewSMTP("smtp://mb:wrong@"+srv.Addr, "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wrong.opts = append(wrong.opts, gomail.WithTLSConfig(&tls.Config{RootCAs: srv.Roots, ServerName: "127.0.0.1"}))
	if err := wrong.Send(context.Background(), reset); err == nil {
		t.Error("sent with the wrong password")
	}
}

func TestSMTPFailures(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	srv.Refuse(true)
	m, err := NewSMTP(srv.URL(), "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), reset); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("refused: %v, want the server's 451", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	m, err = NewSMTP("smtp://"+down, "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), reset); err == nil {
		t.Error("sent to a server that is down")
	}
}

func TestNewSMTPRefusesBadSettings(t *testing.T) {
	for _, u := range []string{"", "localhost:25", "http://localhost", "smtp://", "smtp://host:0", "smtp://host:70000", "smtp://host/path", "smtp://host:x"} {
		if _, err := NewSMTP(u, "noreply@example.com"); err == nil {
			t.Errorf("NewSMTP(%q) accepted", u)
		}
	}
	for _, from := range []string{"", "not an address", "a@b\r\nBcc: x@y"} {
		if _, err := NewSMTP("smtp://localhost", from); err == nil {
			t.Errorf("--mail-from %q accepted", from)
		}
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	var log bytes.Buffer
	o, err := NewOutbox(dir, "noreply@example.com", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Send(context.Background(), reset); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("outbox holds %d files, want 2 mails", len(entries))
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("outbox mode %v, want 0700", info.Mode().Perm())
	}
	for _, e := range entries {
		info, _ := e.Info()
		if !strings.HasSuffix(e.Name(), ".eml") || info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want a 0600 .eml file", e.Name(), info.Mode().Perm())
		}
		f, _ := os.Open(filepath.Join(dir, e.Name()))
		msg, err := netmail.ReadMessage(f)
		f.Close()
		if err != nil || msg.Header.Get("To") != "<susan@example.com>" || msg.Header.Get("Subject") != reset.Subject {
			t.Errorf("%s: %v, headers %v", e.Name(), err, msg.Header)
		}
		if !strings.Contains(log.String(), e.Name()) {
			t.Errorf("the log does not name %s:\n%s", e.Name(), log.String())
		}
	}
	if strings.Contains(log.String(), "abc") {
		t.Errorf("the log holds the mail's text:\n%s", log.String())
	}
}
