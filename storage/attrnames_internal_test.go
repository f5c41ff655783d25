package storage

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
)

// TestAttrCodesMigration writes values, history and roll-ups by
// attribute name, as before migration 0030, runs 0030, and reads them
// back by code: the rows then hold codes, and queries, history and
// aggregation find what was written before and after.
func TestAttrCodesMigration(t *testing.T) {
	ctx := context.Background()
	d := openSQLite(t)
	const typ, pm = "https://example.org/AQ", "https://example.org/pm25"
	reading := func(v float64, at string) cityops.Attr {
		return cityops.Attr{"type": "Property", "value": v, "observedAt": at}
	}
	// As before 0030: the tables name attributes.
	d.attrs.ready.Store(false)
	old := &cityops.Entity{ID: "urn:x:old", Type: typ, Attrs: map[string][]cityops.Attr{pm: {reading(30, "2026-01-01T10:00:00Z")}}}
	if err := d.CreateEntity(ctx, old); err != nil {
		t.Fatal(err)
	}
	var named int
	if err := d.db.QueryRow(`select (select count(*) from entity_values where attr = $1) + (select count(*) from entity_blocks where attr = $1)
		+ (select count(*) from entity_rollups where attr = $1)`, pm).Scan(&named); err != nil || named != 4 {
		t.Fatalf("rows by name before the migration: %d, %v; want 4 (a value, a block, two roll-ups)", named, err)
	}
	if _, err := d.db.Exec(`drop table attr_names; delete from schema_migrations where name = '0030_attr_names'`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	code, err := d.attrCode(ctx, d.db, "", typ, pm)
	if err != nil || !regexp.MustCompile(`^[0-9]+$`).MatchString(code) {
		t.Fatalf("code of %s = %q, %v", pm, code, err)
	}
	var left int
	if err := d.db.QueryRow(`select (select count(*) from entity_values where attr <> $1) + (select count(*) from entity_blocks where attr <> $1)
		+ (select count(*) from entity_rollups where attr <> $1)`, code).Scan(&left); err != nil || left != 0 {
		t.Fatalf("rows not under the code %s after the migration: %d, %v", code, left, err)
	}
	// Written after the migration, under the same code.
	if errs, err := d.UpsertEntities(ctx, "", []*cityops.Entity{{ID: "urn:x:new", Type: typ, Attrs: map[string][]cityops.Attr{pm: {reading(50, "2026-01-01T11:00:00Z")}}}}, false); err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	var names int
	if err := d.db.QueryRow(`select count(*) from attr_names`).Scan(&names); err != nil || names != 1 {
		t.Fatalf("attr_names holds %d names, %v; want 1", names, err)
	}
	expr, err := q.Parse("pm25>20")
	if err != nil {
		t.Fatal(err)
	}
	expand := func(s string) string { return "https://example.org/" + s }
	found, n, err := d.FindEntities(ctx, cityops.EntityFilter{Types: []string{typ}, Q: expr, Expand: expand, Count: true})
	if err != nil || n != 2 || len(found) != 2 {
		t.Fatalf("pm25>20 finds %d (count %d), %v; want both", len(found), n, err)
	}
	expr, _ = q.Parse("pm25>40")
	if found, n, err = d.FindEntities(ctx, cityops.EntityFilter{Types: []string{typ}, Q: expr, Expand: expand, Count: true}); err != nil || n != 1 || len(found) != 1 || found[0].ID != "urn:x:new" {
		t.Fatalf("pm25>40 finds %v (count %d), %v; want urn:x:new", found, n, err)
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		id   string
		want float64
	}{{old.ID, 30}, {"urn:x:new", 50}} {
		hist, err := d.History(ctx, "", c.id, pm, from, to, 0, false)
		if err != nil || len(hist) != 1 || hist[0].Value["value"] != c.want || hist[0].Attr != pm {
			t.Fatalf("history of %s = %+v, %v", c.id, hist, err)
		}
		agg, err := d.Aggregate(ctx, "", c.id, pm, from, to, 24*time.Hour, false)
		if err != nil || len(agg) != 1 || agg[0].Sum != c.want {
			t.Fatalf("aggregate of %s = %+v, %v", c.id, agg, err)
		}
	}
	// Another type's attribute of the same name has a code of its own:
	// a query on one type neither finds nor counts the other's entities.
	const typ2 = "https://example.org/Other"
	if err := d.CreateEntity(ctx, &cityops.Entity{ID: "urn:x:other", Type: typ2, Attrs: map[string][]cityops.Attr{pm: {reading(90, "2026-01-01T12:00:00Z")}}}); err != nil {
		t.Fatal(err)
	}
	if code2, err := d.attrCode(ctx, d.db, "", typ2, pm); err != nil || code2 == code || code2 == noCode {
		t.Fatalf("code of %s on %s = %q, %v (on %s: %s)", pm, typ2, code2, err, typ, code)
	}
	expr, _ = q.Parse("pm25>20")
	for _, c := range []struct {
		types []string
		want  int
	}{{[]string{typ}, 2}, {[]string{typ2}, 1}, {[]string{typ, typ2}, 3}, {nil, 3}} {
		found, n, err := d.FindEntities(ctx, cityops.EntityFilter{Types: c.types, Q: expr, Expand: expand, Count: true})
		if err != nil || n != c.want || len(found) != c.want {
			t.Fatalf("pm25>20 on types %v finds %d (count %d), %v; want %d", c.types, len(found), n, err, c.want)
		}
	}
	// An attribute nothing was written under has no code and no history.
	if code, err := d.attrCode(ctx, d.db, "", typ, "https://example.org/never"); err != nil || code != noCode {
		t.Fatalf("code of an unknown attribute = %q, %v", code, err)
	}
	if err := d.DeleteHistory(ctx, "", old.ID, "https://example.org/never", "", true); cityops.ErrorCode(err) != cityops.ENOTFOUND {
		t.Fatalf("deleting an unknown attribute's history: %v", err)
	}
}

// TestAttrCodeRolledBack: a code given in a transaction that rolls back
// is not remembered, since SQLite gives its number again to the next
// name.
func TestAttrCodeRolledBack(t *testing.T) {
	ctx := context.Background()
	d := openSQLite(t)
	var first string
	errStop := errors.New("stop")
	err := d.inTx(ctx, func(tx *Tx) error {
		var err error
		if first, err = tx.codeFor(ctx, "", "T", "urn:x:a"); err != nil {
			return err
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	var second string
	if err := d.inTx(ctx, func(tx *Tx) error {
		var err error
		second, err = tx.codeFor(ctx, "", "T", "urn:x:b")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if a, err := d.attrCode(ctx, d.db, "", "T", "urn:x:a"); err != nil || a != noCode {
		t.Fatalf("urn:x:a, rolled back with code %s, now has %q, %v (urn:x:b has %s)", first, a, err, second)
	}
	if b, err := d.attrCode(ctx, d.db, "", "T", "urn:x:b"); err != nil || b != second {
		t.Fatalf("urn:x:b has %q, %v; want %s", b, err, second)
	}
}
