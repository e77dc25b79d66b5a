package persistence_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// following runs a listener that follows the changes of pool's database,
// until the test ends, and returns them once a ping came back.
func following(t *testing.T, pool *pgxpool.Pool) *persistence.Changes {
	t.Helper()
	ch := persistence.NewChanges(pool)
	l := persistence.NewListener(pool.Config().ConnConfig, func(err error) { t.Logf("listener: %v", err) })
	l.Follow(ch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "a ping", func() bool { return ch.Trusted(time.Now()) })
	return ch
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
	post, err := s.CreatePost(t.Context(), bob.id, "hello")
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

// heard waits until ch has heard every change that committed before.
func heard(t *testing.T, ch *persistence.Changes) {
	t.Helper()
	since := time.Now()
	waitFor(t, "a ping", func() bool { return ch.HeardSince(since) })
}

// TestChangesTrust: what is kept is trusted only while pings come back,
// and not for what was read before the listener lost its connection; a
// ping asked for comes back.
func TestChangesTrust(t *testing.T) {
	t.Parallel()
	_, pool := persistence.NewTestStore(t)
	ch := following(t, pool)
	wrote := time.Now()
	ch.AskPing()
	waitFor(t, "the ping asked for after a write", func() bool { return ch.HeardSince(wrote) })
	if ch.Trusted(time.Now().Add(persistence.StaleAfter + 100*time.Millisecond)) {
		t.Error("trusted though the last ping heard would be older than StaleAfter")
	}
	n := ch.Now()
	killListener(t, pool)
	waitFor(t, "reconnection", func() bool { return !ch.Unchanged(n) })
	waitFor(t, "ping after the reconnection", func() bool { return ch.Trusted(time.Now()) })
	if ch.Unchanged(n) {
		t.Error("what was read before the connection was lost is trusted again")
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
