package migrations

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverVersion is the last of river's own migrations that migration 15
// applies: those of the river module in go.mod. Upgrading river to one with
// more needs a new migration that applies them, as this one does.
const riverVersion = 8

// createQueue is migration 15: the tables of the job queue (river's
// river_job, river_leader, river_queue and the rest), by river's own
// migrator, so that they come with ours, under goose's advisory lock, and
// every instance finds them there. River's migrator runs through pgx, not
// database/sql, so it takes one connection of goose's pool and applies
// each of river's migrations in a transaction of its own (one adds a value
// to an enum that the next uses, which PostgreSQL allows only once the
// first has committed); it skips what it finds applied, so a crash before
// goose records this migration leaves nothing for the next run to trip
// over.
var createQueue = goose.NewGoMigration(15, &goose.GoFunc{RunDB: upQueue}, &goose.GoFunc{RunDB: downQueue})

func upQueue(ctx context.Context, db *sql.DB) error {
	for v := 1; v <= riverVersion; v++ {
		if err := migrateQueue(ctx, db, rivermigrate.DirectionUp, v); err != nil {
			return err
		}
	}
	return nil
}

func downQueue(ctx context.Context, db *sql.DB) error {
	for v := riverVersion - 1; v >= -1; v-- {
		if v == 0 {
			continue
		}
		if err := migrateQueue(ctx, db, rivermigrate.DirectionDown, v); err != nil {
			return err
		}
	}
	return nil
}

// migrateQueue migrates river's tables up or down to version target (-1:
// none) in one transaction.
func migrateQueue(ctx context.Context, db *sql.DB, direction rivermigrate.Direction, target int) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
		if err != nil {
			return err
		}
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		if _, err := migrator.MigrateTx(ctx, tx, direction, &rivermigrate.MigrateOpts{TargetVersion: target}); err != nil {
			return fmt.Errorf("river: %w", err)
		}
		return tx.Commit(ctx)
	})
}
