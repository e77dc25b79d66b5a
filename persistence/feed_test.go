package persistence_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// TestFeedPastTheEndReadsNoPosts asks both plans of the feed for pages
// past its end, and counts the scans of the posts table that PostgreSQL's
// statistics record: none, whatever the page number, where the scan plan
// used to read the whole table. A page inside the feed is the control: it
// does scan.
func TestFeedPastTheEndReadsNoPosts(t *testing.T) {
	t.Parallel()
	s, pool := singleConnectionStore(t)
	ctx := t.Context()
	seedFeed(t, s, pool)
	token := login(t, s, "u0")
	plans := map[string]*persistence.Store{"scan": s.WithFeedBudget(0), "merge": s.WithFeedBudget(1 << 20)}
	for name, st := range plans {
		for _, pg := range []persistence.Page{{Offset: 30, Limit: 10}, {Offset: 40, Limit: 10}, {Offset: 1990, Limit: 10}, {Offset: 1 << 62, Limit: 100}} {
			before := postScans(t, pool)
			_, page, err := st.Feed(ctx, token, pg)
			if err != nil {
				t.Fatal(err)
			}
			scans := postScans(t, pool) - before
			switch inside := pg.Offset < 40; {
			case page.Total != 40:
				t.Errorf("%s, page %+v: total %d, want 40", name, pg, page.Total)
			case inside && (len(page.Posts) != 10 || scans == 0):
				t.Errorf("%s, page %+v: %d posts after %d scans, want 10 after some", name, pg, len(page.Posts), scans)
			case !inside && (len(page.Posts) != 0 || scans != 0):
				t.Errorf("%s, page %+v past the end: %d posts after %d scans of posts, want none", name, pg, len(page.Posts), scans)
			}
		}
	}
}

// seedFeed creates six users, the first following the next three, and 60
// posts by all of them in turn, two at each instant so that the id breaks
// ties: 40 in the feed of the first, whose id comes first of those
// returned.
func seedFeed(t *testing.T, s *persistence.Store, pool *pgxpool.Pool) []int64 {
	t.Helper()
	ctx := t.Context()
	var ids []int64
	for i := range 6 {
		u, err := s.CreateUser(ctx, persistence.NewUser{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i), Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	for _, followed := range ids[1:4] {
		if _, err := s.Follow(ctx, ids[0], followed); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 60 {
		_, err := pool.Exec(ctx, `INSERT INTO posts (author_id, body, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
			ids[i%6], fmt.Sprintf("post %d", i), base.Add(time.Duration(i/2)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// singleConnectionStore returns a store over a fresh database through a
// pool of one connection, and the pool: what that connection did is all
// that the statistics postScans reads can hold.
func singleConnectionStore(t *testing.T) (*persistence.Store, *pgxpool.Pool) {
	t.Helper()
	return persistence.NewTestStore(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
}

// postScans is how many scans of the posts table, sequential or by an
// index, the statistics count so far. The connection reports what it did
// at the end of the statement that asks it to (pg_stat_force_next_flush),
// and the next statement reads the counts afresh.
func postScans(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	if _, err := pool.Exec(t.Context(), `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	var n int64
	err := pool.QueryRow(t.Context(), `
		SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'posts'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
