package persistence_test

import (
	"errors"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// TestSetStatementTimeout checks what SetStatementTimeout asks of the
// connections, that a URL that sets its own timeout is obeyed, and that a
// statement past the timeout is ErrUnavailable.
func TestSetStatementTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url     string
		timeout time.Duration
		want    string
		set     bool
	}{
		{"postgres://db.example/microblog", 2400 * time.Millisecond, "2400", true},
		{"postgres://db.example/microblog", 0, "", false},
		{"postgres://db.example/microblog?statement_timeout=5s", time.Second, "5s", true},
	} {
		cfg, err := persistence.PoolConfig(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		persistence.SetStatementTimeout(cfg, tt.timeout)
		if got, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; got != tt.want || set != tt.set {
			t.Errorf("%s with %s: statement_timeout %q (set: %v), want %q", tt.url, tt.timeout, got, set, tt.want)
		}
	}
	_, fresh := persistence.NewTestStore(t)
	cfg := fresh.Config()
	persistence.SetStatementTimeout(cfg, 150*time.Millisecond)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var setting string
	if err := pool.QueryRow(t.Context(), `SHOW statement_timeout`).Scan(&setting); err != nil || setting != "150ms" {
		t.Errorf("a pool connection has statement_timeout %q (%v), want 150ms", setting, err)
	}
	// A lock held elsewhere keeps the statement waiting past its time.
	tx, err := fresh.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(t.Context()) })
	if _, err := tx.Exec(t.Context(), `LOCK TABLE posts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	hasher, err := persistence.NewHasher(&argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := persistence.NewStore(pool, hasher).Posts(t.Context(), "0123456789abcdef0123456789abcdef", persistence.Page{Limit: 10}); !errors.Is(err, persistence.ErrUnavailable) {
		t.Errorf("a statement past the timeout: %v, want ErrUnavailable", err)
	}
}
