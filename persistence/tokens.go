package persistence

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token is a bearer token as issued: its value, which the store does not
// keep, the id of its session, and when it expires.
type Token struct {
	ID        int64
	Value     string
	ExpiresAt time.Time
}

// tokenHash is what the tokens table keys on. A token is 128 random bits, so
// one unsalted SHA-256 is enough to make the stored hash useless to a thief.
func tokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

const selectLogin = `SELECT id, password_hash FROM users WHERE lower(username) = lower($1)`

// insertToken stores a token, used at its creation by the client named $5
// (NULL for none), and, in the same statement, forgets the user's expired
// ones, so that the table does not grow with every login.
const insertToken = `
	WITH gone AS (DELETE FROM tokens WHERE user_id = $2 AND expires_at <= $3)
	INSERT INTO tokens (hash, user_id, created_at, expires_at, last_used_at, user_agent)
	VALUES ($1, $2, $3, $4, $3, NULLIF($5, ''))
	RETURNING id`

// LoginFrom checks a username (in any case) and password and issues a new
// token valid for ttl, to the client that names itself userAgent (its
// User-Agent header), which the token's session shows: without control
// characters and cut to 256 characters; "" for none. A wrong username and
// a wrong password both give ErrBadCredentials, after the same work.
func (s *Store) LoginFrom(ctx context.Context, username, password string, ttl time.Duration, userAgent string) (Token, error) {
	var (
		id   int64
		hash string
	)
	err := s.pool.QueryRow(ctx, selectLogin, username).Scan(&id, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Token{}, wrap("login", err)
	}
	ok, err := s.hasher.Check(ctx, password, hash)
	if err != nil {
		return Token{}, err
	}
	if !ok {
		return Token{}, ErrBadCredentials
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, fmt.Errorf("persistence: login: %w", err)
	}
	now := s.now()
	t := Token{Value: hex.EncodeToString(raw), ExpiresAt: now.Add(ttl)}
	sum := tokenHash(t.Value)
	err = s.pool.QueryRow(ctx, insertToken, sum[:], id, now, t.ExpiresAt, cleanUserAgent(userAgent)).Scan(&t.ID)
	if err != nil {
		return Token{}, wrap("login", err)
	}
	return t, nil
}

// tokenCTE finds the user of a live token ($1, at time $2): the start of
// callerCTE and of readOnlyCallerCTE.
const tokenCTE = `
	WITH t AS (
		SELECT user_id, expires_at FROM tokens WHERE hash = $1 AND expires_at > $2
	)`

// callerCTE finds the user of a live token ($1, at time $2) and, at most
// once a minute per user, records that they were seen, and at most once a
// minute per token, that it was used (used, which a statement that shows
// sessions reads: the rest of it sees tokens as they were before). The
// statements that begin with it read the caller and what a handler needs
// besides, in one round trip.
const callerCTE = tokenCTE + `, seen AS (
		UPDATE users SET last_seen = $2
		WHERE id = (SELECT user_id FROM t)
		  AND (last_seen IS NULL OR last_seen <= $2 - interval '1 minute')
		RETURNING id, last_seen, version, changed_at
	), used AS (
		UPDATE tokens SET last_used_at = $2
		WHERE hash = $1 AND expires_at > $2 AND last_used_at <= $2 - interval '1 minute'
		RETURNING id, last_used_at
	)`

// callerFrom is the start of the FROM of the statements that begin with
// callerCTE: the caller u, and no row at all for a token that is not live.
const callerFrom = `
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id`

// caller is the scan target of the caller's columns, which every statement
// that begins with callerCTE reads first: the user, then what recording
// last_seen made of them (NULL when it was recorded less than a minute
// ago), then when the token expires.
type caller struct {
	User
	seen        *time.Time
	seenVersion int64
	seenChanged time.Time
	expires     time.Time
}

func (c *caller) seenColumns() []column {
	return []column{{name: "last_seen", dest: timePtrDest{&c.seen}}, {name: "version", dest: int8Dest{&c.seenVersion}},
		{name: "changed_at", dest: timeDest{&c.seenChanged}}}
}

// callerColumns are the caller's columns.
var callerColumns = userColumns("u") + ", " + columnList("seen", new(caller).seenColumns()) + ", t.expires_at"

// dests are the scan destinations of the caller's columns.
func (c *caller) dests() []any {
	return append(dests(c.User.columns(), c.seenColumns()), timeDest{&c.expires})
}

// user is the caller as the request leaves them. Recording last_seen makes
// a new version of the user; PriorVersion and PriorChangedAt keep the one
// before it.
func (c *caller) user() User {
	u := c.User
	u.PriorVersion, u.PriorChangedAt = u.Version, u.ChangedAt
	if c.seen != nil {
		u.LastSeen, u.Version, u.ChangedAt = c.seen, c.seenVersion, c.seenChanged
	}
	return u
}

// callerRows are the rows of a statement that begins with callerCTE. Every
// row starts with the caller's columns, the same in each: Scan reads them
// from the first row and skips them after it.
type callerRows struct {
	pgx.Rows
	c    caller
	read bool
	// store remembers the caller as checked by the token of hash under
	// the number of changes number.
	store  *Store
	hash   [sha256.Size]byte
	number uint64
	// skip holds a nil destination for each of the caller's columns, then
	// those of the row's other columns.
	skip    []any
	callers int
}

// queryAsCaller runs query, a statement that begins with callerCTE, with
// the check of token as its $1 and $2, and args after them.
func (s *Store) queryAsCaller(ctx context.Context, query, token string, args ...any) (*callerRows, error) {
	hash, now, number := tokenHash(token), s.now(), s.readNumber()
	rows, err := s.pool.Query(ctx, s.seen.query(query, hash, now), append([]any{hash[:], now}, args...)...)
	if err != nil {
		return nil, err
	}
	return &callerRows{Rows: rows, store: s, hash: hash, number: number}, nil
}

// Scan reads the current row: the caller's columns, then the others into
// dest.
func (r *callerRows) Scan(dest ...any) error {
	if !r.read {
		r.read = true
		callerDest := r.c.dests()
		r.callers = len(callerDest)
		r.skip = make([]any, r.callers, r.callers+len(dest))
		return r.Rows.Scan(append(callerDest, dest...)...)
	}
	r.skip = append(r.skip[:r.callers], dest...)
	return r.Rows.Scan(r.skip...)
}

// caller returns the caller once the rows are read, or ErrInvalidToken when
// there was no row: the token is not live.
func (r *callerRows) caller() (User, error) {
	if err := r.Err(); err != nil {
		return User{}, err
	}
	if !r.read {
		return User{}, ErrInvalidToken
	}
	r.store.remember(r.hash, &r.c, r.number)
	return r.c.user(), nil
}

// collectAsCaller runs query, a statement that begins with callerCTE, with
// the check of token as its $1 and $2 and args after them. It scans every
// row into dest and returns the caller, and a copy of *item for each row
// that has one, which the id at *id tells: a statement that found no item
// still returns its one row, with the caller, and the item's columns NULL.
func collectAsCaller[T any](ctx context.Context, s *Store, query, token string, args, dest []any, item *T, id *int64) (User, []T, error) {
	rows, err := s.queryAsCaller(ctx, query, token, args...)
	if err != nil {
		return User{}, nil, err
	}
	defer rows.Close()
	items, err := scanAll(rows, dest, item, id)
	if err != nil {
		return User{}, nil, err
	}
	caller, err := rows.caller()
	return caller, items, err
}

// oneAsCaller is collectAsCaller for a statement that reads at most one
// item, named op in errors: the caller, and the item or ErrNotFound.
func oneAsCaller[T any](ctx context.Context, s *Store, op, query, token string, args, dest []any, item *T, id *int64) (User, T, error) {
	var zero T
	caller, found, err := collectAsCaller(ctx, s, query, token, args, dest, item, id)
	if err != nil {
		return User{}, zero, wrap(op, err)
	}
	if len(found) == 0 {
		return caller, zero, ErrNotFound
	}
	return caller, found[0], nil
}

// scanAll scans every row of rows into dest and returns a copy of *item for
// each row whose item is present: its id, at *id, is not zero.
func scanAll[T any](rows pgx.Rows, dest []any, item *T, id *int64) ([]T, error) {
	var items []T
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if *id != 0 {
			items = append(items, *item)
		}
	}
	return items, rows.Err()
}

var selectCaller = callerCTE + `
	SELECT ` + callerColumns + callerFrom

// Authenticate returns the user holding token, or ErrInvalidToken when the
// token is unknown, expired or revoked.
func (s *Store) Authenticate(ctx context.Context, token string) (User, error) {
	var c caller
	hash, now, number := tokenHash(token), s.now(), s.readNumber()
	err := s.pool.QueryRow(ctx, s.seen.query(selectCaller, hash, now), hash[:], now).Scan(c.dests()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, wrap("authenticate", err)
	}
	s.remember(hash, &c, number)
	return c.user(), nil
}

const deleteToken = `DELETE FROM tokens WHERE hash = $1 AND expires_at > $2`

// RevokeToken revokes token, or gives ErrInvalidToken when it is unknown,
// expired or already revoked.
func (s *Store) RevokeToken(ctx context.Context, token string) error {
	sum := tokenHash(token)
	tag, err := s.pool.Exec(ctx, deleteToken, sum[:], s.now())
	if err != nil {
		return wrap("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrInvalidToken
	}
	return nil
}
