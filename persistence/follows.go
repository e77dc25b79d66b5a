package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const insertFollow = `
	INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, $3)
	ON CONFLICT DO NOTHING`

// Follow makes follower follow followed, and reports whether it did:
// following again changes nothing and reports false. An unknown followed
// user gives ErrNotFound, and following oneself ErrSelfFollow.
func (s *Store) Follow(ctx context.Context, follower, followed int64) (created bool, err error) {
	tag, err := s.pool.Exec(ctx, insertFollow, follower, followed, s.now())
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23503": // foreign_key_violation
		return false, ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23514": // check_violation: follower <> followed
		return false, ErrSelfFollow
	}
	if err != nil {
		return false, wrap(fmt.Sprintf("follow %d %d", follower, followed), err)
	}
	return tag.RowsAffected() == 1, nil
}

const deleteFollow = `DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2`

// Unfollow makes follower stop following followed; unfollowing someone not
// followed changes nothing. An unknown followed user gives ErrNotFound.
func (s *Store) Unfollow(ctx context.Context, follower, followed int64) error {
	tag, err := s.pool.Exec(ctx, deleteFollow, follower, followed)
	if err != nil {
		return wrap(fmt.Sprintf("unfollow %d %d", follower, followed), err)
	}
	if tag.RowsAffected() == 0 {
		_, err := s.User(ctx, followed)
		return err
	}
	return nil
}

const selectFollowedSince = `
	SELECT (SELECT created_at FROM follows WHERE follower_id = $1 AND followed_id = $2),
	       EXISTS (SELECT 1 FROM users WHERE id = $2)`

// FollowedSince returns when follower began following followed, nil if
// follower does not follow them, and ErrNotFound when there is no user
// followed. The time makes the follow's validators: a follow is never
// changed, only made and removed.
func (s *Store) FollowedSince(ctx context.Context, follower, followed int64) (*time.Time, error) {
	var (
		since  *time.Time
		exists bool
	)
	if err := s.pool.QueryRow(ctx, selectFollowedSince, follower, followed).Scan(&since, &exists); err != nil {
		return nil, wrap(fmt.Sprintf("follows %d %d", follower, followed), err)
	}
	if !exists {
		return nil, ErrNotFound
	}
	return since, nil
}
