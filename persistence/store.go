// Package persistence stores users, follows, posts and tokens in PostgreSQL
// through pgx, with plain SQL.
package persistence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors the store returns; callers test them with errors.Is.
var (
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write would break a uniqueness rule; a
	// *ConflictError says which field.
	ErrConflict = errors.New("conflict")
	// ErrForbidden means the thing exists but belongs to someone else.
	ErrForbidden = errors.New("forbidden")
	// ErrStale means a conditional write found the thing changed since the
	// version it was given.
	ErrStale = errors.New("stale version")
	// ErrUnavailable means the database could not be reached or is
	// shutting down: the request may succeed if tried again shortly.
	ErrUnavailable = errors.New("database unavailable")
	// ErrBadCredentials means a username and password do not match a user.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrInvalidToken means a token is unknown, expired or revoked.
	ErrInvalidToken = errors.New("invalid token")
	// ErrSelfFollow means a user asked to follow themself.
	ErrSelfFollow = errors.New("cannot follow oneself")
	// ErrWrongPassword means the old password given to change a password is
	// not the user's.
	ErrWrongPassword = errors.New("wrong password")
)

// ConflictError is an ErrConflict on one field, such as "username".
type ConflictError struct {
	Field string
}

// Error says which field conflicts.
func (e *ConflictError) Error() string { return "conflict on " + e.Field }

// Is makes errors.Is(err, ErrConflict) true for a *ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Store reads and writes the database through a pgx pool.
type Store struct {
	pool   *pgxpool.Pool
	hasher *Hasher
	// feedBudget is the most index entries for which the feed merges
	// per-author lists (feedFewBudget; tests choose a plan with it).
	feedBudget int64
	// jobs is the queue of mails and exports (jobs.go).
	jobs *jobs
	// seen says which token checks may run read only (seen.go).
	seen *seenTokens
	// posts collects the posts written together (batch.go).
	posts *postBatcher
	// known remembers the users of live tokens, once Watch is called
	// (callers.go).
	known *knownTokens
	// Now is the clock for every timestamp the store writes and for token
	// expiry, so that tests can fix it and so that one clock (the server's)
	// decides both when a token expires and whether it has.
	Now func() time.Time
}

// PoolConfig parses the database URL into the pool configuration the
// store's statements expect, keeping what the URL sets itself:
//
//   - A connect timeout of one second, so that a database that does not
//     answer becomes a 503 quickly, not a connection attempt as long as the
//     operating system's.
//   - Generic plans and no JIT compilation. Each statement here is prepared
//     once per connection (pgx's statement cache) and written to be index
//     scans bounded by its page whatever its arguments. Left to choose,
//     PostgreSQL plans a paged statement anew at every execution: the
//     generic plan's cost for LIMIT $n is estimated for an unknown limit
//     and loses to the custom plan for LIMIT 10 every time, and planning
//     the users page costs more than running it (pages of 10 a second on
//     this machine: 1,550 re-planned, 2,700 generic). That same estimate
//     makes a generic plan look costly enough to compile with LLVM, at each
//     execution: 20-120 ms for a 1 ms page.
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = time.Second
	}
	for name, value := range map[string]string{"plan_cache_mode": "force_generic_plan", "jit": "off"} {
		if _, set := cfg.ConnConfig.RuntimeParams[name]; !set {
			cfg.ConnConfig.RuntimeParams[name] = value
		}
	}
	return cfg, nil
}

// SetStatementTimeout bounds every statement on the connections of cfg to
// d, PostgreSQL's statement_timeout, unless the URL set one; 0 leaves
// statements unbounded. The server gives it less than a request may take:
// a statement that would outlive its request stops in the database, which
// keeps the connection, rather than by a cancel request racing the
// deadline, and whatever a statement finds to do (a long scan, a lock
// held elsewhere) the work stays bounded even if the client has gone. A
// statement that runs past it is ErrUnavailable, a 503, like a database
// out of reach.
func SetStatementTimeout(cfg *pgxpool.Config, d time.Duration) {
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; set || d <= 0 {
		return
	}
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// NewStore returns a store over pool that hashes passwords with hasher.
// It queues jobs from the start and works them once StartJobs is called.
func NewStore(pool *pgxpool.Pool, hasher *Hasher) *Store {
	s := &Store{pool: pool, hasher: hasher, feedBudget: feedFewBudget, Now: time.Now, seen: newSeenTokens(),
		posts: &postBatcher{}}
	s.jobs = newJobs(s)
	return s
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// PoolStat returns the connection pool's statistics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }

// HashQueue returns how many password hashes wait for a slot and how many
// run.
func (s *Store) HashQueue() (waiting, running int) { return s.hasher.Queue() }

func (s *Store) now() time.Time {
	// Microseconds are what PostgreSQL keeps; truncating here keeps a value
	// the same before and after a round trip through the database.
	return s.Now().UTC().Truncate(time.Microsecond)
}

// uniqueField maps a unique violation to the field it concerns, or "".
func uniqueField(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return ""
	}
	switch pgErr.ConstraintName {
	case "users_username_key":
		return "username"
	case "users_email_key":
		return "email"
	}
	return "unknown"
}

// wrap wraps err with the operation op, turning unique violations into a
// *ConflictError and a lost database into ErrUnavailable.
func wrap(op string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	if f := uniqueField(err); f != "" {
		return &ConflictError{Field: f}
	}
	if unavailable(err) {
		return fmt.Errorf("persistence: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("persistence: %s: %w", op, err)
}

// unavailable reports whether err means the database is out of reach
// rather than that the statement failed: no connection, a connection that
// broke, a server shutting down or starting up, or a deadline passed.
func unavailable(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		// Class 08 is connection exceptions; 57P01-57P03 are shutdowns and
		// a server not accepting connections yet; 57014 a statement
		// canceled, by statement_timeout or by a cancel request.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "57014"
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
