package persistence

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"microblog/persistence/pgtest"
)

// NewTestStore returns a store over a fresh migrated database, with cheap
// password hashing, and its pool: for the tests of this package and of
// persistence_test. configure, if any, may change the pool's settings.
func NewTestStore(t testing.TB, configure ...func(*pgxpool.Config)) (*Store, *pgxpool.Pool) {
	t.Helper()
	return NewTestStoreAt(t, pgtest.New(t), configure...)
}

// NewTestStoreAt is NewTestStore over the database at url, which several
// stores may share, as several instances of the server do.
func NewTestStoreAt(t testing.TB, url string, configure ...func(*pgxpool.Config)) (*Store, *pgxpool.Pool) {
	t.Helper()
	cfg, err := PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	hasher, err := NewHasher(&argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(pool, hasher), pool
}

// WithFeedBudget returns a copy of s whose feed merges per-author lists up
// to budget index entries: 0 makes it scan (but for an empty feed), a
// large budget makes it merge.
func (s *Store) WithFeedBudget(budget int64) *Store {
	c := *s
	c.feedBudget = budget
	return &c
}

// InsertJob queues a job, as the store's writes do theirs.
func (s *Store) InsertJob(ctx context.Context, args river.JobArgs) error {
	_, err := s.jobs.client.Insert(ctx, args, nil)
	return err
}

// Login is LoginFrom for a client that names itself nothing: what the
// tests of this package log in with.
func (s *Store) Login(ctx context.Context, username, password string, ttl time.Duration) (Token, error) {
	return s.LoginFrom(ctx, username, password, ttl, "")
}

// KeepChangesFor makes ch delete the changes d after their transaction
// ended, instead of keepChanges; it must be called before Run.
func (ch *Changes) KeepChangesFor(d time.Duration) { ch.keep = d }

var insertPostOf = `
	WITH p AS (
		INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
		VALUES ($1, $2, $3, $3, $4, ` + mentionIDs("$5") + `, $6)
		RETURNING *
	)
	SELECT ` + postAndAuthor("$1") + ` FROM p JOIN users a ON a.id = p.author_id`

// WritePost stores a post by author, as CreatePost does for the holder of
// a token: a fixture of the tests, which know users by id.
func (s *Store) WritePost(ctx context.Context, author int64, body string) (Post, error) {
	return s.readPost(ctx, "write post", insertPostOf, author, body, s.now(), tagsOf(body), Mentions(body), nil)
}

// WriteReply is WritePost in reply to post parent; ErrNotFound when there
// is no such post.
func (s *Store) WriteReply(ctx context.Context, author, parent int64, body string) (Post, error) {
	p, err := s.readPost(ctx, "write reply", insertPostOf, author, body, s.now(), tagsOf(body), Mentions(body), parent)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return Post{}, ErrNotFound
	}
	return p, err
}
