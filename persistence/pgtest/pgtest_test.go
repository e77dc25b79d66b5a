package pgtest_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pgtest"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, migrate))
}

// migrate stands in for the real migrations: one table, plain SQL.
func migrate(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close(ctx)
	const createNotes = `
		CREATE TABLE notes (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			body text NOT NULL
		)`
	if _, err := conn.Exec(ctx, createNotes); err != nil {
		return fmt.Errorf("migrate: create notes: %w", err)
	}
	return nil
}

func TestNewIsolatesTests(t *testing.T) {
	for _, body := range []string{"first", "second"} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			conn := connect(t, pgtest.New(t))
			ctx := t.Context()

			if _, err := conn.Exec(ctx, "INSERT INTO notes (body) VALUES ($1)", body); err != nil {
				t.Fatalf("insert: %v", err)
			}
			rows, err := conn.Query(ctx, "SELECT body FROM notes ORDER BY id")
			if err != nil {
				t.Fatalf("select: %v", err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("select: %v", err)
			}
			if want := []string{body}; !slices.Equal(got, want) {
				t.Errorf("notes = %q, want %q", got, want)
			}
		})
	}
}

func TestNewURL(t *testing.T) {
	t.Parallel()
	databaseURL := pgtest.New(t)
	conn := connect(t, databaseURL)

	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(u.Path, "/"); got != want {
		t.Errorf("connected to database %q, want %q from %s", got, want, databaseURL)
	}
	if !strings.HasPrefix(got, "mbtmpl_") {
		t.Errorf("database %q is not named after the template", got)
	}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		// The throwaway cluster is as private as the server's: no TCP.
		var listen string
		if err := conn.QueryRow(t.Context(), "SHOW listen_addresses").Scan(&listen); err != nil {
			t.Fatal(err)
		}
		if listen != "" || !strings.HasPrefix(u.Query().Get("host"), "/") {
			t.Errorf("throwaway cluster: listen_addresses %q, URL %s; want no TCP, a socket directory", listen, databaseURL)
		}
	}
}

func TestNewDropsDatabase(t *testing.T) {
	t.Parallel()
	var dropped string
	t.Run("uses a database", func(t *testing.T) {
		u, err := url.Parse(pgtest.New(t))
		if err != nil {
			t.Fatal(err)
		}
		dropped = strings.TrimPrefix(u.Path, "/")
	})

	conn := connect(t, pgtest.New(t))
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", dropped).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %q still exists after its test ended", dropped)
	}
}

// connect opens a connection closed when t ends.
func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return conn
}
