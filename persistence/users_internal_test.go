package persistence

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestHashingHoldsNothing holds the hasher's one slot and, each time a
// registration, a login or a password change waits for it, looks at what
// the operation holds meanwhile: no connection of the pool, and no lock on
// the user's row. A password change hashes twice (the old password, then
// the new one), the others once.
func TestHashingHoldsNothing(t *testing.T) {
	t.Parallel()
	newPassword := "new-password"
	for _, tt := range []struct {
		name  string
		waits int
		op    func(ctx context.Context, s *Store, id int64) error
	}{
		{"registration", 1, func(ctx context.Context, s *Store, _ int64) error {
			_, err := s.CreateUser(ctx, NewUser{Username: "bob", Email: "bob@example.com", Password: "a-password"})
			return err
		}},
		{"login", 1, func(ctx context.Context, s *Store, _ int64) error {
			_, err := s.Login(ctx, "susan", "old-password", time.Hour)
			return err
		}},
		{"password change", 2, func(ctx context.Context, s *Store, id int64) error {
			_, err := s.UpdateUser(ctx, id, UserUpdate{Password: &newPassword, OldPassword: "old-password"})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pool := NewTestStore(t)
			// Hashes that take milliseconds, not the microseconds of the
			// tests' usual parameters: the test hands the slot over and
			// takes it back, and an operation that hashes twice must not
			// finish its first hash and start its second before the test
			// has asked for the slot again.
			s.hasher.params = &argon2id.Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
			u, err := s.CreateUser(t.Context(), NewUser{Username: "susan", Email: "susan@example.com", Password: "old-password"})
			if err != nil {
				t.Fatal(err)
			}
			checkHoldsNothingWhileHashing(t, s, pool, u.ID, tt.waits, func(ctx context.Context) error { return tt.op(ctx, s, u.ID) })
		})
	}
}

// checkHoldsNothingWhileHashing runs op with the hasher's only slot held
// by the test, and hands the slot over each time op waits for it, after
// checking that op holds no connection and no lock on user id's row.
func checkHoldsNothingWhileHashing(t *testing.T, s *Store, pool *pgxpool.Pool, id int64, wantWaits int, op func(context.Context) error) {
	t.Helper()
	ctx := t.Context()
	s.hasher.slots = make(chan struct{}, 1)
	s.hasher.slots <- struct{}{} // the test holds the only slot
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	for waits := 0; ; {
		select {
		case err := <-done:
			<-s.hasher.slots
			if err != nil || waits != wantWaits {
				t.Fatalf("%v after %d waits for a hashing slot, want %d", err, waits, wantWaits)
			}
			return
		case <-time.After(time.Millisecond):
		}
		if w, _ := s.hasher.Queue(); w == 0 {
			continue
		}
		waits++
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Errorf("wait %d for a hashing slot: %d connections held", waits, n)
		}
		lockCtx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := pool.Exec(lockCtx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE NOWAIT`, id)
		cancel()
		if err != nil {
			t.Errorf("wait %d for a hashing slot: the user's row is locked: %v", waits, err)
		}
		// Hand the slot over, and take it back once that hash is done.
		<-s.hasher.slots
		s.hasher.slots <- struct{}{}
	}
}

// susanAndBob registers susan and bob, with the password 12345678, and
// returns their ids.
func susanAndBob(t *testing.T, s *Store) []int64 {
	t.Helper()
	var ids []int64
	for _, name := range []string{"susan", "bob"} {
		u, err := s.CreateUser(t.Context(), NewUser{Username: name, Email: name + "@example.com", Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

// errorTracer records the errors of the statements of a pool.
type errorTracer struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (e *errorTracer) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	var pgErr *pgconn.PgError
	if errors.As(data.Err, &pgErr) {
		e.mu.Lock()
		e.errs = append(e.errs, data.Err)
		e.mu.Unlock()
	}
}

// TestTakenNameOrEmailRaisesNoError: an update to a username or email
// another user has is refused without a unique violation, whose detail
// would write the email into the database server's log.
func TestTakenNameOrEmailRaisesNoError(t *testing.T) {
	t.Parallel()
	s, _ := NewTestStore(t)
	tracer := &errorTracer{}
	cfg := s.pool.Config()
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	traced := NewStore(pool, s.hasher)
	ctx := t.Context()
	ids := susanAndBob(t, traced)
	newPassword := "a-new-password"
	for _, tt := range []struct {
		field string
		up    UserUpdate
	}{
		{"email", UserUpdate{Set: map[string]string{"email": "BOB@example.com"}}},
		{"username", UserUpdate{Set: map[string]string{"username": "Bob", "about_me": "hi"}}},
		{"email", UserUpdate{Set: map[string]string{"email": "bob@example.com"}, Password: &newPassword, OldPassword: "12345678"}},
	} {
		_, err := traced.UpdateUser(ctx, ids[0], tt.up)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("update %v: %v, want a conflict on %s", tt.up.Set, err, tt.field)
		}
	}
	if len(tracer.errs) > 0 {
		t.Errorf("statements failed: %v", tracer.errs)
	}
}

// TestRacingEmailChanges: of two users changing to one new email at once,
// exactly one gets it, the unique index deciding.
func TestRacingEmailChanges(t *testing.T) {
	t.Parallel()
	s, _ := NewTestStore(t)
	ctx := t.Context()
	ids := susanAndBob(t, s)
	for round := range 20 {
		email := fmt.Sprintf("race%d@example.com", round)
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				_, errs[i] = s.UpdateUser(ctx, id, UserUpdate{Set: map[string]string{"email": email}})
			})
		}
		wg.Wait()
		var ce *ConflictError
		won, lost := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.As(err, &ce) && ce.Field == "email":
				lost++
			default:
				t.Errorf("round %d: %v", round, err)
			}
		}
		if won != 1 || lost != 1 {
			t.Errorf("round %d: %d won and %d lost, want one of each", round, won, lost)
		}
	}
}

// TestRefusalsBeforeHashing: a registration of a taken name or email hashes
// nothing; a password change with a wrong old password checks it and
// hashes nothing else; one that would be refused anyway hashes nothing.
func TestRefusalsBeforeHashing(t *testing.T) {
	t.Parallel()
	s, _ := NewTestStore(t)
	ctx := t.Context()
	susan := susanAndBob(t, s)[0]
	newPassword, stale := "a-new-password", int64(-1)
	for _, tt := range []struct {
		name   string
		do     func() error
		want   error
		hashes int64
	}{
		{"registration of a taken name", func() error {
			_, err := s.CreateUser(ctx, NewUser{Username: "SUSAN", Email: "other@example.com", Password: "12345678"})
			return err
		}, ErrConflict, 0},
		{"registration of a taken email", func() error {
			_, err := s.CreateUser(ctx, NewUser{Username: "other", Email: "Susan@example.com", Password: "12345678"})
			return err
		}, ErrConflict, 0},
		{"a wrong old password", func() error {
			_, err := s.UpdateUser(ctx, susan, UserUpdate{Password: &newPassword, OldPassword: "a-guess"})
			return err
		}, ErrWrongPassword, 1},
		{"a password change to a taken email", func() error {
			_, err := s.UpdateUser(ctx, susan, UserUpdate{Set: map[string]string{"email": "bob@example.com"},
				Password: &newPassword, OldPassword: "12345678"})
			return err
		}, ErrConflict, 0},
		{"a password change of a stale version", func() error {
			_, err := s.UpdateUser(ctx, susan, UserUpdate{Password: &newPassword, OldPassword: "12345678", Version: &stale})
			return err
		}, ErrStale, 0},
	} {
		before := s.HashesDone()
		err := tt.do()
		if hashes := s.HashesDone() - before; !errors.Is(err, tt.want) || hashes != tt.hashes {
			t.Errorf("%s: %v after %d hashes, want %v after %d", tt.name, err, hashes, tt.want, tt.hashes)
		}
	}
}
