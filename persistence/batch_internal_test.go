package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchAuthors registers n users and logs each in, returning their ids
// and the hashes of their tokens.
func batchAuthors(t *testing.T, s *Store, n int) ([]int64, [][32]byte) {
	t.Helper()
	var (
		ids    []int64
		hashes [][32]byte
	)
	for i := range n {
		name := fmt.Sprintf("author%d", i)
		u, err := s.CreateUser(t.Context(), NewUser{Username: name, Email: name + "@example.com", Password: "a-password"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Login(t.Context(), name, "a-password", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ids, hashes = append(ids, u.ID), append(hashes, tokenHash(tok.Value))
	}
	return ids, hashes
}

// TestABatchIsOneStatement writes six posts of two authors and one of a
// token that is not live in one batch: the six are one transaction, each
// with its own id, its author and the author as caller, each author's
// post_count moved by their posts, and the seventh post fails alone with
// ErrInvalidToken.
func TestABatchIsOneStatement(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	ids, hashes := batchAuthors(t, s, 2)
	var batch []*batchedPost
	for i := range 6 {
		batch = append(batch, &batchedPost{hash: hashes[i%2], body: fmt.Sprintf("post %d", i), done: make(chan struct{})})
	}
	dead := &batchedPost{hash: tokenHash("no such token"), body: "lost", done: make(chan struct{})}
	batch = append(batch[:3], append([]*batchedPost{dead}, batch[3:]...)...)
	s.writeBatch(batch)

	postIDs := map[int64]bool{}
	for _, bp := range batch {
		<-bp.done
		if bp == dead {
			if !errors.Is(bp.err, ErrInvalidToken) || bp.result.Post.ID != 0 {
				t.Errorf("a post of a dead token: %+v, %v; want ErrInvalidToken", bp.result, bp.err)
			}
			continue
		}
		p, c := bp.result.Post, bp.result.Caller
		if bp.err != nil || p.Body != bp.body || p.Author.ID != c.ID || postIDs[p.ID] {
			t.Errorf("%q: %+v, %v", bp.body, bp.result, bp.err)
		}
		want := ids[0]
		if bp.hash == hashes[1] {
			want = ids[1]
		}
		if c.ID != want {
			t.Errorf("%q was written by %d, want %d", bp.body, c.ID, want)
		}
		postIDs[p.ID] = true
	}
	var transactions, ann, bob int64
	err := pool.QueryRow(t.Context(), `SELECT (SELECT count(DISTINCT xmin::text) FROM posts),
		(SELECT post_count FROM users WHERE id = $1), (SELECT post_count FROM users WHERE id = $2)`,
		ids[0], ids[1]).Scan(&transactions, &ann, &bob)
	if err != nil {
		t.Fatal(err)
	}
	if transactions != 1 || ann != 3 || bob != 3 {
		t.Errorf("6 posts in %d transactions, post_count %d and %d; want 1 transaction, 3 and 3", transactions, ann, bob)
	}
}

// TestAFailedBatchWritesAlone: a post the database refuses (longer than
// 140 characters, which the API never sends) fails a batch as a whole; its
// posts are then written alone, through CreatePost, and only it fails.
func TestAFailedBatchWritesAlone(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	_, hashes := batchAuthors(t, s, 1)
	long := strings.Repeat("x", 141)
	batch := []*batchedPost{{hash: hashes[0], body: "fine"}, {hash: hashes[0], body: long}}
	for _, bp := range batch {
		bp.done = make(chan struct{})
	}
	s.writeBatch(batch)
	for _, bp := range batch {
		if !errors.Is(bp.err, errAlone) {
			t.Errorf("%.10q in a failed batch: %v, want errAlone", bp.body, bp.err)
		}
	}

	// Through CreatePost: the token's use is recorded by a first post
	// alone, so that the next ones may go together.
	tok, err := s.Login(t.Context(), "author0", "a-password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePost(t.Context(), tok.Value, "first", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			body := fmt.Sprintf("post %d", i)
			if i == 7 {
				body = long
			}
			_, errs[i] = s.CreatePost(t.Context(), tok.Value, body, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) || errors.Is(err, errAlone) {
			t.Errorf("post %d: %v", i, err)
		}
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT post_count FROM users WHERE username = 'author0'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 16 {
		t.Errorf("post_count %d, want 16 (the first and 15 of 16)", n)
	}
}

// TestAStalledBatchLetsOthersBy holds the row of one author, whose post
// then waits in the one statement running, and checks that a post of
// another author, which arrives meanwhile, is written in another statement
// while that one still waits.
func TestAStalledBatchLetsOthersBy(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	ids, _ := batchAuthors(t, s, 2)
	var tokens []string
	for i := range 2 {
		tok, err := s.Login(t.Context(), fmt.Sprintf("author%d", i), "a-password", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// A first post records the token's use, alone.
		if _, err := s.CreatePost(t.Context(), tok.Value, "first", nil); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok.Value)
	}
	blocker, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(t.Context())
	if _, err := blocker.Exec(t.Context(), `SELECT FROM users WHERE id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}
	stalled := make(chan error, 1)
	go func() {
		_, err := s.CreatePost(t.Context(), tokens[0], "stalled", nil)
		stalled <- err
	}()
	for waiting := 0; waiting == 0; time.Sleep(10 * time.Millisecond) {
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'WITH r AS%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * postBatchStall)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.CreatePost(ctx, tokens[1], "by", nil); err != nil {
		t.Errorf("a post of another author, while a statement waits: %v", err)
	}
	select {
	case err := <-stalled:
		t.Fatalf("the stalled post returned while its author's row was held: %v", err)
	default:
	}
	if err := blocker.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-stalled; err != nil {
		t.Errorf("the stalled post, once the row was let go: %v", err)
	}
}
