package persistence_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// lister reads a page of one list and gives the ids of its items.
type lister func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error)

// TestCursorPagesMatchOffsetPages walks every list forward by the cursor
// of each page's last item and back by the cursor of the previous page,
// and checks that each page is the one OFFSET gives for its number, with
// ties in the sort key, and that the totals are right.
func TestCursorPagesMatchOffsetPages(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ids, tokens := seedPagedLists(t, s, pool)
	for name, l := range pagedLists(s, ids, tokens) {
		for _, limit := range []int64{1, 3, 7, 100} {
			t.Run(fmt.Sprintf("%s by %d", name, limit), func(t *testing.T) {
				checkCursorWalk(t, l.list, limit, l.total)
			})
		}
	}
}

// seedPagedLists creates 13 users, the first following and followed by
// each of the others, and 40 posts by the first four in turn (41 written,
// one deleted), with ties in created_at. It returns the users' ids, oldest
// first, and a token for each of the first two, by id.
func seedPagedLists(t *testing.T, s *persistence.Store, pool *pgxpool.Pool) ([]int64, map[int64]string) {
	t.Helper()
	ctx := t.Context()
	var ids []int64
	for i := range 13 {
		u, err := s.CreateUser(ctx, persistence.NewUser{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i), Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Follows and posts two by two at the same instant, so that the id
	// breaks ties.
	for i, id := range ids[1:] {
		at := base.Add(time.Duration(i/2) * time.Minute)
		if _, err := pool.Exec(ctx, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, $3), ($2, $1, $3)`,
			id, ids[0], at); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 41 {
		if _, err := pool.Exec(ctx, `INSERT INTO posts (author_id, body, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
			ids[i%4], fmt.Sprintf("post %d", i), base.Add(time.Duration(i/2)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// One post gone, so that the posts total has been counted down too.
	if _, err := pool.Exec(ctx, `DELETE FROM posts WHERE body = 'post 40'`); err != nil {
		t.Fatal(err)
	}
	tokens := map[int64]string{}
	for _, i := range []int{0, 1} {
		tok, err := s.Login(ctx, fmt.Sprintf("u%d", i), "12345678", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[ids[i]] = tok.Value
	}
	return ids, tokens
}

// pagedList is one list to walk and the number of items it holds.
type pagedList struct {
	list  lister
	total int64
}

// pagedLists returns every paged list of what seedPagedLists wrote, read
// with its tokens, and the totals they must report.
func pagedLists(s *persistence.Store, ids []int64, tokens map[int64]string) map[string]pagedList {
	return map[string]pagedList{
		"users": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return userPageIDs(s.Users(ctx, tokens[ids[0]], p))
		}, 13},
		"followers": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return userPageIDs(s.Followers(ctx, tokens[ids[1]], ids[0], p))
		}, 12},
		"following": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return userPageIDs(s.Following(ctx, tokens[ids[1]], ids[0], p))
		}, 12},
		"posts": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return callerPostPageIDs(s.Posts(ctx, tokens[ids[0]], p))
		}, 40},
		"user posts": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return callerPostPageIDs(s.UserPosts(ctx, tokens[ids[0]], ids[1], p))
		}, 10},
		"feed, merged per author": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return callerPostPageIDs(s.WithFeedBudget(1<<20).Feed(ctx, tokens[ids[0]], p))
		}, 40},
		"feed, scanned newest first": {func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
			return callerPostPageIDs(s.WithFeedBudget(0).Feed(ctx, tokens[ids[0]], p))
		}, 40},
	}
}

// userPageIDs turns a page of users, and its error, into what a lister
// returns.
func userPageIDs(p persistence.UserPage, err error) ([]int64, persistence.Listing, error) {
	out := make([]int64, len(p.Users))
	for i, u := range p.Users {
		out[i] = u.ID
	}
	return out, p.Listing, err
}

// postPageIDs turns a page of posts, and its error, into what a lister
// returns.
func postPageIDs(p persistence.PostPage, err error) ([]int64, persistence.Listing, error) {
	return postIDs(p.Posts), p.Listing, err
}

// callerPostPageIDs is postPageIDs for the reads that check a token.
func callerPostPageIDs(_ persistence.User, p persistence.PostPage, err error) ([]int64, persistence.Listing, error) {
	return postPageIDs(p, err)
}

func checkCursorWalk(t *testing.T, list lister, limit, total int64) {
	ctx := t.Context()
	byOffset := func(page int64) []int64 {
		t.Helper()
		items, l, err := list(ctx, persistence.Page{Offset: (page - 1) * limit, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != total {
			t.Fatalf("page %d: total %d, want %d", page, l.Total, total)
		}
		return items
	}
	var all []int64
	var cursors []*persistence.Cursor // cursors[k]: what page k+2 starts after
	items, l, err := list(ctx, persistence.Page{Limit: limit})
	for page := int64(1); ; page++ {
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if want := byOffset(page); !slices.Equal(items, want) {
			t.Fatalf("page %d: %v by cursor, %v by offset", page, items, want)
		}
		if l.Total != total {
			t.Fatalf("page %d: total %d, want %d", page, l.Total, total)
		}
		if len(items) == 0 {
			if l.Next != nil {
				t.Errorf("page %d: empty, with a next cursor %+v", page, *l.Next)
			}
			break
		}
		all = append(all, items...)
		cursors = append(cursors, l.Next)
		items, l, err = list(ctx, persistence.Page{Limit: limit, After: l.Next})
		// Back from page+1 to page: its previous page starts after the
		// cursor that led to page, or at the start for page 1. (A page past
		// the end links back to the last page by number.)
		if err != nil || len(items) == 0 {
			continue
		}
		if page > 1 && (l.Prev == nil || *l.Prev != *cursors[page-2]) {
			t.Errorf("page %d: prev cursor %v, want %+v", page+1, l.Prev, *cursors[page-2])
		}
		if page == 1 && l.Prev != nil {
			t.Errorf("page 2: prev cursor %+v, want none (page 1 is the start)", *l.Prev)
		}
	}
	if int64(len(all)) != total || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Errorf("walked %d items %v, want %d distinct", len(all), all, total)
	}
	// As far past the end as an offset goes: empty, and no overflow.
	if items, l, err := list(ctx, persistence.Page{Offset: math.MaxInt64, Limit: limit}); err != nil || len(items) != 0 || l.Total != total {
		t.Errorf("offset MaxInt64: %v, total %d, %v", items, l.Total, err)
	}
}
