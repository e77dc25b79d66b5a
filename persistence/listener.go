package persistence

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// notificationsChannel is where the commit of a notification announces it
// (migration 00011's notify): the payload is the recipient's id, a space,
// and the notification's id.
const notificationsChannel = "notifications"

// The waits of a listener between attempts to connect: the first failure
// of a connection that worked is tried again at once, the next after
// minReconnectWait, and each one after twice as long as the one before, up
// to maxReconnectWait, with up to half again at random, so that instances
// that lost one database do not all knock at once when it is back.
const (
	minReconnectWait = 100 * time.Millisecond
	maxReconnectWait = 10 * time.Second
)

// A Receiver is told what a Listener hears. The listener calls its methods
// from its own goroutine, one at a time; none may block.
type Receiver interface {
	// Wants reports whether the receiver has anyone to tell of user's
	// notifications: only those are read.
	Wants(user int64) bool
	// Receive takes a notification that has just committed. The
	// notifications of one user come in the order of their ids.
	Receive(n Notification)
	// Missed says that notifications may have committed unheard: the
	// listener was not listening, or could not read one it heard.
	Missed()
	// Stopped says that the listener has stopped for good.
	Stopped()
}

// Listener listens, on one connection of its own, for the notifications
// the database announces as they commit, reads those its Receiver wants,
// and passes them on. It reconnects by itself when the connection is lost
// or cannot be made, waiting longer after each failure, and after each
// (re)connection tells the receiver it may have missed some.
//
// It is github.com/jackc/pgxlisten, by the author of pgx, which connects,
// LISTENs, then calls the backlog handler (so that nothing that commits
// between the two is lost) and dispatches each notification; the listener
// adds the waits between attempts, which pgxlisten keeps constant.
type Listener struct {
	config   *pgx.ConnConfig
	report   func(error)
	receiver Receiver
	// failures counts the attempts to connect since the last connection
	// that worked; only Run's goroutine uses it.
	failures int
	// listening says whether the listener is listening: set once its
	// connection works, cleared when it connects again.
	listening atomic.Bool
}

// Listening reports whether the listener is listening now, rather than
// connecting, or waiting to connect again after a failure.
func (l *Listener) Listening() bool { return l.listening.Load() }

// listenerName is the application_name of a listener's connection, which
// tells it from the pool's in pg_stat_activity.
const listenerName = "microblog notifications"

// NewListener returns a listener that connects with config and reports
// the errors it recovers from (a lost connection, a failed attempt) to
// report, which may be nil.
func NewListener(config *pgx.ConnConfig, report func(error)) *Listener {
	if report == nil {
		report = func(error) {}
	}
	config = config.Copy()
	if _, set := config.RuntimeParams["application_name"]; !set {
		config.RuntimeParams["application_name"] = listenerName
	}
	return &Listener{config: config, report: report}
}

// Attach makes r the listener's receiver. It must be called before Run.
func (l *Listener) Attach(r Receiver) { l.receiver = r }

// Run listens until ctx ends, then tells the receiver it has stopped.
func (l *Listener) Run(ctx context.Context) {
	if l.receiver != nil {
		defer l.receiver.Stopped()
	}
	pl := &pgxlisten.Listener{
		Connect: l.connect,
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil { // not the end of Run
				l.report(err)
			}
		},
		// A negative delay leaves the waiting to connect.
		ReconnectDelay: -1,
	}
	pl.Handle(notificationsChannel, l)
	// With Connect and a handler set, Listen returns only when ctx ends.
	_ = pl.Listen(ctx)
	l.listening.Store(false)
}

// connect makes the listener's connection, after the wait that the
// failures since the last good connection call for.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	l.listening.Store(false)
	if l.failures > 0 {
		wait := min(minReconnectWait<<min(l.failures-1, 20), maxReconnectWait)
		wait += rand.N(wait/2 + 1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	l.failures++
	return pgx.ConnectConfig(ctx, l.config)
}

// HandleBacklog is called by pgxlisten each time the listener is
// listening: the connection works, and whatever committed while no one
// listened may have been missed.
func (l *Listener) HandleBacklog(context.Context, string, *pgx.Conn) error {
	l.failures = 0
	l.listening.Store(true)
	if l.receiver != nil {
		l.receiver.Missed()
	}
	return nil
}

// HandleNotification is called by pgxlisten with each notice: it reads
// the notification on the listener's connection if the receiver wants it.
func (l *Listener) HandleNotification(ctx context.Context, notice *pgconn.Notification, conn *pgx.Conn) error {
	recipient, id, err := parseNotice(notice.Payload)
	if err != nil {
		return err
	}
	if l.receiver == nil || !l.receiver.Wants(recipient) {
		return nil
	}
	n, err := readNotification(ctx, conn, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// Gone with its post, message or user since it committed.
		return nil
	case err != nil:
		l.receiver.Missed()
		return err
	}
	l.receiver.Receive(n)
	return nil
}

// parseNotice reads the payload of a notice: the recipient's id and the
// notification's.
func parseNotice(payload string) (recipient, id int64, err error) {
	r, n, ok := strings.Cut(payload, " ")
	recipient, errR := strconv.ParseInt(r, 10, 64)
	id, errN := strconv.ParseInt(n, 10, 64)
	if !ok || errR != nil || errN != nil {
		return 0, 0, fmt.Errorf("persistence: malformed notice %q on %s", payload, notificationsChannel)
	}
	return recipient, id, nil
}
