package persistence_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// receiver records what a listener tells it, wanting the notifications of
// one user.
type receiver struct {
	want     int64
	received chan persistence.Notification
	missed   chan struct{}
	stopped  chan struct{}
	once     sync.Once
}

func newReceiver(want int64) *receiver {
	return &receiver{want: want, received: make(chan persistence.Notification, 100), missed: make(chan struct{}, 100),
		stopped: make(chan struct{})}
}

func (r *receiver) Wants(user int64) bool              { return user == r.want }
func (r *receiver) Receive(n persistence.Notification) { r.received <- n }
func (r *receiver) Missed()                            { r.missed <- struct{}{} }
func (r *receiver) Stopped()                           { r.once.Do(func() { close(r.stopped) }) }

// await returns what arrives on c within a few seconds, or fails the test.
func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5 s", what)
	}
	var zero T
	return zero
}

// TestListener listens for notifications: those of the user it wants
// arrive whole, the others are not read, a connection killed is made again
// (and the receiver told it may have missed some), and Run ends with its
// context.
func TestListener(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ms := members(t, s, "ann", "bob", "cid")
	ann, bob, cid := ms[0], ms[1], ms[2]
	r := newReceiver(ann.id)
	errs := make(chan error, 100)
	l := persistence.NewListener(pool.Config().ConnConfig, func(err error) { errs <- err })
	l.Attach(r)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	await(t, r.missed, "first connection")
	if !l.Listening() {
		t.Error("not Listening after the first connection")
	}

	follow := func(follower, followed int64) {
		exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, follower, followed)
	}
	follow(ann.id, cid.id) // not wanted
	follow(bob.id, ann.id)
	if n := await(t, r.received, "notification"); n.Recipient != ann.id || n.Type != "follow" || n.Actor.ID != bob.id ||
		n.Actor.Username != "bob" || n.Read {
		t.Errorf("received %+v, want bob's follow of ann", n)
	}
	killListener(t, pool)
	await(t, errs, "report of the lost connection")
	await(t, r.missed, "reconnection")
	if !l.Listening() {
		t.Error("not Listening after the reconnection")
	}
	follow(cid.id, ann.id)
	if n := await(t, r.received, "notification after the reconnection"); n.Actor.ID != cid.id {
		t.Errorf("received %+v after the reconnection, want cid's follow", n)
	}
	select {
	case n := <-r.received:
		t.Errorf("received %+v, which is not ann's", n)
	default:
	}
	cancel()
	await(t, r.stopped, "stop")
	<-done
	if l.Listening() {
		t.Error("Listening after Run ended")
	}
}

// killListener ends the listener's connection from the server's side.
func killListener(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var killed int
	err := pool.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'microblog notifications' AND datname = current_database()) k`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("killed %d listeners: %v", killed, err)
	}
}
