package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const insertLike = `INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

// Like makes user like post, and says whether that is new: liking a post
// again changes nothing. An unknown post gives ErrNotFound. The like's
// trigger counts it on the post and notifies the author, once per liker
// however often the like is taken back and given again.
func (s *Store) Like(ctx context.Context, user, post int64) (created bool, err error) {
	tag, err := s.pool.Exec(ctx, insertLike, post, user, s.now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: no such post
		return false, ErrNotFound
	}
	if err != nil {
		return false, wrap(fmt.Sprintf("like %d %d", user, post), err)
	}
	return tag.RowsAffected() == 1, nil
}

const deleteLike = `DELETE FROM likes WHERE post_id = $1 AND user_id = $2`

// Unlike takes user's like of post back; taking back a like not given
// changes nothing. An unknown post gives ErrNotFound.
func (s *Store) Unlike(ctx context.Context, user, post int64) error {
	tag, err := s.pool.Exec(ctx, deleteLike, post, user)
	if err != nil {
		return wrap(fmt.Sprintf("unlike %d %d", user, post), err)
	}
	if tag.RowsAffected() == 0 {
		_, err := s.Post(ctx, post)
		return err
	}
	return nil
}

const selectLikedSince = `
	SELECT (SELECT created_at FROM likes WHERE post_id = $1 AND user_id = $2),
	       EXISTS (SELECT 1 FROM posts WHERE id = $1)`

// LikedSince returns when user liked post, nil if they do not like it,
// and ErrNotFound when there is no such post: the like's validators, as
// FollowedSince's are the follow's.
func (s *Store) LikedSince(ctx context.Context, user, post int64) (*time.Time, error) {
	var (
		since  *time.Time
		exists bool
	)
	if err := s.pool.QueryRow(ctx, selectLikedSince, post, user).Scan(&since, &exists); err != nil {
		return nil, wrap(fmt.Sprintf("like %d %d", user, post), err)
	}
	if !exists {
		return nil, ErrNotFound
	}
	return since, nil
}

// likersOf is the list of the users who like post o, newest like first.
var likersOf = list{from: "likes l", where: "l.post_id = o.id", at: "l.created_at", id: "l.user_id",
	total: "o.like_count"}

var selectLikers = userPageSQL(`
	LEFT JOIN posts o ON o.id = $3`, likersOf, 4)

// Likers returns the user holding token and a page of the users who like
// post id, newest like first, as that user sees them, and how many there
// are; ErrNotFound if there is no such post.
func (s *Store) Likers(ctx context.Context, token string, id int64, p Page) (UserPage, error) {
	return s.userPage(ctx, fmt.Sprintf("likers of %d", id), selectLikers, token,
		append([]any{id}, p.args(likersOf)...)...)
}

// repliesTo is the list of the replies to post o, oldest first (by id).
var repliesTo = list{from: "posts", where: "parent_id = o.id", id: "id", total: "o.reply_count"}

var selectReplies = callerPostPageSQL(`
	LEFT JOIN posts o ON o.id = $3`, repliesTo, 4)

// Replies returns the user holding token and a page of the replies to
// post id, oldest first, as that user sees them, and how many there are;
// ErrNotFound if there is no such post.
func (s *Store) Replies(ctx context.Context, token string, id int64, p Page) (User, PostPage, error) {
	return s.callerPostPage(ctx, fmt.Sprintf("replies to %d", id), selectReplies, token, repliesTo,
		append([]any{id}, p.args(repliesTo)...)...)
}
