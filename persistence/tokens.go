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
// keep, and when it expires.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// tokenHash is what the tokens table keys on. A token is 128 random bits, so
// one unsalted SHA-256 is enough to make the stored hash useless to a thief.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
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
	if _, err := s.pool.Exec(ctx, insertToken, tokenHash(t.Value), id, now, t.ExpiresAt); err != nil {
		return Token{}, wrap("login", err)
	}
	return t, nil
}

// selectCaller finds the user of a live token and, at most once a minute per
// user, records that they were seen, all in one statement.
const selectCaller = `
	WITH t AS (
		SELECT user_id FROM tokens WHERE hash = $1 AND expires_at > $2
	), seen AS (
		UPDATE users SET last_seen = $2
		WHERE id = (SELECT user_id FROM t)
		  AND (last_seen IS NULL OR last_seen <= $2 - interval '1 minute')
		RETURNING id, last_seen, version, changed_at
	)
	SELECT ` + userColumns + `, seen.last_seen, seen.version, seen.changed_at
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id`

// Authenticate returns the user holding token, or ErrInvalidToken when the
// token is unknown, expired or revoked. Recording last_seen makes a new
// version of the user; PriorVersion keeps the one before it.
func (s *Store) Authenticate(ctx context.Context, token string) (User, error) {
	var (
		u           User
		seen        *time.Time
		seenVersion *int64
		seenChanged *time.Time
	)
	err := scanUser(s.pool.QueryRow(ctx, selectCaller, tokenHash(token), s.now()), &u, &seen, &seenVersion, &seenChanged)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, wrap("authenticate", err)
	}
	u.PriorVersion = u.Version
	if seen != nil {
		u.LastSeen, u.Version, u.ChangedAt = seen, *seenVersion, *seenChanged
	}
	return u, nil
}

// selectCallerAndVersion is selectCaller that also reads the version of
// user $3, so that a conditional GET of a user is one statement.
const selectCallerAndVersion = `
	WITH t AS (
		SELECT user_id FROM tokens WHERE hash = $1 AND expires_at > $2
	), seen AS (
		UPDATE users SET last_seen = $2
		WHERE id = (SELECT user_id FROM t)
		  AND (last_seen IS NULL OR last_seen <= $2 - interval '1 minute')
		RETURNING id, last_seen, version, changed_at
	)
	SELECT ` + userColumns + `, seen.last_seen, seen.version, seen.changed_at, v.version, v.changed_at
	FROM t JOIN users u ON u.id = t.user_id
	LEFT JOIN seen ON seen.id = u.id
	LEFT JOIN users v ON v.id = $3`

// AuthenticateAndVersion is Authenticate that also returns the version of
// user target and when it last changed, in the same statement; the version
// is 0 when there is no such user.
func (s *Store) AuthenticateAndVersion(ctx context.Context, token string, target int64) (User, int64, time.Time, error) {
	var (
		u           User
		seen        *time.Time
		seenVersion *int64
		seenChanged *time.Time
		version     *int64
		changed     *time.Time
	)
	err := scanUser(s.pool.QueryRow(ctx, selectCallerAndVersion, tokenHash(token), s.now(), target), &u,
		&seen, &seenVersion, &seenChanged, &version, &changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, 0, time.Time{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, 0, time.Time{}, wrap("authenticate", err)
	}
	u.PriorVersion = u.Version
	if seen != nil {
		u.LastSeen, u.Version, u.ChangedAt = seen, *seenVersion, *seenChanged
	}
	switch {
	case target == u.ID:
		return u, u.Version, u.ChangedAt, nil
	case version == nil:
		return u, 0, time.Time{}, nil
	}
	return u, *version, *changed, nil
}

const deleteToken = `DELETE FROM tokens WHERE hash = $1 AND expires_at > $2`

// RevokeToken revokes token, or gives ErrInvalidToken when it is unknown,
// expired or already revoked.
func (s *Store) RevokeToken(ctx context.Context, token string) error {
	tag, err := s.pool.Exec(ctx, deleteToken, tokenHash(token), s.now())
	if err != nil {
		return wrap("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrInvalidToken
	}
	return nil
}
