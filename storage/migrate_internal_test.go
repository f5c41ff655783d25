package storage

import (
	"context"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// TestInstancesToBlocks moves history written one row per instance
// (migrations 0010–0015) into blocks, the step migration 0016 runs.
func TestInstancesToBlocks(t *testing.T) {
	ctx := context.Background()
	d := openSQLite(t)
	const typ, pm = "https://example.org/AQ", "https://example.org/pm25"
	e := &cityops.Entity{ID: "urn:x:legacy", Type: typ, Attrs: map[string][]cityops.Attr{pm: {{"type": "Property", "value": 3.0, "observedAt": "2026-01-01T10:00:00Z"}}}}
	if err := d.CreateEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	// The old table, as 0010 made it, with three instances in it.
	if _, err := d.db.Exec(`delete from entity_blocks; delete from entity_rollups;
		create table entity_instances (id integer primary key autoincrement, entity_pk bigint not null, attr text not null,
		dataset_id text not null default '', observed_at timestamp not null, num double precision, value text not null)`); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{
		`{"type":"Property","value":1,"observedAt":"2026-01-01T08:00:00Z"}`,
		`{"type":"Property","value":"offline","observedAt":"2026-01-01T08:30:00Z"}`,
		`{"type":"Property","value":3,"unitCode":"GQ","observedAt":"2026-01-02T09:00:00Z","datasetId":"urn:x:b"}`,
	} {
		at := []time.Time{time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC), time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)}[i]
		ds := []string{"", "", "urn:x:b"}[i]
		if _, err := d.db.Exec(`insert into entity_instances (entity_pk, attr, dataset_id, observed_at, value) values (1, $1, $2, $3, $4)`, pm, ds, at, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.inTx(ctx, func(tx *Tx) error { return instancesToBlocks(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	hist, err := d.History(ctx, "", e.ID, pm, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), 10, false)
	if err != nil || len(hist) != 3 || hist[0].Value["value"] != 1.0 || hist[1].Value["value"] != "offline" ||
		hist[2].Value["datasetId"] != "urn:x:b" || hist[2].Value["unitCode"] != "GQ" {
		t.Fatalf("history after the move = %+v, %v", hist, err)
	}
	agg, err := d.Aggregate(ctx, "", e.ID, pm, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), 24*time.Hour, false)
	if err != nil || len(agg) != 2 || agg[0].Count != 2 || agg[0].Numbers != 1 || agg[1].Sum != 3 {
		t.Fatalf("roll-ups after the move = %+v, %v", agg, err)
	}
}

// openSQLite opens a migrated SQLite database in a temporary directory,
// closed when the test ends (the internal tests' storagetest.Open, which
// this package cannot import).
func openSQLite(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}
