package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a registered user as the API shows it. The password hash is not
// part of it: it never leaves this package.
type User struct {
	ID             int64
	Username       string
	Email          string
	AboutMe        string
	LastSeen       *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	PostCount      int64
	FollowerCount  int64
	FollowingCount int64
	// Version counts the changes to the user's representation: its row,
	// its counts and its posts. ChangedAt is when the last one happened.
	Version   int64
	ChangedAt time.Time
	// PriorVersion is, for the caller of a request, the version before the
	// request recorded last_seen; Authenticate alone sets it.
	PriorVersion int64
	// IsFollowing says whether the user who asked follows this user; it is
	// set by the reads that take a viewer.
	IsFollowing bool
}

// NewUser is what registration stores.
type NewUser struct {
	Username string
	Email    string
	Password string
	AboutMe  string
}

// UserUpdate holds the members of an update; nil members stay as they are.
// Password is changed only when OldPassword is the current password. When
// Version is set, the update happens only if the user is still at that
// version, else it gives ErrStale.
type UserUpdate struct {
	Username    *string
	Email       *string
	AboutMe     *string
	Password    *string
	OldPassword string
	Version     *int64
}

// userColumns are the columns scanUser reads, in its order.
const userColumns = `u.id, u.username, u.email, u.about_me, u.last_seen, u.created_at,
	u.updated_at, u.post_count, u.follower_count, u.following_count, u.version, u.changed_at`

func scanUser(row pgx.Row, u *User, extra ...any) error {
	dest := append([]any{&u.ID, &u.Username, &u.Email, &u.AboutMe, &u.LastSeen, &u.CreatedAt,
		&u.UpdatedAt, &u.PostCount, &u.FollowerCount, &u.FollowingCount, &u.Version, &u.ChangedAt}, extra...)
	return row.Scan(dest...)
}

const insertUser = `
	INSERT INTO users AS u (username, email, password_hash, about_me, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $5)
	ON CONFLICT DO NOTHING
	RETURNING ` + userColumns

const selectTaken = `
	SELECT coalesce(bool_or(lower(username) = lower($1)), false),
	       coalesce(bool_or(lower(email) = lower($2)), false)
	FROM users
	WHERE lower(username) = lower($1) OR lower(email) = lower($2)`

// CreateUser stores a new user. A username or email already taken, compared
// without regard to case, gives a *ConflictError naming the username first.
// Of two registrations racing for one name, exactly one succeeds.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = scanUser(s.pool.QueryRow(ctx, insertUser, nu.Username, nu.Email, hash, nu.AboutMe, s.now()), &u)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return User{}, wrap("create user", err)
	}
	// ON CONFLICT DO NOTHING waited for any racing insert to finish, so what
	// blocked this one is committed and visible now.
	var nameTaken, emailTaken bool
	if err := s.pool.QueryRow(ctx, selectTaken, nu.Username, nu.Email).Scan(&nameTaken, &emailTaken); err != nil {
		return User{}, wrap("create user", err)
	}
	if nameTaken || !emailTaken {
		return User{}, &ConflictError{Field: "username"}
	}
	return User{}, &ConflictError{Field: "email"}
}

const selectUser = `SELECT ` + userColumns + ` FROM users u WHERE u.id = $1`

// User returns the user with the given id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := scanUser(s.pool.QueryRow(ctx, selectUser, id), &u)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, wrap(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// The page queries return one row even when the page is empty: the total
// and the cursor of the previous page joined with the page, so that a page
// costs one statement. Their columns are the total, the key of the previous
// page's cursor, the user, the time the list is sorted on and whether the
// viewer follows the user.
const selectUsers = `
	SELECT t.total, NULL::timestamptz, pv.id, ` + userColumns + `, NULL::timestamptz,
	       EXISTS (SELECT 1 FROM follows v WHERE v.follower_id = $1 AND v.followed_id = u.id)
	FROM (SELECT sum(n)::bigint AS total FROM totals WHERE name = 'users') t
	LEFT JOIN (
		SELECT id FROM users WHERE id <= $4 ORDER BY id DESC LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT * FROM users WHERE id > $4 ORDER BY id LIMIT $2 OFFSET $3
	) u ON true
	ORDER BY u.id`

// Users returns a page of all users by id, as viewer sees them, and how
// many users there are.
func (s *Store) Users(ctx context.Context, viewer int64, p Page) ([]User, Listing, error) {
	return s.userPage(ctx, "users", selectUsers, viewer, p.Limit, p.Offset, p.afterID())
}

const selectFollowers = `
	SELECT o.follower_count, pv.at, pv.id, ` + userColumns + `, u.followed_at,
	       EXISTS (SELECT 1 FROM follows v WHERE v.follower_id = $4 AND v.followed_id = u.id)
	FROM users o
	LEFT JOIN LATERAL (
		SELECT f.created_at AS at, f.follower_id AS id FROM follows f
		WHERE f.followed_id = o.id AND (f.created_at, f.follower_id) >= ($5, $6)
		ORDER BY f.created_at, f.follower_id LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT x.*, f.created_at AS followed_at
		FROM follows f JOIN users x ON x.id = f.follower_id
		WHERE f.followed_id = o.id AND (f.created_at, f.follower_id) < ($5, $6)
		ORDER BY f.created_at DESC, f.follower_id DESC
		LIMIT $2 OFFSET $3
	) u ON true
	WHERE o.id = $1
	ORDER BY u.followed_at DESC, u.id DESC`

// Followers returns a page of the users who follow user id, newest follow
// first, as viewer sees them, and how many there are; ErrNotFound if there
// is no such user.
func (s *Store) Followers(ctx context.Context, id, viewer int64, p Page) ([]User, Listing, error) {
	at, after := p.afterKey()
	return s.userPage(ctx, fmt.Sprintf("followers of %d", id), selectFollowers, id, p.Limit, p.Offset, viewer, at, after)
}

const selectFollowing = `
	SELECT o.following_count, pv.at, pv.id, ` + userColumns + `, u.followed_at,
	       EXISTS (SELECT 1 FROM follows v WHERE v.follower_id = $4 AND v.followed_id = u.id)
	FROM users o
	LEFT JOIN LATERAL (
		SELECT f.created_at AS at, f.followed_id AS id FROM follows f
		WHERE f.follower_id = o.id AND (f.created_at, f.followed_id) >= ($5, $6)
		ORDER BY f.created_at, f.followed_id LIMIT 1 OFFSET $2
	) pv ON true
	LEFT JOIN LATERAL (
		SELECT x.*, f.created_at AS followed_at
		FROM follows f JOIN users x ON x.id = f.followed_id
		WHERE f.follower_id = o.id AND (f.created_at, f.followed_id) < ($5, $6)
		ORDER BY f.created_at DESC, f.followed_id DESC
		LIMIT $2 OFFSET $3
	) u ON true
	WHERE o.id = $1
	ORDER BY u.followed_at DESC, u.id DESC`

// Following returns a page of the users whom user id follows, newest follow
// first, as viewer sees them, and how many there are; ErrNotFound if there
// is no such user.
func (s *Store) Following(ctx context.Context, id, viewer int64, p Page) ([]User, Listing, error) {
	at, after := p.afterKey()
	return s.userPage(ctx, fmt.Sprintf("following of %d", id), selectFollowing, id, p.Limit, p.Offset, viewer, at, after)
}

// userPage runs a page query with the columns described above selectUsers;
// those of the user are all NULL when the page is empty. No row at all
// means the owner of the list does not exist.
func (s *Store) userPage(ctx context.Context, op, query string, args ...any) ([]User, Listing, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, Listing{}, wrap(op, err)
	}
	defer rows.Close()
	var (
		users []User
		list  Listing
		found bool
	)
	for rows.Next() {
		found = true
		var (
			prevAt, sortAt    *time.Time
			prevID, id        *int64
			username, email   *string
			aboutMe           *string
			lastSeen          *time.Time
			created, updated  *time.Time
			posts, frs, fings *int64
			version           *int64
			changed           *time.Time
			isFollowing       *bool
		)
		if err := rows.Scan(&list.Total, &prevAt, &prevID, &id, &username, &email, &aboutMe, &lastSeen,
			&created, &updated, &posts, &frs, &fings, &version, &changed, &sortAt, &isFollowing); err != nil {
			return nil, Listing{}, wrap(op, err)
		}
		list.Prev = cursorOf(prevAt, prevID)
		if id == nil {
			continue
		}
		users = append(users, User{ID: *id, Username: *username, Email: *email, AboutMe: *aboutMe,
			LastSeen: lastSeen, CreatedAt: *created, UpdatedAt: *updated,
			PostCount: *posts, FollowerCount: *frs, FollowingCount: *fings, Version: *version, ChangedAt: *changed,
			IsFollowing: *isFollowing})
		list.Next = cursorOf(sortAt, id)
	}
	if err := rows.Err(); err != nil {
		return nil, Listing{}, wrap(op, err)
	}
	if !found {
		return nil, Listing{}, ErrNotFound
	}
	return users, list, nil
}

const selectPasswordHash = `SELECT password_hash FROM users WHERE id = $1 FOR NO KEY UPDATE`

const updateUser = `
	UPDATE users AS u SET
		username = coalesce($2, username),
		email = coalesce($3, email),
		about_me = coalesce($4, about_me),
		password_hash = coalesce($5, password_hash),
		updated_at = $6
	WHERE id = $1 AND ($7::bigint IS NULL OR version = $7)
	RETURNING ` + userColumns

// UpdateUser changes the members of up that are set and returns the user as
// it is then. A taken username or email gives a *ConflictError; a password
// change with the wrong old password gives ErrWrongPassword.
func (s *Store) UpdateUser(ctx context.Context, id int64, up UserUpdate) (User, error) {
	op := fmt.Sprintf("update user %d", id)
	if up.Password == nil {
		return s.updateUser(ctx, s.pool, op, id, up, nil)
	}
	newHash, err := s.hasher.Hash(ctx, *up.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock keeps a concurrent password change from slipping in
		// between the check of the old password and the update.
		var hash string
		err := tx.QueryRow(ctx, selectPasswordHash, id).Scan(&hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return wrap(op, err)
		}
		ok, err := s.hasher.Check(ctx, up.OldPassword, hash)
		if err != nil {
			return err
		}
		if !ok {
			return ErrWrongPassword
		}
		u, err = s.updateUser(ctx, tx, op, id, up, &newHash)
		return err
	})
	if err != nil {
		// Errors of the function keep their kind through wrap; those of
		// BEGIN and COMMIT get one.
		return User{}, wrap(op, err)
	}
	return u, nil
}

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) updateUser(ctx context.Context, q querier, op string, id int64, up UserUpdate, newHash *string) (User, error) {
	var u User
	err := scanUser(q.QueryRow(ctx, updateUser, id, up.Username, up.Email, up.AboutMe, newHash, s.now(), up.Version), &u)
	if errors.Is(err, pgx.ErrNoRows) {
		if up.Version == nil {
			return User{}, ErrNotFound
		}
		// Only on this error path: was the user gone, or changed?
		if _, err := s.User(ctx, id); err != nil {
			return User{}, err
		}
		return User{}, ErrStale
	}
	if err != nil {
		return User{}, wrap(op, err)
	}
	return u, nil
}
