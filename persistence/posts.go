package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Post is a post with the part of its author that a post shows.
type Post struct {
	ID        int64
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts the post's changes; ChangedAt is when the last was.
	Version   int64
	ChangedAt time.Time
	Author    Author
}

// Author is the part of a user that is embedded in their posts, with the
// version and time of the user's last change as the read saw them.
type Author struct {
	ID        int64
	Username  string
	Email     string
	Version   int64
	ChangedAt time.Time
}

// postColumns are the columns scanPost reads, in its order, from a post p
// and its author a.
const postColumns = `p.id, p.body, p.created_at, p.updated_at, p.version, p.changed_at,
	a.id, a.username, a.email, a.version, a.changed_at`

func scanPost(row pgx.Row, p *Post) error {
	return row.Scan(&p.ID, &p.Body, &p.CreatedAt, &p.UpdatedAt, &p.Version, &p.ChangedAt,
		&p.Author.ID, &p.Author.Username, &p.Author.Email, &p.Author.Version, &p.Author.ChangedAt)
}

const insertPost = `
	WITH p AS (
		INSERT INTO posts (author_id, body, created_at, updated_at) VALUES ($1, $2, $3, $3)
		RETURNING *
	)
	SELECT ` + postColumns + ` FROM p JOIN users a ON a.id = p.author_id`

// CreatePost stores a post by author.
func (s *Store) CreatePost(ctx context.Context, author int64, body string) (Post, error) {
	var p Post
	if err := scanPost(s.pool.QueryRow(ctx, insertPost, author, body, s.now()), &p); err != nil {
		return Post{}, wrap("create post", err)
	}
	return p, nil
}

const selectPost = `SELECT ` + postColumns + ` FROM posts p JOIN users a ON a.id = p.author_id WHERE p.id = $1`

// Post returns the post with the given id, or ErrNotFound.
func (s *Store) Post(ctx context.Context, id int64) (Post, error) {
	var p Post
	err := scanPost(s.pool.QueryRow(ctx, selectPost, id), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, ErrNotFound
	}
	if err != nil {
		return Post{}, wrap(fmt.Sprintf("post %d", id), err)
	}
	return p, nil
}

const updatePost = `
	WITH p AS (
		UPDATE posts SET body = $3, updated_at = $4
		WHERE id = $1 AND author_id = $2 AND ($5::bigint IS NULL OR version = $5)
		RETURNING *
	)
	SELECT ` + postColumns + ` FROM p JOIN users a ON a.id = p.author_id`

// UpdatePost sets the body of post id, which author must have written. It
// returns ErrNotFound when there is no such post, ErrForbidden when someone
// else wrote it, and, when version is set, ErrStale when the post is no
// longer at that version.
func (s *Store) UpdatePost(ctx context.Context, id, author int64, body string, version *int64) (Post, error) {
	var p Post
	err := scanPost(s.pool.QueryRow(ctx, updatePost, id, author, body, s.now(), version), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, s.whyNotYours(ctx, id, author)
	}
	if err != nil {
		return Post{}, wrap(fmt.Sprintf("update post %d", id), err)
	}
	return p, nil
}

const deletePost = `DELETE FROM posts WHERE id = $1 AND author_id = $2 AND ($3::bigint IS NULL OR version = $3)`

// DeletePost deletes post id, which author must have written, with the
// errors of UpdatePost.
func (s *Store) DeletePost(ctx context.Context, id, author int64, version *int64) error {
	tag, err := s.pool.Exec(ctx, deletePost, id, author, version)
	if err != nil {
		return wrap(fmt.Sprintf("delete post %d", id), err)
	}
	if tag.RowsAffected() == 0 {
		return s.whyNotYours(ctx, id, author)
	}
	return nil
}

// whyNotYours tells a write that touched no post whether the post is
// missing, someone else's, or changed since the version the write named.
// It costs a statement only on that error path.
func (s *Store) whyNotYours(ctx context.Context, id, author int64) error {
	p, err := s.Post(ctx, id)
	switch {
	case err != nil:
		return err
	case p.Author.ID != author:
		return ErrForbidden
	}
	return ErrStale
}

// The post page queries return one row even when the page is empty, like
// the user page queries: the total and the cursor of the previous page
// joined with the page, then the post and its author. The author is a
// LATERAL lookup that LIMIT keeps from being flattened into a join: the
// statements run with generic plans, which reckon LIMIT $n at a tenth of
// the table, and would hash all users to join ten posts. A page asked for
// by number skips index entries from the nearer end of the list, as the
// user pages do.
const selectPosts = `
	SELECT t.total, pv.created_at, pv.id, ` + postColumns + `
	FROM (SELECT sum(n)::bigint AS total FROM totals WHERE name = 'posts') t
	LEFT JOIN (
		SELECT created_at, id FROM posts WHERE (created_at, id) >= ($3, $4)
		ORDER BY created_at, id LIMIT 1 OFFSET $1
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT id FROM posts WHERE (created_at, id) < ($3, $4) AND $2 <= t.total / 2
		 ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2)
		UNION ALL
		(SELECT id FROM posts WHERE $2 > t.total / 2 ORDER BY created_at, id
		 LIMIT greatest(least($1, t.total - least($2, t.total)), 0)
		 OFFSET greatest(t.total - least($2, t.total) - $1, 0))
	) k ON true
	LEFT JOIN LATERAL (SELECT * FROM posts WHERE id = k.id LIMIT 1) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY p.created_at DESC, p.id DESC`

// Posts returns a page of every post, newest first, and how many there are.
func (s *Store) Posts(ctx context.Context, pg Page) ([]Post, Listing, error) {
	at, after := pg.afterKey()
	return s.postPage(ctx, "posts", selectPosts, pg.Limit, pg.Offset, at, after)
}

const selectUserPosts = `
	SELECT o.post_count, pv.created_at, pv.id, ` + postColumns + `
	FROM users o
	LEFT JOIN LATERAL (
		SELECT created_at, id FROM posts WHERE author_id = o.id AND (created_at, id) >= ($4, $5)
		ORDER BY created_at, id LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT id FROM posts WHERE author_id = o.id AND (created_at, id) < ($4, $5) AND $3 <= o.post_count / 2
		 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3)
		UNION ALL
		(SELECT id FROM posts WHERE author_id = o.id AND $3 > o.post_count / 2 ORDER BY created_at, id
		 LIMIT greatest(least($2, o.post_count - least($3, o.post_count)), 0)
		 OFFSET greatest(o.post_count - least($3, o.post_count) - $2, 0))
	) k ON true
	LEFT JOIN LATERAL (SELECT * FROM posts WHERE id = k.id LIMIT 1) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	WHERE o.id = $1
	ORDER BY p.created_at DESC, p.id DESC`

// UserPosts returns a page of the posts of user id, newest first, and how
// many there are; ErrNotFound if there is no such user.
func (s *Store) UserPosts(ctx context.Context, id int64, pg Page) ([]Post, Listing, error) {
	at, after := pg.afterKey()
	return s.postPage(ctx, fmt.Sprintf("posts of %d", id), selectUserPosts, id, pg.Limit, pg.Offset, at, after)
}

// feedTotal is the number of posts in the feed of $1: the sum of the post
// counts of the user and their followees, read from user rows, so that it
// costs one row per followee and no scan of their posts.
const feedTotal = `
	SELECT (SELECT post_count FROM users WHERE id = $1) + coalesce((
		SELECT sum(x.post_count) FROM follows f JOIN users x ON x.id = f.followed_id
		WHERE f.follower_id = $1), 0)::bigint AS total`

// selectFeed reads the posts index newest first and keeps the posts of the
// user and of their followees, whose ids it holds in a hash (PostgreSQL's
// hashed SubPlan): one index scan that stops at the end of the page. Its
// cost is the number of posts it passes over, small when followees post
// often; see selectFeedFew for the other case. The cursor of the previous
// page is found the same way, reading the index the other way.
const selectFeed = `
	SELECT t.total, pv.created_at, pv.id, ` + postColumns + `
	FROM (` + feedTotal + `) t
	LEFT JOIN (
		SELECT created_at, id FROM posts
		WHERE (author_id = $1 OR author_id IN (SELECT followed_id FROM follows WHERE follower_id = $1))
			AND (created_at, id) >= ($4, $5)
		ORDER BY created_at, id LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT * FROM posts
		WHERE (author_id = $1 OR author_id IN (SELECT followed_id FROM follows WHERE follower_id = $1))
			AND (created_at, id) < ($4, $5)
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
	) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY p.created_at DESC, p.id DESC`

// selectFeedFew takes the newest posts of each of the few authors of a
// feed from the author index and merges them: it reads at most
// (followees + 1) * (offset + limit) index entries, whatever the rest of
// the posts table holds, and as many again for the previous page's cursor.
const selectFeedFew = `
	WITH f AS (SELECT followed_id AS author FROM follows WHERE follower_id = $1 UNION ALL SELECT $1)
	SELECT t.total, pv.created_at, pv.id, ` + postColumns + `
	FROM (` + feedTotal + `) t
	LEFT JOIN (
		SELECT p.created_at, p.id FROM f
		CROSS JOIN LATERAL (
			SELECT created_at, id FROM posts WHERE author_id = f.author AND (created_at, id) >= ($4, $5)
			ORDER BY created_at, id LIMIT $2::bigint + 1
		) p
		ORDER BY p.created_at, p.id LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT p.* FROM f
		CROSS JOIN LATERAL (
			SELECT * FROM posts WHERE author_id = f.author AND (created_at, id) < ($4, $5)
			ORDER BY created_at DESC, id DESC LIMIT $2::bigint + $3::bigint
		) p
		ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3
	) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY p.created_at DESC, p.id DESC`

// feedFewBudget is the number of index entries up to which the feed merges
// per-author lists rather than scanning all posts newest first.
const feedFewBudget = 2000

// Feed returns a page of the posts of user id, who follows following
// users, and of the users they follow, newest first, and how many there
// are. Of its two plans it takes the per-author merge when that reads few
// entries (a user who follows few people, or a shallow page), else the
// scan of all posts newest first, which is short when followees are active.
func (s *Store) Feed(ctx context.Context, id, following int64, pg Page) ([]Post, Listing, error) {
	query := selectFeed
	if pg.Offset <= feedFewBudget && (following+1)*(pg.Offset+pg.Limit) <= feedFewBudget {
		query = selectFeedFew
	}
	at, after := pg.afterKey()
	return s.postPage(ctx, fmt.Sprintf("feed of %d", id), query, id, pg.Limit, pg.Offset, at, after)
}

// postPage runs a page query with the columns described above selectPosts;
// those of the post are all NULL when the page is empty. No row at all
// means the owner of the list does not exist.
func (s *Store) postPage(ctx context.Context, op, query string, args ...any) ([]Post, Listing, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, Listing{}, wrap(op, err)
	}
	defer rows.Close()
	var (
		posts  []Post
		list   Listing
		found  bool
		prevAt *time.Time
		prevID *int64
	)
	for rows.Next() {
		found = true
		var (
			id, authorID, version, authorVersion *int64
			body, username, email                *string
			created, updated, changed            *time.Time
			authorChanged                        *time.Time
		)
		if err := rows.Scan(&list.Total, &prevAt, &prevID, &id, &body, &created, &updated, &version, &changed,
			&authorID, &username, &email, &authorVersion, &authorChanged); err != nil {
			return nil, Listing{}, wrap(op, err)
		}
		if id == nil {
			continue
		}
		posts = append(posts, Post{ID: *id, Body: *body, CreatedAt: *created, UpdatedAt: *updated,
			Version: *version, ChangedAt: *changed,
			Author: Author{ID: *authorID, Username: *username, Email: *email, Version: *authorVersion, ChangedAt: *authorChanged}})
	}
	if err := rows.Err(); err != nil {
		return nil, Listing{}, wrap(op, err)
	}
	if !found {
		return nil, Listing{}, ErrNotFound
	}
	// The previous cursor is the same in every row.
	list.Prev = cursorOf(prevAt, prevID)
	if n := len(posts); n > 0 {
		list.Next = &Cursor{At: posts[n-1].CreatedAt, ID: posts[n-1].ID}
	}
	return posts, list, nil
}

const selectCallerAndProfile = callerCTE + `
	SELECT ` + callerColumns + `, ` + listedColumns + `,
	       v.yes IS NOT NULL,
	       p.id, p.body, p.created_at, p.updated_at, p.version, p.changed_at
	` + callerFrom + `
	LEFT JOIN users x ON x.id = coalesce($3, u.id)
	LEFT JOIN LATERAL (
		SELECT * FROM posts WHERE author_id = x.id ORDER BY created_at DESC, id DESC LIMIT 5
	) p ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY p.created_at DESC, p.id DESC`

// Profile returns the user holding token, and user id as they see it with
// its five newest posts, in one statement; ErrNotFound if there is no such
// user. An id of 0 stands for the caller.
func (s *Store) Profile(ctx context.Context, token string, id int64) (caller, u User, posts []Post, err error) {
	var (
		target                    *int64
		l                         listedUser
		postID, version           *int64
		body                      *string
		created, updated, changed *time.Time
	)
	if id != 0 {
		target = &id
	}
	dests := append(l.columns(), &l.isFollowing, &postID, &body, &created, &updated, &version, &changed)
	caller, err = s.callerRows(ctx, fmt.Sprintf("profile of %d", id), selectCallerAndProfile, token, []any{target}, dests, func() {
		if postID != nil {
			posts = append(posts, Post{ID: *postID, Body: *body, CreatedAt: *created, UpdatedAt: *updated,
				Version: *version, ChangedAt: *changed})
		}
	})
	if err != nil {
		return User{}, User{}, nil, err
	}
	u, ok := l.user()
	if !ok {
		return caller, User{}, nil, ErrNotFound
	}
	if u.ID == caller.ID {
		// The row read for the user predates this request's last_seen.
		u.LastSeen, u.Version, u.ChangedAt = caller.LastSeen, caller.Version, caller.ChangedAt
	}
	for i := range posts {
		posts[i].Author = Author{ID: u.ID, Username: u.Username, Email: u.Email, Version: u.Version, ChangedAt: u.ChangedAt}
	}
	return caller, u, posts, nil
}

const selectPostVersion = `
	SELECT p.version, p.changed_at, a.id, a.username, a.email, a.version, a.changed_at
	FROM posts p JOIN users a ON a.id = p.author_id WHERE p.id = $1`

// PostVersion returns what the validators of post id are made of, its
// version and its author's name and address, without its body;
// ErrNotFound if there is no such post.
func (s *Store) PostVersion(ctx context.Context, id int64) (Post, error) {
	p := Post{ID: id}
	err := s.pool.QueryRow(ctx, selectPostVersion, id).Scan(&p.Version, &p.ChangedAt,
		&p.Author.ID, &p.Author.Username, &p.Author.Email, &p.Author.Version, &p.Author.ChangedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, ErrNotFound
	}
	if err != nil {
		return Post{}, wrap(fmt.Sprintf("version of post %d", id), err)
	}
	return p, nil
}

const selectNewestPosts = `
	SELECT ` + postColumns + `
	FROM posts p JOIN users a ON a.id = p.author_id
	WHERE p.author_id = $1
	ORDER BY p.created_at DESC, p.id DESC
	LIMIT 5`

// NewestPosts returns the five newest posts of user id, for a
// representation of a user whose row is already at hand.
func (s *Store) NewestPosts(ctx context.Context, id int64) ([]Post, error) {
	rows, err := s.pool.Query(ctx, selectNewestPosts, id)
	if err != nil {
		return nil, wrap(fmt.Sprintf("newest posts of %d", id), err)
	}
	posts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Post, error) {
		var p Post
		return p, scanPost(row, &p)
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("newest posts of %d", id), err)
	}
	return posts, nil
}
