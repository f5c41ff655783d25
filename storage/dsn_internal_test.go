package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLitePathWithHash: a data directory whose name holds '#', '?' or a
// space opens the database inside it, not at a path cut short.
func TestSQLitePathWithHash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "city #1? data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(filepath.Join(dir, "cityops.db")); err != nil {
		t.Fatalf("the database is not in the data directory: %v", err)
	}
}

// TestBadURLHidesPassword: a PostgreSQL URL that does not parse is refused
// without echoing the password in it.
func TestBadURLHidesPassword(t *testing.T) {
	const dsn = "postgres://cityops:s3cr%t@db.hue.gov.vn/cityops"
	_, err := Open(context.Background(), dsn, t.TempDir())
	if err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Fatalf("err = %v", err)
	}
	if r := redact(dsn); strings.Contains(r, "s3cr") {
		t.Fatalf("redact = %q", r)
	}
	if r := redact("postgres://cityops:secret@db/x"); strings.Contains(r, "secret") || !strings.Contains(r, "cityops:xxxxx@db") {
		t.Fatalf("redact = %q", r)
	}
}
