package storage

import (
	"context"
	"os"
	"path/filepath"
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
