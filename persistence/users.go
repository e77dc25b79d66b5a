package persistence

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
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
	Gravatar       bool // shows their Gravatar rather than an identicon
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
	// PriorVersion and PriorChangedAt are, for the caller of a request, the
	// version and its time before the request recorded last_seen; the
	// statements that check a token alone set them.
	PriorVersion   int64
	PriorChangedAt time.Time
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

// UserUpdate holds the changes of an update. Set maps the columns to change
// (username, email, about_me, gravatar: those of User.columns a client may
// write) to their new values, gravatar's as "true" or "false"; the others
// stay as they are. Password is changed only when OldPassword is the
// current password. When Version is set, the update happens only if the
// user is still at that version, else it gives ErrStale.
type UserUpdate struct {
	Set         map[string]string
	Password    *string
	OldPassword string
	Version     *int64
	// Token is the token of the request, which a password change keeps
	// while it revokes every other token of the user.
	Token string
}

// columns are the columns of a user row and where a scan puts them.
func (u *User) columns() []column {
	return []column{{name: "id", dest: int8Dest{&u.ID}}, {name: "username", dest: textDest{&u.Username}}, {name: "email", dest: textDest{&u.Email}},
		{name: "about_me", dest: textDest{&u.AboutMe}}, {name: "gravatar", dest: boolDest{&u.Gravatar}}, {name: "last_seen", dest: timePtrDest{&u.LastSeen}},
		{name: "created_at", dest: timeDest{&u.CreatedAt}}, {name: "updated_at", dest: timeDest{&u.UpdatedAt}},
		{name: "post_count", dest: int8Dest{&u.PostCount}}, {name: "follower_count", dest: int8Dest{&u.FollowerCount}},
		{name: "following_count", dest: int8Dest{&u.FollowingCount}}, {name: "version", dest: int8Dest{&u.Version}},
		{name: "changed_at", dest: timeDest{&u.ChangedAt}}}
}

// userColumns is the select list of a user row aliased alias.
func userColumns(alias string) string { return columnList(alias, new(User).columns()) }

var insertUser = `
	INSERT INTO users AS u (username, email, password_hash, about_me, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $5)
	ON CONFLICT DO NOTHING
	RETURNING ` + userColumns("u")

const selectTaken = `
	SELECT coalesce(bool_or(lower(username) = lower($1)), false),
	       coalesce(bool_or(lower(email) = lower($2)), false)
	FROM users
	WHERE lower(username) = lower($1) OR lower(email) = lower($2)`

// CreateUser stores a new user. A username or email already taken, compared
// without regard to case, gives a *ConflictError naming the username first,
// before the password is hashed. Of two registrations racing for one name,
// exactly one succeeds.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := s.taken(ctx, nu); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.pool.QueryRow(ctx, insertUser, nu.Username, nu.Email, hash, nu.AboutMe, s.now()).
		Scan(dests(u.columns())...)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return User{}, wrap("create user", err)
	}
	// A registration raced this one and won. ON CONFLICT DO NOTHING waited
	// for it to finish, so what blocked this insert is committed and
	// visible now.
	if err := s.taken(ctx, nu); err != nil {
		return User{}, err
	}
	return User{}, &ConflictError{Field: "username"}
}

// taken is a *ConflictError when nu's username or email is taken, naming
// the username first.
func (s *Store) taken(ctx context.Context, nu NewUser) error {
	var nameTaken, emailTaken bool
	if err := s.pool.QueryRow(ctx, selectTaken, nu.Username, nu.Email).Scan(&nameTaken, &emailTaken); err != nil {
		return wrap("create user", err)
	}
	switch {
	case nameTaken:
		return &ConflictError{Field: "username"}
	case emailTaken:
		return &ConflictError{Field: "email"}
	}
	return nil
}

const selectUserID = `SELECT id FROM users WHERE lower(username) = lower($1)`

// UserID returns the id of the user whose username is name in any case, or
// ErrNotFound.
func (s *Store) UserID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, selectUserID, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, wrap("user by name", err)
	}
	return id, nil
}

var selectUser = `SELECT ` + userColumns("u") + ` FROM users u WHERE u.id = $1`

// User returns the user with the given id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, selectUser, id).Scan(dests(u.columns())...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, wrap(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// Profile is a user as the holder of a token sees them, with their newest
// posts.
type Profile struct {
	Caller User
	User   User
	Posts  []Post
	// PostsKey names the versions of the posts (PostsKey), and
	// PostsChanged is when the last of them changed: a like or a reply
	// changes a post, not its author's row.
	PostsKey     string
	PostsChanged time.Time
}

// PostsKey names the versions of posts, in order, as the profile
// statements do: a post's like changes the representation of its author,
// who shows it, without a write to the author's row.
func PostsKey(posts []Post) string {
	parts := make([]string, len(posts))
	for i, p := range posts {
		parts[i] = strconv.FormatInt(p.ID, 10) + "." + strconv.FormatInt(p.Version, 10)
	}
	return strings.Join(parts, ",")
}

// WithPosts is p with posts as the user's newest, and their key.
func (p Profile) WithPosts(posts []Post) Profile {
	p.Posts, p.PostsKey, p.PostsChanged = posts, PostsKey(posts), time.Time{}
	for _, post := range posts {
		if post.ChangedAt.After(p.PostsChanged) {
			p.PostsChanged = post.ChangedAt
		}
	}
	return p
}

// Modified is when the representation of the profile's user last changed:
// the user's row or one of the posts it shows.
func (p Profile) Modified() time.Time {
	if p.PostsChanged.After(p.User.ChangedAt) {
		return p.PostsChanged
	}
	return p.User.ChangedAt
}

// UserPage is a page of a list of users as the holder of a token sees
// them.
type UserPage struct {
	Caller User
	Users  []User
	Listing
}

var selectProfileVersion = callerCTE + `
	SELECT ` + callerColumns + `, x.id, x.version, x.changed_at, np.key, np.changed` + callerFrom + `
	LEFT JOIN users x ON x.id = coalesce($3, u.id)
	LEFT JOIN LATERAL (
		SELECT coalesce(string_agg(id || '.' || version, ',' ORDER BY created_at DESC, id DESC), '') AS key,
		       max(changed_at) AS changed
		FROM (SELECT id, version, created_at, changed_at FROM posts WHERE author_id = x.id
		      ORDER BY created_at DESC, id DESC LIMIT 5) n
	) np ON true`

// ProfileVersion is Profile without the posts and with only what the
// validators of the user are made of: its ID, Version and ChangedAt.
// An id of 0 stands for the caller.
func (s *Store) ProfileVersion(ctx context.Context, token string, id int64) (Profile, error) {
	var (
		p Profile
		u User
	)
	caller, found, err := collectAsCaller(ctx, s, selectProfileVersion, token, []any{profileTarget(id)},
		[]any{int8Dest{&u.ID}, int8Dest{&u.Version}, timeDest{&u.ChangedAt}, textDest{&p.PostsKey},
			timeDest{&p.PostsChanged}}, &u, &u.ID)
	if err != nil {
		return Profile{}, wrap(fmt.Sprintf("version of user %d", id), err)
	}
	p.Caller = caller
	if len(found) > 0 {
		p.User = found[0]
	}
	return p.own(), p.found()
}

var selectProfile = callerCTE + `
	SELECT ` + callerColumns + `, ` + userColumns("x") + `, v.yes IS NOT NULL, ` + postColumns("p") + `,
	       ` + liked("p", "u.id") + callerFrom + `
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
func (s *Store) Profile(ctx context.Context, token string, id int64) (Profile, error) {
	var (
		p    Profile
		post Post
	)
	dest := append(dests(p.User.columns()), &p.User.IsFollowing)
	dest = append(append(dest, dests(post.columns())...), boolDest{&post.Liked})
	var err error
	p.Caller, p.Posts, err = collectAsCaller(ctx, s, selectProfile, token, []any{profileTarget(id)}, dest, &post, &post.ID)
	if err != nil {
		return Profile{}, wrap(fmt.Sprintf("profile of %d", id), err)
	}
	p = p.own().WithPosts(p.Posts)
	for i := range p.Posts {
		p.Posts[i].Author = p.User.author()
	}
	return p, p.found()
}

// profileTarget is the argument that names user id to the profile
// statements: NULL, for the caller, when id is 0.
func profileTarget(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// own gives a profile of the caller the caller's last_seen and version:
// the row read for the user predates this request's.
func (p Profile) own() Profile {
	if p.User.ID == p.Caller.ID {
		p.User.LastSeen, p.User.Version, p.User.ChangedAt = p.Caller.LastSeen, p.Caller.Version, p.Caller.ChangedAt
	}
	return p
}

// found is ErrNotFound for a profile whose user the statement did not find.
func (p Profile) found() error {
	if p.User.ID == 0 {
		return ErrNotFound
	}
	return nil
}

// allUsers is the list of all users, by id; followersOf and followingOf
// those of the users who follow user o and whom o follows, newest follow
// first.
var (
	allUsers    = list{from: "users", where: "true", id: "id", total: "o.total"}
	followersOf = list{from: "follows f", where: "f.followed_id = o.id", at: "f.created_at", id: "f.follower_id",
		total: "o.follower_count"}
	followingOf = list{from: "follows f", where: "f.follower_id = o.id", at: "f.created_at", id: "f.followed_id",
		total: "o.following_count"}
)

// userPageSQL is the statement of a page of users: it checks the caller's
// token ($1 at $2) and reads the page of l, whose owner o the join owner
// finds, in one round trip. It returns one row even when the page is
// empty: the caller, the total and the cursor of the previous page joined
// with the page. After the caller's columns come the total, the key of the
// previous page's cursor, the listed user, the time the list is sorted on,
// and whether the caller follows the listed user. That is a lookup of the
// follows key per listed user, a LATERAL join that LIMIT keeps from being
// flattened: as EXISTS, or a plain join, PostgreSQL may hash or scan all
// the follows of the caller instead.
func userPageSQL(owner string, l list, first int) string {
	return callerCTE + `
	SELECT ` + callerColumns + `, ` + l.total + `, pv.at, pv.id, ` + userColumns("x") + `, k.at, v.yes IS NOT NULL
	` + callerFrom + owner + l.joins(first) + `
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = k.id LIMIT 1) x ON true
	LEFT JOIN LATERAL (
		SELECT true AS yes FROM follows WHERE follower_id = u.id AND followed_id = x.id LIMIT 1
	) v ON true
	ORDER BY ` + l.order()
}

var (
	selectUsers = userPageSQL(`
	CROSS JOIN (SELECT sum(n)::bigint AS total FROM totals WHERE name = 'users') o`, allUsers, 3)
	selectFollowers = userPageSQL(`
	LEFT JOIN users o ON o.id = $3`, followersOf, 4)
	selectFollowing = userPageSQL(`
	LEFT JOIN users o ON o.id = $3`, followingOf, 4)
)

// Users returns the user holding token and a page of all users by id as
// that user sees them, and how many users there are.
func (s *Store) Users(ctx context.Context, token string, p Page) (UserPage, error) {
	return s.userPage(ctx, "users", selectUsers, token, p.args(allUsers)...)
}

// Followers returns the user holding token and a page of the users who
// follow user id, newest follow first, as that user sees them, and how many
// there are; ErrNotFound if there is no such user.
func (s *Store) Followers(ctx context.Context, token string, id int64, p Page) (UserPage, error) {
	return s.userPage(ctx, fmt.Sprintf("followers of %d", id), selectFollowers, token,
		append([]any{id}, p.args(followersOf)...)...)
}

// Following returns the user holding token and a page of the users whom
// user id follows, newest follow first, as that user sees them, and how
// many there are; ErrNotFound if there is no such user.
func (s *Store) Following(ctx context.Context, token string, id int64, p Page) (UserPage, error) {
	return s.userPage(ctx, fmt.Sprintf("following of %d", id), selectFollowing, token,
		append([]any{id}, p.args(followingOf)...)...)
}

// userPage runs a statement of userPageSQL. A NULL total means the owner
// of the list does not exist.
func (s *Store) userPage(ctx context.Context, op, query, token string, args ...any) (UserPage, error) {
	var (
		page           UserPage
		u              User
		total, prevID  *int64
		prevAt, sortAt *time.Time
	)
	dest := append(append([]any{&total, &prevAt, &prevID}, dests(u.columns())...), &sortAt, &u.IsFollowing)
	var err error
	page.Caller, page.Users, err = collectAsCaller(ctx, s, query, token, args, dest, &u, &u.ID)
	if err != nil {
		return UserPage{}, wrap(op, err)
	}
	if total == nil {
		return page, ErrNotFound
	}
	// The total and the previous cursor are the same in every row; the
	// sort key scanned last is that of the last user.
	page.Total, page.Prev = *total, cursorOf(prevAt, prevID)
	if n := len(page.Users); n > 0 {
		page.Next = cursorOf(sortAt, &page.Users[n-1].ID)
	}
	return page, nil
}

// selectUserState reads what decides whether an update of user $1 may
// happen: its version, its password hash, and whether another user has the
// username $2 or the email $3 (NULL when the update leaves them).
const selectUserState = `
	SELECT u.version, u.password_hash,
	       EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id AND lower(o.username) = lower($2)),
	       EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id AND lower(o.email) = lower($3))
	FROM users u WHERE u.id = $1`

// userState is what selectUserState reads.
type userState struct {
	version               int64
	hash                  string
	nameTaken, emailTaken bool
}

// userState reads the state of user id that update up depends on, or
// ErrNotFound.
func (s *Store) userState(ctx context.Context, id int64, up UserUpdate) (userState, error) {
	var (
		st          userState
		name, email *string
	)
	if v, ok := up.Set["username"]; ok {
		name = &v
	}
	if v, ok := up.Set["email"]; ok {
		email = &v
	}
	err := s.pool.QueryRow(ctx, selectUserState, id, name, email).Scan(&st.version, &st.hash, &st.nameTaken, &st.emailTaken)
	if errors.Is(err, pgx.ErrNoRows) {
		return userState{}, ErrNotFound
	}
	if err != nil {
		return userState{}, wrap(fmt.Sprintf("update user %d", id), err)
	}
	return st, nil
}

// refusal is why update up cannot apply to a user in state st, or nil.
// checked is the password hash the old password was checked against, if
// any: the update replaces only that one.
func (st userState) refusal(up UserUpdate, checked string) error {
	switch {
	case up.Version != nil && st.version != *up.Version:
		return ErrStale
	case checked != "" && st.hash != checked:
		return ErrWrongPassword
	case st.nameTaken:
		return &ConflictError{Field: "username"}
	case st.emailTaken:
		return &ConflictError{Field: "email"}
	}
	return nil
}

// passwordChange is the password hash an update replaces and the one it
// puts in its place; both are empty when the password stays.
type passwordChange struct {
	old, new string
}

// updateUserSQL is the statement and arguments of update up of user id at
// time now. It changes the row only if the user is at up.Version (when
// set), still has the password hash pw.old (when set), and no other user
// has the new username or email: a taken one is then no row rather than a
// unique violation, whose detail would write the email into the database
// server's log; the unique indexes stay the final word on a race. A
// password change also revokes every token of the user but up.Token, and
// every password reset token, in the same statement.
func updateUserSQL(id int64, up UserUpdate, now time.Time, pw passwordChange) (string, []any, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"u.id = " + arg(id)}
	sets := []string{"updated_at = " + arg(now)}
	var taken []string
	for _, name := range slices.Sorted(maps.Keys(up.Set)) {
		if !slices.ContainsFunc(new(User).columns(), func(c column) bool { return c.name == name }) {
			return "", nil, fmt.Errorf("persistence: update user: no column %q", name)
		}
		value := arg(up.Set[name])
		sets = append(sets, name+" = "+value)
		if name == "username" || name == "email" {
			taken = append(taken, fmt.Sprintf("lower(o.%s) = lower(%s)", name, value))
		}
	}
	if up.Version != nil {
		where = append(where, "u.version = "+arg(*up.Version))
	}
	if len(taken) > 0 {
		where = append(where, "NOT EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id AND ("+strings.Join(taken, " OR ")+"))")
	}
	if pw.new != "" {
		sets = append(sets, "password_hash = "+arg(pw.new))
		where = append(where, "u.password_hash = "+arg(pw.old))
	}
	update := `
	UPDATE users AS u SET ` + strings.Join(sets, ", ") + `
	WHERE ` + strings.Join(where, " AND ") + `
	RETURNING ` + userColumns("u")
	if pw.new == "" {
		return update, args, nil
	}
	keep := tokenHash(up.Token)
	return `
	WITH changed AS (` + update + `
	), revoked AS (
		DELETE FROM tokens WHERE user_id = (SELECT id FROM changed) AND hash <> ` + arg(keep[:]) + `
	), resets AS (
		DELETE FROM password_resets WHERE user_id = (SELECT id FROM changed)
	)
	SELECT * FROM changed`, args, nil
}

// UpdateUser changes the members of up that are set and returns the user as
// it is then. A taken username or email gives a *ConflictError; a password
// change with the wrong old password gives ErrWrongPassword, and a password
// change revokes every other token of the user.
func (s *Store) UpdateUser(ctx context.Context, id int64, up UserUpdate) (User, error) {
	var pw passwordChange
	if up.Password != nil {
		var err error
		if pw, err = s.changePassword(ctx, id, up); err != nil {
			return User{}, err
		}
	}
	query, args, err := updateUserSQL(id, up, s.now(), pw)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.pool.QueryRow(ctx, query, args...).Scan(dests(u.columns())...)
	if errors.Is(err, pgx.ErrNoRows) {
		// Only on this path: was the user gone, changed, or the name or
		// email taken?
		st, err := s.userState(ctx, id, up)
		if err != nil {
			return User{}, err
		}
		if err := st.refusal(up, pw.old); err != nil {
			return User{}, err
		}
		// Nothing stops the update now: the username or email it sets was
		// taken when it ran, and given up since.
		field := "email"
		if _, ok := up.Set["username"]; ok {
			field = "username"
		}
		return User{}, &ConflictError{Field: field}
	}
	if err != nil {
		return User{}, wrap(fmt.Sprintf("update user %d", id), err)
	}
	return u, nil
}

// changePassword checks up.OldPassword against user id's password and
// hashes up.Password. It reads the password hash without a lock and holds
// no connection while it hashes, so that a wait for a hashing slot holds up
// no one else: the update then replaces the hash only if it is still the
// one checked. An update that would be refused anyway is refused before
// any hashing.
func (s *Store) changePassword(ctx context.Context, id int64, up UserUpdate) (passwordChange, error) {
	st, err := s.userState(ctx, id, up)
	if err != nil {
		return passwordChange{}, err
	}
	if err := st.refusal(up, ""); err != nil {
		return passwordChange{}, err
	}
	ok, err := s.hasher.Check(ctx, up.OldPassword, st.hash)
	if err != nil {
		return passwordChange{}, err
	}
	if !ok {
		return passwordChange{}, ErrWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, *up.Password)
	if err != nil {
		return passwordChange{}, err
	}
	return passwordChange{old: st.hash, new: hash}, nil
}
