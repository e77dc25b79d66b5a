package persistence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// ErrNothingToFind means a full-text query names no word to look for: it
// is only operators, common English words that are not indexed ("the"),
// punctuation, or words to leave out.
var ErrNothingToFind = errors.New("the query has no word to find")

// The search results are ordered by a rank, then by a key that makes each
// item's place unique, and a Cursor names an item by both:
//
//   - users by how their username matches: 0 for the username itself, 1
//     for a prefix of it, 2 for the rest (Rank), then by username in
//     lower case (Name);
//   - posts by relevance (Rank, PostgreSQL's ts_rank, a float4), highest
//     first, then newest first (At, ID).
//
// Both are read from the whole set of matches, which the statement gathers
// once: its total is counted from it too. A page after a cursor costs what
// the first page does, however deep.

// likeEscaper escapes the characters special to LIKE, so that a query is
// looked for as it is written.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// suffixQuery is the text-search query of the suffixes that begin with q:
// q as one quoted lexeme (its quotes and backslashes escaped, so that no
// character is an operator), with the prefix mark.
func suffixQuery(q string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(q) + "':*"
}

// selectUserSearch is a page of the users whose username contains $3,
// lower-cased, with the check of the token: the columns of userPage's
// statements, with the cursor's rank and name in place of its time and id.
// The users are found by the index of the suffixes of their names
// (migration 12) with the prefix query $9 (suffixQuery); $4 is $3 escaped
// for LIKE, which ranks the few found. Without a cursor, $7 and $8 are
// before every match.
var selectUserSearch = callerCTE + `,
	m AS MATERIALIZED (
		SELECT id, lower(username) COLLATE "C" AS name,
		       CASE WHEN lower(username) = $3 THEN 0
		            WHEN lower(username) LIKE $4 || '%' THEN 1
		            ELSE 2 END AS rank
		FROM users WHERE username_suffixes(lower(username)) @@ $9::tsquery
	)
	SELECT ` + callerColumns + `, n.total, pv.rank, pv.name, ` + userColumns("x") + `, k.rank, k.name,
	       v.yes IS NOT NULL
	` + callerFrom + `
	CROSS JOIN (SELECT count(*) AS total FROM m) n
	LEFT JOIN LATERAL (
		SELECT rank, name FROM m WHERE (rank, name) <= ($7, $8)
		ORDER BY rank DESC, name DESC LIMIT 1 OFFSET $5
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT rank, name, id FROM m WHERE (rank, name) > ($7, $8)
		ORDER BY rank, name LIMIT $5 OFFSET $6
	) k ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = k.id LIMIT 1) x ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY k.rank, k.name`

// SearchUsers returns the user holding token and a page of the users whose
// username contains q, in any case, as that user sees them: the username
// itself first, then the usernames q begins, then the rest, each by
// username.
func (s *Store) SearchUsers(ctx context.Context, token, q string, p Page) (UserPage, error) {
	q = strings.ToLower(q)
	rank, name := int32(-1), ""
	if p.After != nil {
		rank, name = int32(p.After.Rank), p.After.Name
	}
	var (
		page            UserPage
		u               User
		total           int64
		prevRank, kRank *int32
		prevName, kName *string
	)
	dest := append(append([]any{&total, &prevRank, &prevName}, dests(u.columns())...), &kRank, &kName, &u.IsFollowing)
	var err error
	page.Caller, page.Users, err = collectAsCaller(ctx, s, selectUserSearch, token,
		[]any{q, likeEscaper.Replace(q), p.Limit, p.Offset, rank, name, suffixQuery(q)}, dest, &u, &u.ID)
	if err != nil {
		return UserPage{}, wrap("search users", err)
	}
	page.Total = total
	if prevRank != nil {
		page.Prev = &Cursor{Rank: float32(*prevRank), Name: *prevName}
	}
	if kRank != nil && len(page.Users) > 0 {
		page.Next = &Cursor{Rank: float32(*kRank), Name: *kName}
	}
	return page, nil
}

// selectPostSearch is a page of the posts that match the web-search query
// $3, with the check of the token: the columns of callerPostPage's
// statements, with the rank of the last post and whether the query names
// nothing to find. Without a cursor, ($6, $7, $8) is before every match.
var selectPostSearch = callerCTE + `,
	q AS (SELECT websearch_to_tsquery('english', $3) AS query),
	m AS MATERIALIZED (
		SELECT id, created_at AS at, ts_rank(search, q.query) AS rank
		FROM q, posts WHERE search @@ q.query
	)
	SELECT ` + callerColumns + `, n.total, pv.rank, pv.at, pv.id, ` + postAndAuthor("u.id") + `, k.rank,
	       querytree(q.query) IN ('', 'T')
	` + callerFrom + `
	CROSS JOIN q
	CROSS JOIN (SELECT count(*) AS total FROM m) n
	LEFT JOIN LATERAL (
		SELECT rank, at, id FROM m WHERE (rank, at, id) >= ($6, $7, $8)
		ORDER BY rank, at, id LIMIT 1 OFFSET $4
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT rank, at, id FROM m WHERE (rank, at, id) < ($6, $7, $8)
		ORDER BY rank DESC, at DESC, id DESC LIMIT $4 OFFSET $5
	) k ON true
	LEFT JOIN LATERAL (SELECT * FROM posts WHERE id = k.id LIMIT 1) p ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = p.author_id LIMIT 1) a ON true
	ORDER BY k.rank DESC, k.at DESC, k.id DESC`

// SearchPosts returns the user holding token and a page of the posts that
// match q, PostgreSQL's web-search syntax with English stemming: the most
// relevant first, and of equal relevance the newest. A query with nothing
// to find gives ErrNothingToFind, after the token is checked.
func (s *Store) SearchPosts(ctx context.Context, token, q string, p Page) (User, PostPage, error) {
	rank := float32(math.Inf(1))
	at := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	id := int64(math.MaxInt64)
	if p.After != nil {
		rank, at, id = p.After.Rank, pgtype.Timestamptz{Time: p.After.At, Valid: true}, p.After.ID
	}
	var (
		page    PostPage
		post    Post
		total   int64
		prevRnk *float32
		prevAt  *time.Time
		prevID  *int64
		kRank   *float32
		nothing bool
	)
	dest := append(append([]any{&total, &prevRnk, &prevAt, &prevID}, post.dests()...), &kRank, &nothing)
	caller, posts, err := collectAsCaller(ctx, s, selectPostSearch, token,
		[]any{q, p.Limit, p.Offset, rank, at, id}, dest, &post, &post.ID)
	if err != nil {
		return User{}, PostPage{}, wrap("search posts", err)
	}
	if nothing {
		return caller, PostPage{}, ErrNothingToFind
	}
	page.Posts, page.Total = posts, total
	if prevRnk != nil {
		page.Prev = &Cursor{Rank: *prevRnk, At: *prevAt, ID: *prevID}
	}
	if n := len(posts); n > 0 && kRank != nil {
		page.Next = &Cursor{Rank: *kRank, At: posts[n-1].CreatedAt, ID: posts[n-1].ID}
	}
	return caller, page, nil
}

// taggedPosts is the list of the posts tagged o.name, newest first.
var taggedPosts = list{from: "post_tags g", where: "g.tag = o.name", at: "g.created_at", id: "g.post_id",
	total: "o.post_count"}

// selectTagged is a page of taggedPosts for the tag $3, with the check of
// the token. A tag no post carries has no row in tags: its list is empty.
var selectTagged = callerPostPageSQL(`
	CROSS JOIN (SELECT $3::text AS name, coalesce((SELECT post_count FROM tags WHERE name = $3), 0) AS post_count) o`,
	taggedPosts, 4)

// Tagged returns the user holding token and a page of the posts tagged tag
// (as NormalizeTag writes it), newest first.
func (s *Store) Tagged(ctx context.Context, token, tag string, p Page) (User, PostPage, error) {
	return s.callerPostPage(ctx, fmt.Sprintf("posts tagged %q", tag), selectTagged, token, taggedPosts,
		append([]any{tag}, p.args(taggedPosts)...)...)
}
