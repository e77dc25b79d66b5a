// Package migrations holds the database schema as goose SQL migrations,
// embedded in the binary.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver UpURL opens
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// FS holds the SQL migrations, in the order of their numbered names. Up
// runs them with the migrations written in Go (backfill.go, queue.go), by
// number.
//
//go:embed *.sql
var FS embed.FS

// goMigrations are the migrations written in Go.
var goMigrations = []*goose.Migration{backfillTags, createQueue}

// Count is how many migrations Up applies to an empty database.
func Count() int {
	files, _ := fs.Glob(FS, "*.sql") // the pattern is valid
	return len(files) + len(goMigrations)
}

// Up applies every pending migration to db under a PostgreSQL advisory
// lock, so that instances starting together take turns, and returns what it
// applied.
func Up(ctx context.Context, db *sql.DB) ([]*goose.MigrationResult, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS, goose.WithSessionLocker(locker),
		goose.WithGoMigrations(goMigrations...))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return results, nil
}

// UpURL applies every pending migration to the database at databaseURL,
// through a connection it closes before returning.
func UpURL(ctx context.Context, databaseURL string) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	_, err = Up(ctx, db)
	return err
}
