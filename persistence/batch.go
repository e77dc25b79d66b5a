package persistence

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Posts that arrive while others are being written are written together:
// one statement inserts them all, with the check of each one's token, so
// that the statement's and the commit's costs and each author's count
// (migration 00025) are paid once for them all. A post waits for no timer:
// it goes with the next statement that starts.
//
// One statement runs at a time, so that posts gather while it runs: POST
// post as one user on 16 connections wrote 4,283 posts a second, 7.2 a
// statement, with one; 3,453 (4.1 a statement) with two at a time, and
// 2,215 (2.4) with four, each statement waiting for the lock of the
// author's row that the one before holds until its commit. A statement
// that waits longer than postBatchStall (for the row of an author whose
// account is being deleted, say) lets the posts that arrive meanwhile
// start another, up to postBatchStatements at once.
//
// Only posts that reply to nothing, mention no one and have no hashtag
// are written together. The triggers of the others lock rows (of tags, of
// inboxes) in an order that holds within a post: two statements of
// several such posts could take them in opposite orders and deadlock.
const (
	postBatchMax        = 64
	postBatchStatements = 4
	postBatchStall      = 50 * time.Millisecond
	// postBatchTimeout bounds a batch's statement, which no one request's
	// context may cancel.
	postBatchTimeout = 30 * time.Second
)

// postBatcher collects the posts waiting for a statement.
type postBatcher struct {
	mu      sync.Mutex
	queue   []*batchedPost
	running int
	// started is when the last statement started.
	started time.Time
}

// errAlone is what a post of a batch that the database refused gets: it
// is then written alone, and fails, if it does, for its own reason.
var errAlone = errors.New("write the post alone")

// batchedPost is a post waiting in the batcher, and what became of it.
type batchedPost struct {
	hash   [sha256.Size]byte
	body   string
	done   chan struct{}
	result CallerPost
	err    error
}

// insertPosts writes the posts of a batch: $1 the hashes of their tokens,
// $2 the time, $3 their bodies. A post whose token is not live has no
// row. The token checks are read only (readOnlyCallerCTE): a post whose
// check records the token's use goes alone (CreatePost). The posts are
// inserted in the order of their authors, whose rows each locks in turn
// (migration 00025), so that two statements with the same authors take
// those locks in the same order.
var insertPosts = `WITH r AS (
		SELECT * FROM unnest($1::bytea[], $3::text[]) WITH ORDINALITY AS r (hash, body, i)
	), t AS (
		SELECT r.i, k.user_id, k.expires_at FROM r JOIN tokens k ON k.hash = r.hash AND k.expires_at > $2
	), ids AS MATERIALIZED (
		SELECT t.i, nextval(pg_get_serial_sequence('posts', 'id')) AS id FROM t ORDER BY t.i
	), seen AS (
		SELECT id, last_seen, version, changed_at FROM users WHERE false
	), p AS (
		INSERT INTO posts (id, author_id, body, created_at, updated_at, tags, mentions)
		OVERRIDING SYSTEM VALUE
		SELECT ids.id, t.user_id, r.body, $2, $2, '{}', '{}'
		FROM ids JOIN t USING (i) JOIN r USING (i)
		ORDER BY t.user_id
		RETURNING *
	)
	SELECT ids.i, ` + callerColumns + `, ` + postColumns("p") + `, ` + columnList("u", new(Author).columns()) + `, false
	FROM p JOIN ids ON ids.id = p.id JOIN t ON t.i = ids.i JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id`

// createPostInBatch writes a post that replies to nothing, mentions no one
// and has no hashtag, by the holder of the token of hash, with the posts
// that wait with it.
func (s *Store) createPostInBatch(ctx context.Context, hash [sha256.Size]byte, body string) (CallerPost, error) {
	bp := &batchedPost{hash: hash, body: body, done: make(chan struct{})}
	b := s.posts
	b.mu.Lock()
	b.queue = append(b.queue, bp)
	if b.running == 0 || (b.running < postBatchStatements && time.Since(b.started) > postBatchStall) {
		b.running++
		b.started = time.Now()
		go s.writeBatches()
	}
	b.mu.Unlock()
	select {
	case <-bp.done:
		return bp.result, bp.err
	case <-ctx.Done():
		return CallerPost{}, wrap("create post", ctx.Err())
	}
}

// writeBatches writes the waiting posts, a batch at a time, until none
// waits.
func (s *Store) writeBatches() {
	b := s.posts
	for {
		b.mu.Lock()
		n := min(len(b.queue), postBatchMax)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.started = time.Now()
		b.mu.Unlock()
		s.writeBatch(batch)
	}
}

// writeBatch writes batch in one statement and tells each of its posts
// what became of it.
func (s *Store) writeBatch(batch []*batchedPost) {
	defer func() {
		for _, bp := range batch {
			close(bp.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), postBatchTimeout)
	defer cancel()
	hashes, bodies := make([][]byte, len(batch)), make([]string, len(batch))
	for i, bp := range batch {
		hashes[i], bodies[i] = bp.hash[:], bp.body
	}
	number := s.readNumber()
	rows, err := s.pool.Query(ctx, insertPosts, hashes, s.now(), bodies)
	if err == nil {
		err = s.scanBatch(rows, batch, number)
	}
	// The database refused the statement, so none of it was written.
	var refused *pgconn.PgError
	alone := len(batch) > 1 && errors.As(err, &refused) && !unavailable(err)
	for _, bp := range batch {
		switch {
		case alone:
			bp.err = errAlone
		case err != nil:
			bp.err = wrap("create post", err)
		case bp.result.Post.ID == 0:
			bp.err = ErrInvalidToken
		}
	}
}

// scanBatch reads the rows of insertPosts into the results of batch, and
// remembers each caller as their token's check found them.
func (s *Store) scanBatch(rows pgx.Rows, batch []*batchedPost, number uint64) error {
	defer rows.Close()
	for rows.Next() {
		var (
			i int
			c caller
			p Post
		)
		if err := rows.Scan(append(append([]any{&i}, c.dests()...), p.dests()...)...); err != nil {
			return err
		}
		bp := batch[i-1]
		s.remember(bp.hash, &c, number)
		bp.result = CallerPost{Caller: c.user(), Post: p}
		bp.result.Post.Author = bp.result.Caller.author()
	}
	return rows.Err()
}
