// Package pgtest gives each test a PostgreSQL database of its own, cloned
// from a template database that is migrated once per test binary.
//
// A package's TestMain calls Main, and each test calls New:
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Main(m, migrateUp))
//	}
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		databaseURL := pgtest.New(t)
//		…
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pglocal"
)

// dropTimeout bounds the DROP DATABASE run when a test ends.
const dropTimeout = time.Minute

// current is the harness Main sets up for New. TestMain can hand values to
// the tests only through package state, so this one variable is the
// exception to the rule against package globals. Main sets it before the
// tests start, and it is only read afterwards.
var current *harness

// harness holds the connection and names shared by the tests of one binary.
type harness struct {
	// adminURL is the database the admin connection uses.
	adminURL string
	// template is the migrated database that New clones.
	template string
	// next numbers the databases New creates.
	next atomic.Int64

	// mu serializes the use of admin, which is not safe for concurrent
	// use. This also serializes the clones, which is needed anyway:
	// PostgreSQL refuses to copy a template another session is connected to.
	mu    sync.Mutex
	admin *pgx.Conn
}

// Main runs the tests of m, wrapped with a database, and returns the exit
// code for os.Exit. It uses the server at TEST_DATABASE_URL when that is set
// and otherwise starts a throwaway pglocal cluster in a temporary directory.
// There it creates a template database, named uniquely so that several test
// binaries can share a server, and calls migrate with the template's URL;
// migrate must close every connection it opens. After the tests it drops the
// template and stops the cluster. Any failure to set up is printed and makes
// the tests fail, never skip.
func Main(m *testing.M, migrate func(ctx context.Context, databaseURL string) error) int {
	// Main stands in for the test binary's main, so the root context is its.
	code, err := run(context.Background(), m, migrate)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// run does the work of Main; errors set up or tear down the database.
func run(ctx context.Context, m *testing.M, migrate func(ctx context.Context, databaseURL string) error) (code int, err error) {
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		var stop func() error
		adminURL, stop, err = startCluster(ctx)
		if err != nil {
			return 1, err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}

	template := fmt.Sprintf("mbtmpl_%d_%08x", os.Getpid(), rand.Uint32())
	templateURL, err := withDatabase(adminURL, template)
	if err != nil {
		return 1, err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 1, fmt.Errorf("pgtest: connect to the test server: %w", err)
	}
	h := &harness{adminURL: adminURL, template: template, admin: admin}
	defer func() { err = errors.Join(err, h.close(ctx)) }()
	if err := h.createTemplate(ctx, templateURL, migrate); err != nil {
		return 1, err
	}

	current = h
	return m.Run(), nil
}

// startCluster starts a throwaway cluster in a temporary directory. It
// returns the cluster's admin URL and a func that stops the cluster and
// removes the directory.
func startCluster(ctx context.Context) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: %w", err)
	}
	removeDir := func() error {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		return nil
	}
	// Fsync stays off: the cluster is thrown away.
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("pgtest: start a throwaway PostgreSQL (or set TEST_DATABASE_URL): %w", err), removeDir())
	}
	stop := func() error {
		var errs []error
		if err := srv.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: %w", err))
		}
		return errors.Join(append(errs, removeDir())...)
	}
	return srv.URL("postgres"), stop, nil
}

// New returns the URL of a new database cloned from the migrated template,
// dropped when t ends. It is safe to call from parallel tests; TestMain must
// have called Main.
func New(t testing.TB) string {
	t.Helper()
	h := current
	if h == nil {
		t.Fatal("pgtest: no template database: TestMain must call pgtest.Main")
	}
	name := fmt.Sprintf("%s_%d", h.template, h.next.Add(1))
	databaseURL, err := withDatabase(h.adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.exec(t.Context(), "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(h.template)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), dropTimeout)
		defer cancel()
		if err := h.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return databaseURL
}

// createTemplate creates h.template, at templateURL, and migrates it.
func (h *harness) createTemplate(ctx context.Context, templateURL string, migrate func(ctx context.Context, databaseURL string) error) error {
	if err := h.exec(ctx, "CREATE DATABASE "+ident(h.template)); err != nil {
		return fmt.Errorf("pgtest: create template database %s: %w", h.template, err)
	}
	if err := migrate(ctx, templateURL); err != nil {
		return fmt.Errorf("pgtest: migrate template database %s: %w", h.template, err)
	}
	// migrate should have closed its connections, but one left open would
	// make every clone fail.
	const terminate = `
		SELECT pg_terminate_backend(pid)
		FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`
	if err := h.exec(ctx, terminate, h.template); err != nil {
		return fmt.Errorf("pgtest: close connections to template database %s: %w", h.template, err)
	}
	return nil
}

// close drops the template database and closes the admin connection.
func (h *harness) close(ctx context.Context) error {
	var errs []error
	if err := h.exec(ctx, "DROP DATABASE IF EXISTS "+ident(h.template)+" WITH (FORCE)"); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: drop template database %s: %w", h.template, err))
	}
	if err := h.admin.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: close admin connection: %w", err))
	}
	return errors.Join(errs...)
}

// exec runs sql on the admin connection.
func (h *harness) exec(ctx context.Context, sql string, args ...any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.admin.Exec(ctx, sql, args...)
	return err
}

// withDatabase returns databaseURL with its database name replaced by
// dbname, keeping the user, host and query.
func withDatabase(databaseURL, dbname string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return "", fmt.Errorf("pgtest: parse database URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", errors.New("pgtest: database URL must have the form postgres://user@host:port/dbname")
	}
	u.Path = "/" + dbname
	u.RawPath = ""
	return u.String(), nil
}

// ident quotes name as an SQL identifier.
func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
