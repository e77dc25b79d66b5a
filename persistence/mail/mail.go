// Package mail delivers the server's mails (persistence.Mail): over SMTP
// with wneessen/go-mail, a maintained client that speaks STARTTLS and SMTP
// AUTH, or, where no SMTP server is set, as .eml files in an outbox
// directory for the operator to read.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"microblog/persistence"
)

// sendTimeout bounds one delivery: connecting, the SMTP dialogue and the
// data. A job that runs out of it tries again later.
const sendTimeout = 30 * time.Second

// SMTP sends mail to one SMTP server.
type SMTP struct {
	host string
	opts []gomail.Option
	from string
}

// NewSMTP returns a mailer that sends as from through the server of
// rawURL: smtp://[user:password@]host[:port] (port 587 when not given;
// STARTTLS whenever the server offers it, and credentials, which are only
// sent over TLS or to a server on loopback) or smtps://... (TLS from the
// first byte, port 465).
func NewSMTP(rawURL, from string) (*SMTP, error) {
	if err := checkFrom(from); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("mail: the SMTP URL must be smtp://[user:password@]host[:port] or smtps://...")
	}
	port := 587
	opts := []gomail.Option{gomail.WithTimeout(sendTimeout), gomail.WithTLSPolicy(gomail.TLSOpportunistic)}
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, gomail.WithSSL())
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, errors.New("mail: the SMTP URL's port must be 1 to 65535")
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		password, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(password))
	}
	return &SMTP{host: u.Hostname(), opts: opts, from: from}, nil
}

// Send delivers m in one SMTP session.
func (s *SMTP) Send(ctx context.Context, m persistence.Mail) error {
	msg, err := message(s.from, m)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending to the SMTP server: %w", err)
	}
	return nil
}

// Outbox writes each mail as a file in a directory, for a server with no
// SMTP server to send to.
type Outbox struct {
	dir  string
	from string
	log  *slog.Logger
}

// NewOutbox returns a mailer that writes each mail, as from, to a new
// .eml file in dir, readable by this OS user only, and logs its path
// (never its content: a mail may hold a reset token).
func NewOutbox(dir, from string, log *slog.Logger) (*Outbox, error) {
	if err := checkFrom(from); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	return &Outbox{dir: dir, from: from, log: log}, nil
}

// Send writes m to a temporary file and renames it into place once it is
// on disk, so that a reader of the outbox never meets half a mail.
func (o *Outbox) Send(_ context.Context, m persistence.Mail) error {
	msg, err := message(o.from, m)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(o.dir, ".sending-*") // mode 0600
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, err = msg.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	random := strings.TrimPrefix(filepath.Base(f.Name()), ".sending-")
	name := filepath.Join(o.dir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+random+".eml")
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	o.log.Info("mail written to the outbox", "path", name)
	return nil
}

// message is m as a MIME message from from, dated now, with a message ID.
func message(from string, m persistence.Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// checkFrom says whether from is an address mail can be sent as.
func checkFrom(from string) error {
	if err := gomail.NewMsg().From(from); err != nil {
		return fmt.Errorf("mail: --mail-from %q is not an address: %w", from, err)
	}
	return nil
}
