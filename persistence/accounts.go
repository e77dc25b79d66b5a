package persistence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// deletionAttempts is how many times DeleteUser tries before it gives up
// with ErrUnavailable: a deletion that waits too long for a lock gives way
// (deletionLockTimeout), waits deletionBackoff times the attempts it made
// for the others to finish, and starts again.
const deletionAttempts = 5

// deletionBackoff is the first wait of a deletion that gave way.
const deletionBackoff = 100 * time.Millisecond

// deletionLockTimeout bounds each wait of a deletion for a row lock: the
// lock_timeout of its transaction. A deletion locks a great many rows,
// those of the user and of everyone whose counts it changes, and cannot
// take them in the order of a like or a follow of the same rows (the
// order of its foreign keys' cascades is PostgreSQL's). Shorter than
// PostgreSQL's deadlock_timeout (1 s unless set), it makes the deletion
// give way first whenever it and another transaction wait for each
// other, so that the like, the follow or the message completes and the
// deletion tries again; otherwise PostgreSQL would fail whichever of them
// noticed the deadlock first.
const deletionLockTimeout = "500ms"

// setDeletionLimits sets the lock_timeout ($1) and statement_timeout ($2,
// in milliseconds, 0 for none) of the deletion's transaction. The pool's
// statement_timeout is for the statements of a request; the deletion of a
// user with thousands of posts, follows and likes is one statement that
// may take longer, and is bounded by its context's deadline instead.
const setDeletionLimits = `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`

// lockBeforeUser are what a like of the user's posts, a like taken back
// and a reply to them lock before they wait for the user (the notification
// they write refers to the user), locked first so that the deletion waits
// for them rather than they for it while it waits for them: the likes of
// the user's posts, the posts, and their tags, each in the order of its
// key. New likes and replies of the posts then wait for the deletion, and
// find no post.
var lockBeforeUser = []string{
	`SELECT FROM likes WHERE post_id IN (SELECT id FROM posts WHERE author_id = $1) ORDER BY post_id, user_id FOR UPDATE`,
	`SELECT FROM posts WHERE author_id = $1 ORDER BY id FOR UPDATE`,
	`SELECT FROM tags WHERE name IN (SELECT unnest(tags) FROM posts WHERE author_id = $1) ORDER BY name FOR NO KEY UPDATE`,
}

// lockUserVersion locks the user against every write that refers to it
// (a like, a follow, a message, a post by them: their foreign key checks
// wait for the lock) and reads its version.
const lockUserVersion = `SELECT version FROM users WHERE id = $1 FOR UPDATE`

// deleteUserJobs deletes the user's jobs that are yet to run. By
// convention every job that belongs to a user has the user's id, a
// number, as the user_id of its arguments (MailArgs); river's GIN index on
// args finds them. A running job is left to finish (river would fail to
// record its end otherwise), and a completed one to river's cleaner.
const deleteUserJobs = `
	DELETE FROM river_job
	WHERE args @> jsonb_build_object('user_id', $1::bigint) AND state NOT IN ('running', 'completed')`

// deleteUserRow deletes the user. The foreign keys cascade to everything
// of theirs: posts, likes, follows, messages, notifications, tokens,
// inboxes, mailboxes; the triggers of those tables keep every other
// user's, post's, tag's, mailbox's and inbox's counts, bump the versions of
// what shows a changed count, and take the user out of the posts that
// mention them (migration 10). The user's row goes first, so that the
// counts of the user themself are not updated row by row on the way.
const deleteUserRow = `DELETE FROM users WHERE id = $1`

// DeleteUser deletes user id and everything of theirs in one transaction,
// if it is at version (when not nil): ErrStale when it is not,
// ErrNotFound when there is no such user. The username and email are free
// again once it commits. A transaction that fails half-way, the database
// lost included, leaves everything as it was. A deletion that keeps
// waiting for locks gives up with ErrUnavailable.
func (s *Store) DeleteUser(ctx context.Context, id int64, version *int64) error {
	var err error
	for attempt := range deletionAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return wrap(fmt.Sprintf("delete user %d", id), ctx.Err())
			case <-time.After(time.Duration(attempt) * deletionBackoff):
			}
		}
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return deleteUser(ctx, tx, id, version) })
		if !gaveWay(err) {
			break
		}
	}
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrStale):
		return err
	case gaveWay(err):
		return fmt.Errorf("persistence: delete user %d: %w: %w", id, ErrUnavailable, err)
	}
	return wrap(fmt.Sprintf("delete user %d", id), err)
}

// deleteUser is the transaction of DeleteUser.
func deleteUser(ctx context.Context, tx pgx.Tx, id int64, version *int64) error {
	if _, err := tx.Exec(ctx, setDeletionLimits, deletionLockTimeout, statementLimit(ctx)); err != nil {
		return err
	}
	for _, lock := range lockBeforeUser {
		if _, err := tx.Exec(ctx, lock, id); err != nil {
			return err
		}
	}
	var current int64
	err := tx.QueryRow(ctx, lockUserVersion, id).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case version != nil && current != *version:
		return ErrStale
	}
	if _, err := tx.Exec(ctx, deleteUserJobs, id); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, deleteUserRow, id)
	return err
}

// statementLimit is the statement_timeout that stops a statement when ctx
// ends: the time left to ctx's deadline in milliseconds, or "0" (none)
// when it has none.
func statementLimit(ctx context.Context) string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "0"
	}
	return strconv.FormatInt(max(time.Until(deadline).Milliseconds(), 1), 10)
}

// gaveWay reports whether err is a deletion giving way to another
// transaction: a lock it waited for too long (lock_not_available), or a
// deadlock PostgreSQL broke by failing it.
func gaveWay(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}
