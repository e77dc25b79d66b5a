package persistence_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// following follows the changes of pool's database until the test ends,
// and returns them once a look worked.
func following(t *testing.T, pool *pgxpool.Pool) *persistence.Changes {
	t.Helper()
	ch := persistence.NewChanges(pool, func(err error) { t.Logf("changes: %v", err) })
	stop := run(ch)
	t.Cleanup(stop)
	waitFor(t, "a look", func() bool { return ch.Trusted(time.Now()) })
	return ch
}

// run runs ch until stop is called.
func run(ch *persistence.Changes) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ch.Run(ctx) }()
	return sync.OnceFunc(func() { cancel(); <-done })
}

// waitFor waits up to five seconds for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5 s", what)
		}
	}
}

// TestChangesNameWhatChanged: each kind of write announces the topics of
// what it changed, and no other: what was read before it is untrue for
// those topics alone, once heard.
func TestChangesNameWhatChanged(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	ms := members(t, s, "ann", "bob")
	ann, bob := ms[0], ms[1]
	post, err := s.WritePost(t.Context(), bob.id, "hello")
	if err != nil {
		t.Fatal(err)
	}
	U, N, P := persistence.AllUsers, persistence.UserNames, persistence.AllPosts
	for _, tt := range []struct {
		name             string
		sql              string
		args             []any
		changed, unmoved []persistence.Topic
	}{
		{"an edit of about_me", `UPDATE users SET about_me = 'hi' WHERE username = 'ann'`, nil,
			[]persistence.Topic{persistence.UserTopic(ann.id), N}, []persistence.Topic{persistence.UserTopic(bob.id), U, P}},
		{"last_seen", `UPDATE users SET last_seen = now() WHERE username = 'ann'`, nil,
			[]persistence.Topic{persistence.UserTopic(ann.id)}, []persistence.Topic{N, U, persistence.UserTopic(bob.id)}},
		{"a registration", `INSERT INTO users (username, email, password_hash, created_at, updated_at) VALUES ('cid', 'cid@example.com', 'x', now(), now())`, nil,
			[]persistence.Topic{U, N}, []persistence.Topic{persistence.UserTopic(ann.id), P}},
		{"a post", `INSERT INTO posts (author_id, body, created_at, updated_at) SELECT id, 'again', now(), now() FROM users WHERE username = 'ann'`, nil,
			[]persistence.Topic{persistence.PostsOf(ann.id), P}, []persistence.Topic{persistence.PostsOf(bob.id), N}},
		{"a follow", `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, []any{ann.id, bob.id},
			[]persistence.Topic{persistence.FollowsOf(ann.id), persistence.FollowersOf(bob.id), persistence.NotificationsOf(bob.id)},
			[]persistence.Topic{persistence.FollowsOf(bob.id), persistence.FollowersOf(ann.id), persistence.NotificationsOf(ann.id)}},
		{"a like", `INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, now())`, []any{post.ID, ann.id},
			[]persistence.Topic{persistence.LikesOf(ann.id), persistence.LikersOf(post.ID), persistence.PostsOf(bob.id)},
			[]persistence.Topic{persistence.LikesOf(bob.id), persistence.PostsOf(ann.id)}},
		{"a token's use", `UPDATE tokens SET last_used_at = now() WHERE user_id = $1`, []any{ann.id},
			nil, []persistence.Topic{persistence.TokensOf(ann.id)}},
		{"a logout", `DELETE FROM tokens WHERE user_id = $1`, []any{ann.id},
			[]persistence.Topic{persistence.TokensOf(ann.id)}, []persistence.Topic{persistence.TokensOf(bob.id)}},
	} {
		heard(t, ch)
		n := ch.Now()
		if _, err := pool.Exec(t.Context(), tt.sql, tt.args...); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		heard(t, ch)
		for _, topic := range tt.changed {
			if ch.Unchanged(n, topic) {
				t.Errorf("after %s, %v is unchanged", tt.name, topic)
			}
		}
		for _, topic := range tt.unmoved {
			if !ch.Unchanged(n, topic) {
				t.Errorf("after %s, %v changed", tt.name, topic)
			}
		}
	}

}

// TestChangesOfManyRows: a statement of more rows than a payload names
// changes everything.
func TestChangesOfManyRows(t *testing.T) {
	t.Parallel()
	_, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	n := ch.Now()
	exec(t, pool, `INSERT INTO users (username, email, password_hash, created_at, updated_at)
		SELECT 'user' || i, 'user' || i || '@example.com', 'x', now(), now() FROM generate_series(1, 500) i`)
	heard(t, ch)
	if ch.Unchanged(n) {
		t.Error("after a statement of 500 rows, what was read before is still true")
	}
}

// TestChangesOfAnUpdateOfManyUsers: an update of many users announces
// everything in time linear in its rows. The trigger used to compare each
// row with every other: 20,000 rows took minutes, past the timeout here.
func TestChangesOfAnUpdateOfManyUsers(t *testing.T) {
	t.Parallel()
	_, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	exec(t, pool, `INSERT INTO users (username, email, password_hash, created_at, updated_at)
		SELECT 'user' || i, 'user' || i || '@example.com', 'x', now(), now() FROM generate_series(1, 20000) i`)
	heard(t, ch)
	n := ch.Now()
	exec(t, pool, `SET statement_timeout = '10s'; UPDATE users SET following_count = 0`)
	heard(t, ch)
	if ch.Unchanged(n) {
		t.Error("after an update of 20,000 users, what was read before is still true")
	}
}

// heard waits until ch has read every change that committed before.
func heard(t *testing.T, ch *persistence.Changes) {
	t.Helper()
	since := time.Now()
	ch.AskLook()
	waitFor(t, "a look", func() bool { return ch.LookedSince(since) })
}

// TestChangesTrust: what is kept is trusted only while looks work, and a
// look asked for comes at once.
func TestChangesTrust(t *testing.T) {
	t.Parallel()
	_, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	wrote := time.Now()
	ch.AskLook()
	waitFor(t, "the look asked for after a write", func() bool { return ch.LookedSince(wrote) })
	if ch.Trusted(time.Now().Add(persistence.StaleAfter + 100*time.Millisecond)) {
		t.Error("trusted though the last look would be older than StaleAfter")
	}
}

// TestChangesOfLongTransactions: a change whose transaction was running
// when an instance looked is read once it commits, though changes of
// later transactions committed and were read before it.
func TestChangesOfLongTransactions(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	ms := members(t, s, "ann", "bob")
	ann, bob := ms[0], ms[1]
	n := ch.Now()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(t.Context(), `INSERT INTO posts (author_id, body, created_at, updated_at) VALUES ($1, 'slow', now(), now())`,
		ann.id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePost(t.Context(), bob.id, "quick"); err != nil {
		t.Fatal(err)
	}
	heard(t, ch)
	if ch.Unchanged(n, persistence.PostsOf(bob.id)) {
		t.Fatal("bob's post, committed, was not read")
	}
	if !ch.Unchanged(n, persistence.PostsOf(ann.id)) {
		t.Fatal("ann's post was read before its transaction committed")
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	heard(t, ch)
	if ch.Unchanged(n, persistence.PostsOf(ann.id)) {
		t.Error("ann's post, whose transaction was running at a look, was never read")
	}
}

// TestChangesAfterAGap: an instance that stopped looking for a while reads
// what committed meanwhile, and forgets nothing else; after a longer gap,
// when what committed may have been deleted, it trusts nothing it read
// before. Every instance deletes the changes that all have read.
func TestChangesAfterAGap(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ch := persistence.NewChanges(pool, func(err error) { t.Logf("changes: %v", err) })
	const keep = 2 * time.Second
	ch.KeepChangesFor(keep)
	stop := run(ch)
	t.Cleanup(func() { stop() })
	waitFor(t, "a look", func() bool { return ch.Trusted(time.Now()) })
	ms := members(t, s, "ann", "bob")
	ann, bob := ms[0], ms[1]
	heard(t, ch)

	n := ch.Now()
	stop()
	if _, err := s.WritePost(t.Context(), ann.id, "while deaf"); err != nil {
		t.Fatal(err)
	}
	stop = run(ch)
	heard(t, ch)
	if ch.Unchanged(n, persistence.PostsOf(ann.id)) {
		t.Error("a post written while the instance did not look was not read")
	}
	if !ch.Unchanged(n, persistence.PostsOf(bob.id)) {
		t.Error("a short gap made the instance forget what it had read")
	}

	waitFor(t, "the changes deleted", func() bool {
		var left int
		if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM changes").Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})

	n = ch.Now()
	stop()
	time.Sleep(keep/2 + 100*time.Millisecond)
	stop = run(ch)
	heard(t, ch)
	if ch.Unchanged(n, persistence.PostsOf(bob.id)) {
		t.Error("after a gap longer than half of keep, the instance trusts what it read before")
	}
}

// TestTokenUserFromMemory: a token that a statement checked is known
// without the database until it expires or a token of its user ends.
func TestTokenUserFromMemory(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	s.Watch(ch)
	now := time.Now()
	s.Now = func() time.Time { return now }
	ann := members(t, s, "ann")[0]
	if s.Token(ann.token).Live {
		t.Error("a token no statement checked is known")
	}
	if _, err := s.Authenticate(t.Context(), ann.token); err != nil {
		t.Fatal(err)
	}
	if st := s.Token(ann.token); !st.Live || st.User != ann.id {
		t.Errorf("after a check: %+v; want user %d", st, ann.id)
	}
	now = now.Add(2 * time.Hour)
	if s.Token(ann.token).Live {
		t.Error("an expired token is known")
	}
	now = now.Add(-2 * time.Hour)
	other, err := s.Login(t.Context(), "ann", "pw-of-ann", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(t.Context(), other.Value); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation", func() bool { return !s.Token(ann.token).Live })
}

// TestChangesReportAnOutageOnce: while the database is away every look
// fails, ten a second, and the first failure alone is reported.
func TestChangesReportAnOutageOnce(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/nothing?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var reports atomic.Int32
	ch := persistence.NewChanges(pool, func(error) { reports.Add(1) })
	stop := run(ch)
	time.Sleep(500 * time.Millisecond)
	stop()
	if n := reports.Load(); n != 1 || ch.Trusted(time.Now()) {
		t.Errorf("half a second without a database: %d reports, want 1; trusted %v", n, ch.Trusted(time.Now()))
	}
}
