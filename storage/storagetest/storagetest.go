// Package storagetest gives tests a fresh, migrated database: SQLite in a
// temporary directory always, and PostgreSQL too when CITYOPS_TEST_PG holds
// a DSN (postgres://…). Each PostgreSQL test gets its own schema, dropped
// when the test ends.
package storagetest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/storage"
)

// PGEnv names the environment variable with the PostgreSQL test DSN.
const PGEnv = "CITYOPS_TEST_PG"

// Dialects returns the databases tests should run on.
func Dialects() []string {
	if os.Getenv(PGEnv) != "" {
		return []string{storage.SQLite, storage.Postgres}
	}
	return []string{storage.SQLite}
}

// Each runs fn as a subtest once per dialect, each with a fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

var seq atomic.Int64

// DSN returns a DSN for a fresh, empty database of the dialect, removed when
// the test ends: a file path for SQLite, a URL with its own search_path for
// PostgreSQL.
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == storage.SQLite {
		return t.TempDir() + "/test.db"
	}
	base := os.Getenv(PGEnv)
	if base == "" {
		t.Skipf("%s not set", PGEnv)
	}
	schema := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`create schema ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`drop schema ` + schema + ` cascade`); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// Open returns a fresh migrated database of the dialect, closed when the
// test ends. Password hashing is cheap in tests.
func Open(t testing.TB, dialect string) *storage.DB {
	t.Helper()
	ctx := context.Background()
	dsn := DSN(t, dialect)
	db, err := storage.Open(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db.PasswordParams = auth.TestParams
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// As serve runs it: roll-up sums in memory on SQLite.
	if err := db.DeferRollups(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
