package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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

// listedColumns are userColumns of the user or users that a statement
// beginning with callerCTE reads besides its caller: the caller is u, they
// are x.
const listedColumns = `x.id, x.username, x.email, x.about_me, x.last_seen, x.created_at,
	x.updated_at, x.post_count, x.follower_count, x.following_count, x.version, x.changed_at`

// callerColumnCount is the number of callerColumns: those of the user and
// the three of seen.
const callerColumnCount = 15

// callerFrom is the start of the FROM of the statements that begin with
// callerCTE: the caller u, and no row at all for a token that is not live.
const callerFrom = `
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id`

// The user page statements check the caller's token ($1 at $2) and read a
// page in one round trip. They return one row even when the page is empty:
// the caller, the total and the cursor of the previous page joined with
// the page. After the caller's columns come the total, the key of the
// previous page's cursor, the listed user, the time the list is sorted on,
// and whether the caller follows the listed user. That is a lookup of the
// follows key per listed user, a LATERAL join that LIMIT keeps from being
// flattened: as EXISTS, or a plain join, PostgreSQL may hash or scan all
// the follows of the caller instead.
//
// A page after a cursor is found in the index. A page asked for by number
// skips items in the index, only their keys, and from whichever end of the
// list is nearer, which the total tells: the last page of a million users,
// the "last" link of every page, costs what the first does. Of the two
// branches of the UNION, the one whose end is further is never run.
const selectCallerAndUsers = callerCTE + `
	SELECT ` + callerColumns + `, tot.total, NULL::timestamptz, pv.id, ` + listedColumns + `, NULL::timestamptz,
	       v.yes IS NOT NULL
	` + callerFrom + `
	CROSS JOIN (SELECT sum(n)::bigint AS total FROM totals WHERE name = 'users') tot
	LEFT JOIN (
		SELECT id FROM users WHERE id <= $5 ORDER BY id DESC LIMIT 1 OFFSET $3
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT id FROM users WHERE id > $5 AND $4 <= tot.total / 2 ORDER BY id LIMIT $3 OFFSET $4)
		UNION ALL
		(SELECT id FROM users WHERE $4 > tot.total / 2 ORDER BY id DESC
		 LIMIT greatest(least($3, tot.total - least($4, tot.total)), 0)
		 OFFSET greatest(tot.total - least($4, tot.total) - $3, 0))
	) k ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = k.id LIMIT 1) x ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY x.id`

// Users returns the user holding token and a page of all users by id as
// that user sees them, and how many users there are.
func (s *Store) Users(ctx context.Context, token string, p Page) (User, []User, Listing, error) {
	return s.userPage(ctx, "users", selectCallerAndUsers, token, p.Limit, p.Offset, p.afterID())
}

const selectCallerAndFollowers = callerCTE + `
	SELECT ` + callerColumns + `, o.follower_count, pv.at, pv.id, ` + listedColumns + `, x.followed_at,
	       v.yes IS NOT NULL
	` + callerFrom + `
	LEFT JOIN users o ON o.id = $3
	LEFT JOIN LATERAL (
		SELECT f.created_at AS at, f.follower_id AS id FROM follows f
		WHERE f.followed_id = o.id AND (f.created_at, f.follower_id) >= ($6, $7)
		ORDER BY f.created_at, f.follower_id LIMIT 1 OFFSET $4
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT f.follower_id AS id, f.created_at AS at FROM follows f
		 WHERE f.followed_id = o.id AND (f.created_at, f.follower_id) < ($6, $7) AND $5 <= o.follower_count / 2
		 ORDER BY f.created_at DESC, f.follower_id DESC LIMIT $4 OFFSET $5)
		UNION ALL
		(SELECT f.follower_id, f.created_at FROM follows f
		 WHERE f.followed_id = o.id AND $5 > o.follower_count / 2
		 ORDER BY f.created_at, f.follower_id
		 LIMIT greatest(least($4, o.follower_count - least($5, o.follower_count)), 0)
		 OFFSET greatest(o.follower_count - least($5, o.follower_count) - $4, 0))
	) k ON true
	LEFT JOIN LATERAL (SELECT *, k.at AS followed_at FROM users WHERE id = k.id LIMIT 1) x ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY x.followed_at DESC, x.id DESC`

// Followers returns the user holding token and a page of the users who
// follow user id, newest follow first, as that user sees them, and how many
// there are; ErrNotFound if there is no such user.
func (s *Store) Followers(ctx context.Context, token string, id int64, p Page) (User, []User, Listing, error) {
	at, after := p.afterKey()
	return s.userPage(ctx, fmt.Sprintf("followers of %d", id), selectCallerAndFollowers, token, id, p.Limit, p.Offset, at, after)
}

const selectCallerAndFollowing = callerCTE + `
	SELECT ` + callerColumns + `, o.following_count, pv.at, pv.id, ` + listedColumns + `, x.followed_at,
	       v.yes IS NOT NULL
	` + callerFrom + `
	LEFT JOIN users o ON o.id = $3
	LEFT JOIN LATERAL (
		SELECT f.created_at AS at, f.followed_id AS id FROM follows f
		WHERE f.follower_id = o.id AND (f.created_at, f.followed_id) >= ($6, $7)
		ORDER BY f.created_at, f.followed_id LIMIT 1 OFFSET $4
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT f.followed_id AS id, f.created_at AS at FROM follows f
		 WHERE f.follower_id = o.id AND (f.created_at, f.followed_id) < ($6, $7) AND $5 <= o.following_count / 2
		 ORDER BY f.created_at DESC, f.followed_id DESC LIMIT $4 OFFSET $5)
		UNION ALL
		(SELECT f.followed_id, f.created_at FROM follows f
		 WHERE f.follower_id = o.id AND $5 > o.following_count / 2
		 ORDER BY f.created_at, f.followed_id
		 LIMIT greatest(least($4, o.following_count - least($5, o.following_count)), 0)
		 OFFSET greatest(o.following_count - least($5, o.following_count) - $4, 0))
	) k ON true
	LEFT JOIN LATERAL (SELECT *, k.at AS followed_at FROM users WHERE id = k.id LIMIT 1) x ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY x.followed_at DESC, x.id DESC`

// Following returns the user holding token and a page of the users whom
// user id follows, newest follow first, as that user sees them, and how
// many there are; ErrNotFound if there is no such user.
func (s *Store) Following(ctx context.Context, token string, id int64, p Page) (User, []User, Listing, error) {
	at, after := p.afterKey()
	return s.userPage(ctx, fmt.Sprintf("following of %d", id), selectCallerAndFollowing, token, id, p.Limit, p.Offset, at, after)
}

// listedUser is the scan target of a user that a LEFT JOIN may leave NULL,
// and whether the caller follows them. Its pgtype fields are scanned in
// place, where pointers would be allocated anew for every row.
type listedUser struct {
	id, posts, frs, fings, version      pgtype.Int8
	username, email, aboutMe            pgtype.Text
	lastSeen, created, updated, changed pgtype.Timestamptz
	isFollowing                         pgtype.Bool
}

// columns are the destinations of listedColumns.
func (l *listedUser) columns() []any {
	return []any{&l.id, &l.username, &l.email, &l.aboutMe, &l.lastSeen, &l.created, &l.updated,
		&l.posts, &l.frs, &l.fings, &l.version, &l.changed}
}

// user returns the user scanned, and false when it was NULL.
func (l *listedUser) user() (User, bool) {
	if !l.id.Valid {
		return User{}, false
	}
	u := User{ID: l.id.Int64, Username: l.username.String, Email: l.email.String, AboutMe: l.aboutMe.String,
		CreatedAt: l.created.Time, UpdatedAt: l.updated.Time,
		PostCount: l.posts.Int64, FollowerCount: l.frs.Int64, FollowingCount: l.fings.Int64,
		Version: l.version.Int64, ChangedAt: l.changed.Time, IsFollowing: l.isFollowing.Bool}
	if l.lastSeen.Valid {
		seen := l.lastSeen.Time
		u.LastSeen = &seen
	}
	return u, true
}

// callerRows runs query, a statement that begins with callerCTE and takes
// token's hash and the time as $1 and $2 and args after them. It scans the
// columns after the caller's into dests and calls each, row by row, and
// returns the caller, or ErrInvalidToken when there is no row. The
// caller's columns, the same in every row, are read from the first.
func (s *Store) callerRows(ctx context.Context, op, query, token string, args, dests []any, each func()) (User, error) {
	c := s.tokenCheck(token, 0)
	defer s.checks.Put(c)
	rows, err := s.pool.Query(ctx, query, append(c.args[:2:2], args...)...)
	if err != nil {
		return User{}, wrap(op, err)
	}
	defer rows.Close()
	var caller User
	found := false
	// A nil destination skips its column.
	skipCaller := append(make([]any, callerColumnCount, callerColumnCount+len(dests)), dests...)
	for rows.Next() {
		if !found {
			caller, err = c.scan(rows, dests...)
		} else {
			err = rows.Scan(skipCaller...)
		}
		if err != nil {
			return User{}, wrap(op, err)
		}
		found = true
		each()
	}
	if err := rows.Err(); err != nil {
		return User{}, wrap(op, err)
	}
	if !found {
		return User{}, ErrInvalidToken
	}
	return caller, nil
}

// userPage runs a user page statement, described above
// selectCallerAndUsers. A NULL total means the owner of the list does not
// exist.
func (s *Store) userPage(ctx context.Context, op, query, token string, args ...any) (User, []User, Listing, error) {
	var (
		users          []User
		list           Listing
		total, prevID  *int64
		prevAt, sortAt *time.Time
		l              listedUser
	)
	dests := append(append([]any{&total, &prevAt, &prevID}, l.columns()...), &sortAt, &l.isFollowing)
	caller, err := s.callerRows(ctx, op, query, token, args, dests, func() {
		if u, ok := l.user(); ok {
			users = append(users, u)
		}
	})
	if err != nil {
		return User{}, nil, Listing{}, err
	}
	if total == nil {
		return caller, nil, Listing{}, ErrNotFound
	}
	// The total and the previous cursor are the same in every row; the
	// sort key scanned last is that of the last user.
	list.Total, list.Prev = *total, cursorOf(prevAt, prevID)
	if n := len(users); n > 0 {
		list.Next = cursorOf(sortAt, &users[n-1].ID)
	}
	return caller, users, list, nil
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
