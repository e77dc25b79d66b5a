package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// Tags are the post's hashtags (Hashtags).
	Tags []string
	// ParentID is the post this one replies to, 0 for none (or one
	// deleted since).
	ParentID   int64
	ReplyCount int64
	LikeCount  int64
	// Liked says whether the viewer of a read likes the post.
	Liked bool
	// mentionIDs are the users the post mentioned when it was written or
	// last edited, and mentionNames their usernames now, "" for a user
	// who is gone.
	mentionIDs   []int64
	mentionNames []string
}

// Mention is a user a post mentions.
type Mention struct {
	ID       int64
	Username string
}

// Mentions are the users the post mentions who still exist, in the order
// the post names them.
func (p Post) Mentions() []Mention {
	var ms []Mention
	for i, id := range p.mentionIDs {
		if i < len(p.mentionNames) && p.mentionNames[i] != "" {
			ms = append(ms, Mention{ID: id, Username: p.mentionNames[i]})
		}
	}
	return ms
}

// columns are the columns of a post row and where a scan puts them.
func (p *Post) columns() []column {
	return []column{{name: "id", dest: int8Dest{&p.ID}}, {name: "body", dest: textDest{&p.Body}},
		{name: "created_at", dest: timeDest{&p.CreatedAt}}, {name: "updated_at", dest: timeDest{&p.UpdatedAt}},
		{name: "version", dest: int8Dest{&p.Version}}, {name: "changed_at", dest: timeDest{&p.ChangedAt}},
		{name: "tags", dest: &p.Tags}, {name: "mentions", dest: &p.mentionIDs},
		{name: "mention_names", dest: &p.mentionNames, expr: mentionedUsernames},
		{name: "parent_id", dest: int8Dest{&p.ParentID}}, {name: "reply_count", dest: int8Dest{&p.ReplyCount}},
		{name: "like_count", dest: int8Dest{&p.LikeCount}}}
}

// liked is whether the user whose id is viewer likes the post aliased
// alias; Post.dests reads it after the post and its author.
func liked(alias, viewer string) string {
	return `EXISTS (SELECT 1 FROM likes WHERE post_id = ` + alias + `.id AND user_id = ` + viewer + `)`
}

// mentionedUsernames is the usernames of the users the post aliased alias
// mentions, in order, "" for a user who is gone.
func mentionedUsernames(alias string) string {
	return `ARRAY(SELECT coalesce(m.username, '') FROM unnest(` + alias + `.mentions) WITH ORDINALITY AS n (id, i)
		LEFT JOIN users m ON m.id = n.id ORDER BY n.i)`
}

// mentionIDs is the ids of the users whose usernames, in any case, are in
// the text array param, in its order.
func mentionIDs(param string) string {
	return `ARRAY(SELECT u.id FROM unnest(` + param + `::text[]) WITH ORDINALITY AS n (name, i)
		JOIN users u ON lower(u.username) = lower(n.name) ORDER BY n.i)`
}

// Author is the part of a user that their posts show, with the version and
// time of the user's last change as the read saw them.
type Author struct {
	ID        int64
	Username  string
	Version   int64
	ChangedAt time.Time
}

// columns are the columns of the author of a post, from their user row.
func (a *Author) columns() []column {
	return []column{{name: "id", dest: int8Dest{&a.ID}}, {name: "username", dest: textDest{&a.Username}},
		{name: "version", dest: int8Dest{&a.Version}}, {name: "changed_at", dest: timeDest{&a.ChangedAt}}}
}

// author is u as the author of their posts.
func (u User) author() Author {
	return Author{ID: u.ID, Username: u.Username, Version: u.Version, ChangedAt: u.ChangedAt}
}

// postColumns is the select list of a post row aliased alias.
func postColumns(alias string) string { return columnList(alias, new(Post).columns()) }

// postAndAuthor is the select list of a post p, its author a and whether
// the user whose id is viewer (an expression) likes it, which Post.dests
// scans.
func postAndAuthor(viewer string) string {
	return postColumns("p") + ", " + columnList("a", new(Author).columns()) + ", " + liked("p", viewer)
}

// dests are the destinations of postAndAuthor.
func (p *Post) dests() []any {
	return append(dests(p.columns(), p.Author.columns()), boolDest{&p.Liked})
}

// readPost runs a statement that returns one row of postAndAuthor.
func (s *Store) readPost(ctx context.Context, op, query string, args ...any) (Post, error) {
	var p Post
	err := s.pool.QueryRow(ctx, query, args...).Scan(p.dests()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, ErrNotFound
	}
	if err != nil {
		return Post{}, wrap(op, err)
	}
	return p, nil
}

var insertPost = callerCTE + `, p AS (
		INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
		SELECT u.id, $3, $2, $2, $4, ` + mentionIDs("$5") + `, $6` + callerFrom + `
		RETURNING *
	)
	SELECT ` + callerColumns + `, ` + postColumns("p") + `, ` + columnList("u", new(Author).columns()) + `, false` +
	callerFrom + ` CROSS JOIN p`

// CreatePost stores a post by the user holding token, with its hashtags
// and the users it mentions, in one statement with the token check (its
// author is the caller, and no one likes it yet); in
// reply to post parent when parent is not nil, and then ErrNotFound when
// there is no such post. A post that replies to nothing, mentions no one
// and has no hashtag, whose token's check records nothing, is written with
// the posts that wait with it (batch.go).
func (s *Store) CreatePost(ctx context.Context, token, body string, parent *int64) (CallerPost, error) {
	tags, mentions, hash := tagsOf(body), Mentions(body), tokenHash(token)
	if parent == nil && len(tags) == 0 && len(mentions) == 0 && !s.seen.due(hash, s.now()) {
		cp, err := s.createPostInBatch(ctx, hash, body)
		if !errors.Is(err, errAlone) {
			return cp, err
		}
	}
	var (
		cp  CallerPost
		p   Post
		err error
	)
	cp.Caller, cp.Post, err = oneAsCaller(ctx, s, "create post", insertPost, token,
		[]any{body, tags, mentions, parent}, p.dests(), &p, &p.ID)
	var pgErr *pgconn.PgError
	if parent != nil && errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: no such parent
		return CallerPost{}, ErrNotFound
	}
	if err != nil {
		return CallerPost{}, err
	}
	// The author row read predates this request's last_seen.
	cp.Post.Author = cp.Caller.author()
	return cp, nil
}

// tagsOf is Hashtags(body), never nil: the tags of a post are an array,
// empty when there are none, not NULL.
func tagsOf(body string) []string {
	if tags := Hashtags(body); tags != nil {
		return tags
	}
	return []string{}
}

var selectPost = `SELECT ` + postAndAuthor("0") + ` FROM posts p JOIN users a ON a.id = p.author_id WHERE p.id = $1`

// Post returns the post with the given id, or ErrNotFound.
func (s *Store) Post(ctx context.Context, id int64) (Post, error) {
	return s.readPost(ctx, fmt.Sprintf("post %d", id), selectPost, id)
}

// CallerPost is a post as the holder of a token reads it.
type CallerPost struct {
	Caller User
	Post   Post
}

var selectCallerAndPost = callerCTE + `
	SELECT ` + callerColumns + `, ` + postAndAuthor("u.id") + callerFrom + `
	LEFT JOIN posts p ON p.id = $3
	LEFT JOIN users a ON a.id = p.author_id`

// PostFor returns the user holding token and post id, in one statement;
// ErrNotFound if there is no such post.
func (s *Store) PostFor(ctx context.Context, token string, id int64) (CallerPost, error) {
	var (
		cp  CallerPost
		p   Post
		err error
	)
	cp.Caller, cp.Post, err = oneAsCaller(ctx, s, fmt.Sprintf("post %d", id), selectCallerAndPost, token, []any{id},
		p.dests(), &p, &p.ID)
	if err != nil {
		return cp, err
	}
	if cp.Post.Author.ID == cp.Caller.ID {
		// The author row read predates this request's last_seen.
		cp.Post.Author = cp.Caller.author()
	}
	return cp, nil
}

var updatePost = `
	WITH p AS (
		UPDATE posts SET body = $3, updated_at = $4, tags = $6, mentions = ` + mentionIDs("$7") + `
		WHERE id = $1 AND author_id = $2 AND ($5::bigint IS NULL OR version = $5)
		RETURNING *
	)
	SELECT ` + postAndAuthor("$2") + ` FROM p JOIN users a ON a.id = p.author_id`

// UpdatePost sets the body of post id, which author must have written, and
// its hashtags and mentions with it. It
// returns ErrNotFound when there is no such post, ErrForbidden when someone
// else wrote it, and, when version is set, ErrStale when the post is no
// longer at that version.
func (s *Store) UpdatePost(ctx context.Context, id, author int64, body string, version *int64) (Post, error) {
	p, err := s.readPost(ctx, fmt.Sprintf("update post %d", id), updatePost, id, author, body, s.now(), version,
		tagsOf(body), Mentions(body))
	if errors.Is(err, ErrNotFound) {
		return Post{}, s.whyNotYours(ctx, id, author)
	}
	return p, err
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

// PostPage is a page of a list of posts.
type PostPage struct {
	Posts []Post
	Listing
}

// allPosts is the list of all posts, postsOf that of the posts of user o,
// newest first; feedKey is the feed's key, for Page.args.
var (
	allPosts = list{from: "posts", where: "true", at: "created_at", id: "id", total: "o.total"}
	postsOf  = list{from: "posts", where: "author_id = o.id", at: "created_at", id: "id", total: "o.post_count"}
	feedKey  = list{at: "created_at", id: "id"}
)

var (
	selectPosts = callerPostPageSQL(`
	CROSS JOIN (SELECT sum(n)::bigint AS total FROM totals WHERE name = 'posts') o`, allPosts, 3)
	selectUserPosts = callerPostPageSQL(`
	LEFT JOIN users o ON o.id = $3`, postsOf, 4)
)

// Posts returns the user holding token and a page of every post, newest
// first, as that user sees them, and how many there are.
func (s *Store) Posts(ctx context.Context, token string, pg Page) (User, PostPage, error) {
	return s.callerPostPage(ctx, "posts", selectPosts, token, allPosts, pg.args(allPosts)...)
}

// UserPosts returns the user holding token and a page of the posts of user
// id, newest first, as that user sees them, and how many there are;
// ErrNotFound if there is no such user.
func (s *Store) UserPosts(ctx context.Context, token string, id int64, pg Page) (User, PostPage, error) {
	return s.callerPostPage(ctx, fmt.Sprintf("posts of %d", id), selectUserPosts, token, postsOf,
		append([]any{id}, pg.args(postsOf)...)...)
}

// callerPostPageSQL is the statement of a page of the posts of l, whose
// owner o the join owner finds, with the check of the caller's token ($1
// at $2), as userPageSQL is for users. It returns one row even when the
// page is empty: the caller, the total and the cursor of the previous page
// joined with the page, then the post, its author and whether the caller
// likes it. The author is a LATERAL lookup that LIMIT keeps from being
// flattened into a join: the statements run with generic plans, which
// reckon LIMIT $n at a tenth of the table, and would hash all users to join
// ten posts.
func callerPostPageSQL(owner string, l list, first int) string {
	return callerCTE + `
	SELECT ` + callerColumns + `, ` + l.total + `, pv.at, pv.id, ` + postAndAuthor("u.id") + `
	` + callerFrom + owner + l.joins(first) + `
	LEFT JOIN LATERAL (SELECT * FROM posts WHERE id = k.id LIMIT 1) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY ` + l.order()
}

// callerPostPage runs a statement of callerPostPageSQL.
func (s *Store) callerPostPage(ctx context.Context, op, query, token string, l list, args ...any) (User, PostPage, error) {
	var (
		page   PostPage
		p      Post
		total  *int64
		prevAt *time.Time
		prevID *int64
	)
	dest := append([]any{&total, &prevAt, &prevID}, p.dests()...)
	caller, posts, err := collectAsCaller(ctx, s, query, token, args, dest, &p, &p.ID)
	if err != nil {
		return User{}, PostPage{}, wrap(op, err)
	}
	if total == nil {
		return caller, PostPage{}, ErrNotFound
	}
	page.Posts, page.Total, page.Prev = posts, *total, cursorOf(prevAt, prevID)
	if n := len(posts); n > 0 {
		page.Next = &Cursor{ID: posts[n-1].ID}
		if l.at != "" {
			page.Next.At = posts[n-1].CreatedAt
		}
	}
	return caller, page, nil
}

// feedTotal is the number of posts in the feed of the caller, me: the sum
// of the post counts of the user and their followees, read from user rows,
// so that it costs one row per followee and no scan of their posts.
const feedTotal = `
	SELECT (SELECT post_count FROM users WHERE id = (SELECT id FROM me)) + coalesce((
		SELECT sum(x.post_count) FROM follows f JOIN users x ON x.id = f.followed_id
		WHERE f.follower_id = (SELECT id FROM me)), 0)::bigint AS total`

// selectFeed reads a page of the feed of the holder of the token ($1 at
// $2), me, in one statement with the token check, by one of two plans,
// both clamped to the feed: $4 < total makes a page past its end the empty
// page without reading a post, and a page by number asks the scan for no
// more than the feed still holds, so that it stops at the feed's last post
// rather than at the end of the table. ft.few, which the statement decides
// from the caller's following count, the page and the total before reading
// any post, picks the plan; the other one is never run (a one-time filter).
//
//   - The scan reads the posts index newest first and keeps the posts of
//     the user and of their followees, whose ids it holds in a hash
//     (PostgreSQL's hashed SubPlan): one index scan that stops at the end
//     of the page. Its cost is the number of posts it passes over, small
//     when followees post often.
//   - The merge takes the newest posts of each author of the feed from the
//     author index and merges them: it reads at most the smaller of the
//     total and (followees + 1) * (offset + limit) index entries, whatever
//     the rest of the posts table holds. It is taken when that is at most
//     the budget $7, or the feed itself is that small. The CASE keeps the
//     product from being reckoned, and overflowing, for a deep offset.
//
// The cursor of the previous page is found the same way, reading the other
// way, and only after a cursor ($6 before infinity): a page by number has
// none to find. n is MATERIALIZED so that the total is summed once, not in
// each branch that tests it.
var selectFeed = callerCTE + `,
	me AS (SELECT user_id AS id FROM t),
	f AS (SELECT followed_id AS author FROM follows WHERE follower_id = (SELECT id FROM me) UNION ALL SELECT id FROM me),
	n AS MATERIALIZED (` + feedTotal + `),
	ft AS (
		SELECT n.total,
		       CASE WHEN $4::bigint <= $7::bigint THEN (c.following_count + 1) * ($4::bigint + $3::bigint) <= $7
		            ELSE false END
		       OR n.total <= $7 AS few
		FROM n JOIN users c ON c.id = (SELECT id FROM me)
	)
	SELECT ` + callerColumns + `, ft.total, pv.created_at, pv.id, ` + postAndAuthor("u.id") + callerFrom + `
	CROSS JOIN ft
	LEFT JOIN LATERAL (
		(SELECT created_at, id FROM posts
		 WHERE NOT ft.few AND $6::timestamptz < 'infinity'
			AND (author_id = u.id OR author_id IN (SELECT followed_id FROM follows WHERE follower_id = u.id))
			AND (created_at, id) >= ($6, $5)
		 ORDER BY created_at, id LIMIT 1 OFFSET $3)
		UNION ALL
		(SELECT p.created_at, p.id FROM f
		 CROSS JOIN LATERAL (
			SELECT created_at, id FROM posts WHERE author_id = f.author AND (created_at, id) >= ($6, $5)
			ORDER BY created_at, id LIMIT $3::bigint + 1
		 ) p
		 WHERE ft.few AND $6::timestamptz < 'infinity'
		 ORDER BY p.created_at, p.id LIMIT 1 OFFSET $3)
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT * FROM posts
		 WHERE NOT ft.few AND $4 < ft.total
			AND (author_id = u.id OR author_id IN (SELECT followed_id FROM follows WHERE follower_id = u.id))
			AND (created_at, id) < ($6, $5)
		 ORDER BY created_at DESC, id DESC LIMIT greatest(least($3, ft.total - $4), 0) OFFSET $4)
		UNION ALL
		(SELECT p.* FROM f
		 CROSS JOIN LATERAL (
			SELECT * FROM posts WHERE author_id = f.author AND (created_at, id) < ($6, $5)
			ORDER BY created_at DESC, id DESC LIMIT $3::bigint + $4::bigint
		 ) p
		 WHERE ft.few AND $4 < ft.total
		 ORDER BY p.created_at DESC, p.id DESC LIMIT $3 OFFSET $4)
	) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY p.created_at DESC, p.id DESC`

// feedFewBudget is the number of index entries up to which the feed merges
// per-author lists rather than scanning all posts newest first.
const feedFewBudget = 2000

// Feed returns the user holding token and a page of their posts and those
// of the users they follow, newest first, as they see them, and how many
// there are, in one statement. Of selectFeed's two plans it takes the
// per-author merge when that reads few entries (a user who follows few
// people, a shallow page, or a small feed), else the scan of all posts
// newest first, which is short when followees are active.
func (s *Store) Feed(ctx context.Context, token string, pg Page) (User, PostPage, error) {
	return s.callerPostPage(ctx, "feed", selectFeed, token, feedKey, append(pg.args(feedKey), s.feedBudget)...)
}

var selectNewestPosts = `
	SELECT ` + postAndAuthor("$1") + `
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
		return p, row.Scan(p.dests()...)
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("newest posts of %d", id), err)
	}
	return posts, nil
}
