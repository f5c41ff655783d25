package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the embedded migrations that have not run yet, each in its
// own transaction, in file-name order, and records them. Several processes
// may call it at once: on PostgreSQL an advisory lock serialises them; on
// SQLite the immediate transaction does.
func (d *DB) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sort.Strings(names)
	if _, err := d.db.ExecContext(ctx, d.migrationSQL(
		`create table if not exists schema_migrations (name text primary key, applied_at {{time}} not null)`)); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		err = d.inTx(ctx, func(tx *Tx) error {
			if d.dialect == Postgres {
				if _, err := tx.ExecContext(ctx, `select pg_advisory_xact_lock(7420113)`); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, `select count(*) from schema_migrations where name = $1`, base).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if step := goMigrations[base]; step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			for _, stmt := range splitSQL(d.migrationSQL(string(body))) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			_, err := tx.ExecContext(ctx, `insert into schema_migrations (name, applied_at) values ($1, $2)`, base, tx.now)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	if d.rollups != nil {
		// Roll-ups written with their blocks now move the watermark.
		d.rollups.marked.Store(true)
	}
	// History and values name attributes by code from now on (the Go
	// steps of older migrations wrote names, which 0030 turned into codes).
	d.attrs.ready.Store(true)
	return nil
}

// goMigrations are steps SQL cannot express, run in the migration's
// transaction before its SQL.
var goMigrations = map[string]func(ctx context.Context, tx *Tx) error{
	"0016_instances_to_blocks": instancesToBlocks,
	"0018_fill_values":         fillValues,
	"0019_bbox_fill":           fillBoxes,
}

// splitSQL splits a migration into statements on semicolons at line ends.
// Migrations are ours, so this simple rule is enough: no semicolons at the
// end of a line inside string literals.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
