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
	"github.com/jackc/pgx/v5/pgtype"
)

// Token is a bearer token as issued: its value, which the store does not
// keep, and when it expires.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// tokenHash is what the tokens table keys on. A token is 128 random bits, so
// one unsalted SHA-256 is enough to make the stored hash useless to a thief.
func tokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

const selectLogin = `SELECT id, password_hash FROM users WHERE lower(username) = lower($1)`

// insertToken stores a token and, in the same statement, forgets the user's
// expired ones, so that the table does not grow with every login.
const insertToken = `
	WITH gone AS (DELETE FROM tokens WHERE user_id = $2 AND expires_at <= $3)
	INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`

// Login checks a username (in any case) and password and issues a new token
// valid for ttl. A wrong username and a wrong password both give
// ErrBadCredentials, after the same work.
func (s *Store) Login(ctx context.Context, username, password string, ttl time.Duration) (Token, error) {
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
	if _, err := s.pool.Exec(ctx, insertToken, sum[:], id, now, t.ExpiresAt); err != nil {
		return Token{}, wrap("login", err)
	}
	return t, nil
}

// callerCTE finds the user of a live token ($1, at time $2) and, at most
// once a minute per user, records that they were seen. The statements that
// begin with it read the caller and what a handler needs besides, in one
// round trip.
const callerCTE = `
	WITH t AS (
		SELECT user_id FROM tokens WHERE hash = $1 AND expires_at > $2
	), seen AS (
		UPDATE users SET last_seen = $2
		WHERE id = (SELECT user_id FROM t)
		  AND (last_seen IS NULL OR last_seen <= $2 - interval '1 minute')
		RETURNING id, last_seen, version, changed_at
	)`

// callerColumns are what tokenCheck.scan reads first.
const callerColumns = userColumns + `, seen.last_seen, seen.version, seen.changed_at`

const selectCaller = callerCTE + `
	SELECT ` + callerColumns + `
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id`

// tokenCheck is the scratch space of one token check: the arguments of its
// statement and what the caller row is scanned into. Handed to pgx as
// interfaces, these would be heap allocations on every request;
// the store keeps them for the next check instead. The User a check
// returns shares no memory with it: pgx allocates anew whatever it scans
// behind a pointer.
//
// The times are pgtype.Timestamptz and the version a pgtype.Int8 because
// pgx encodes and scans those as they are, where for a *time.Time or an
// *int64 it would allocate, for every row, plans that wrap the time or
// follow the pointer.
type tokenCheck struct {
	hash   [sha256.Size]byte
	now    pgtype.Timestamptz
	target int64
	// args are the statement's $1, $2 and $3: hash, now and target.
	args [3]any

	user        User
	seen        pgtype.Timestamptz
	seenVersion pgtype.Int8
	seenChanged pgtype.Timestamptz
	// seenDest are the destinations of the columns after the user's.
	seenDest [3]any
}

// tokenCheck returns the scratch space for a check of token now, for a
// statement about target, from the store's pool of them (made on first
// need); s.checks.Put takes it back once its row is scanned.
func (s *Store) tokenCheck(token string, target int64) *tokenCheck {
	c, _ := s.checks.Get().(*tokenCheck)
	if c == nil {
		c = new(tokenCheck)
		c.args = [...]any{c.hash[:], &c.now, &c.target}
		c.seenDest = [...]any{&c.seen, &c.seenVersion, &c.seenChanged}
	}
	c.hash = tokenHash(token)
	c.now = pgtype.Timestamptz{Time: s.now(), Valid: true}
	c.target = target
	c.user = User{}
	return c
}

// scan reads a caller row, then extra. Recording last_seen makes a new
// version of the user; PriorVersion keeps the one before it.
func (c *tokenCheck) scan(row pgx.Row, extra ...any) (User, error) {
	err := scanUser(row, &c.user, append(c.seenDest[:], extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, wrap("authenticate", err)
	}
	u := c.user
	u.PriorVersion = u.Version
	if c.seen.Valid {
		seen := c.seen.Time
		u.LastSeen, u.Version, u.ChangedAt = &seen, c.seenVersion.Int64, c.seenChanged.Time
	}
	return u, nil
}

// Authenticate returns the user holding token, or ErrInvalidToken when the
// token is unknown, expired or revoked.
func (s *Store) Authenticate(ctx context.Context, token string) (User, error) {
	c := s.tokenCheck(token, 0)
	defer s.checks.Put(c)
	return c.scan(s.pool.QueryRow(ctx, selectCaller, c.args[:2]...))
}

const selectCallerAndUserVersion = callerCTE + `
	SELECT ` + callerColumns + `, v.version, v.changed_at
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id
	LEFT JOIN users v ON v.id = $3`

// AuthenticateAndVersion is Authenticate that also returns the version of
// user target and when it last changed, in the same statement; the version
// is 0 when there is no such user.
func (s *Store) AuthenticateAndVersion(ctx context.Context, token string, target int64) (User, int64, time.Time, error) {
	var (
		version *int64
		changed *time.Time
	)
	c := s.tokenCheck(token, target)
	defer s.checks.Put(c)
	u, err := c.scan(s.pool.QueryRow(ctx, selectCallerAndUserVersion, c.args[:]...), &version, &changed)
	switch {
	case err != nil:
		return User{}, 0, time.Time{}, err
	case target == u.ID:
		// The row read for target predates this request's last_seen.
		return u, u.Version, u.ChangedAt, nil
	case version == nil:
		return u, 0, time.Time{}, nil
	}
	return u, *version, *changed, nil
}

const selectCallerAndPostVersion = callerCTE + `
	SELECT ` + callerColumns + `, p.version, p.changed_at, a.id, a.username, a.email, a.version, a.changed_at
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id
	LEFT JOIN posts p ON p.id = $3
	LEFT JOIN users a ON a.id = p.author_id`

// AuthenticateAndPostVersion is Authenticate that also returns what the
// validators of post target are made of (as PostVersion does), in the same
// statement; the post's Version is 0 when there is no such post.
func (s *Store) AuthenticateAndPostVersion(ctx context.Context, token string, target int64) (User, Post, error) {
	var (
		version, authorID, authorVersion *int64
		changed, authorChanged           *time.Time
		username, email                  *string
	)
	c := s.tokenCheck(token, target)
	defer s.checks.Put(c)
	u, err := c.scan(s.pool.QueryRow(ctx, selectCallerAndPostVersion, c.args[:]...),
		&version, &changed, &authorID, &username, &email, &authorVersion, &authorChanged)
	if err != nil || version == nil {
		return u, Post{}, err
	}
	p := Post{ID: target, Version: *version, ChangedAt: *changed,
		Author: Author{ID: *authorID, Username: *username, Email: *email, Version: *authorVersion, ChangedAt: *authorChanged}}
	if p.Author.ID == u.ID {
		// The author row read predates this request's last_seen.
		p.Author.Version, p.Author.ChangedAt = u.Version, u.ChangedAt
	}
	return u, p, nil
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
