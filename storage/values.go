package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
)

// The indexed values of entities' attributes (migration 0017), rewritten
// for the attributes each transaction wrote, just before it commits, with
// one multi-row DELETE and INSERT for all of them.

// valueChange names an entity's attributes whose values to rewrite; nil
// attrs means all of them.
type valueChange struct {
	pk      int64
	e       *cityops.Entity
	attrs   []string
	created bool
	// overwrite: the attributes' rows keep their keys, so they are
	// upserted without deleting first.
	overwrite bool
}

type valueRow struct {
	pk      int64
	attr    string
	dataset string
	idx     int
	num     any
	str     any
}

// appendValueRows adds the rows of one attribute's instances.
func appendValueRows(rows []valueRow, pk int64, name string, list []cityops.Attr) []valueRow {
	for _, a := range list {
		ds := a.DatasetID()
		v, ok := a["object"]
		if !ok {
			v = a["value"]
		}
		if arr, isArr := v.([]any); isArr && len(arr) > 0 {
			for i, el := range arr {
				rows = append(rows, scalarRow(pk, name, ds, i, el))
			}
			continue
		}
		rows = append(rows, scalarRow(pk, name, ds, 0, v))
	}
	return rows
}

func scalarRow(pk int64, name, ds string, idx int, v any) valueRow {
	r := valueRow{pk: pk, attr: name, dataset: ds, idx: idx}
	switch x := v.(type) {
	case float64:
		r.num = x
	case string:
		r.str = x
	}
	return r
}

// flushValues rewrites the queued attributes' values.
func (tx *Tx) flushValues(ctx context.Context) error {
	if len(tx.values) == 0 {
		return nil
	}
	// The last change of an entity has its final state; earlier ones of
	// the same entity add their attribute names.
	type target struct {
		e         *cityops.Entity
		all       bool
		fresh     bool
		overwrite bool
		attrs     map[string]bool
	}
	byPK := map[int64]*target{}
	var order []int64
	for _, v := range tx.values {
		t := byPK[v.pk]
		if t == nil {
			t = &target{attrs: map[string]bool{}, fresh: v.created, overwrite: true}
			byPK[v.pk] = t
			order = append(order, v.pk)
		}
		t.e = v.e
		t.overwrite = t.overwrite && v.overwrite
		if v.attrs == nil {
			t.all = true
		}
		for _, a := range v.attrs {
			t.attrs[a] = true
		}
	}
	tx.values = tx.values[:0]
	var wholePKs []any
	type pair struct {
		pk   int64
		attr string
	}
	var pairs []pair
	var rows []valueRow
	for _, pk := range order {
		t := byPK[pk]
		// The rows name attributes by code (attrnames.go).
		code := func(name string) (string, error) { return tx.codeFor(ctx, t.e.Tenant, t.e.Type, name) }
		if t.all {
			if !t.fresh {
				wholePKs = append(wholePKs, pk)
			}
			for name, list := range t.e.Attrs {
				c, err := code(name)
				if err != nil {
					return err
				}
				rows = appendValueRows(rows, pk, c, list)
			}
			continue
		}
		for name := range t.attrs {
			c, err := code(name)
			if err != nil {
				return err
			}
			if !t.overwrite {
				pairs = append(pairs, pair{pk, c})
			}
			rows = appendValueRows(rows, pk, c, t.e.Attrs[name])
		}
	}
	ph := func(b *strings.Builder, n int) {
		if tx.db.dialect == SQLite {
			b.WriteByte('?')
		} else {
			b.WriteString("$" + strconv.Itoa(n))
		}
	}
	for start := 0; start < len(wholePKs); start += chunkRows {
		part := wholePKs[start:min(start+chunkRows, len(wholePKs))]
		var b strings.Builder
		b.WriteString(`delete from entity_values where entity_pk in (`)
		for i := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			ph(&b, i+1)
		}
		b.WriteByte(')')
		if _, err := tx.ExecContext(ctx, b.String(), part...); err != nil {
			return fmt.Errorf("values: %w", err)
		}
	}
	for start := 0; start < len(pairs); start += chunkRows {
		part := pairs[start:min(start+chunkRows, len(pairs))]
		var b strings.Builder
		args := make([]any, 0, 2*len(part))
		b.WriteString(`delete from entity_values where `)
		for i, p := range part {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString("(entity_pk = ")
			ph(&b, 2*i+1)
			b.WriteString(" and attr = ")
			ph(&b, 2*i+2)
			b.WriteByte(')')
			args = append(args, p.pk, p.attr)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("values: %w", err)
		}
	}
	const cols = 6
	args := make([]any, 0, min(len(rows), chunkRows)*cols)
	for start := 0; start < len(rows); {
		part := rows[start : start+tx.db.stmtRows(len(rows)-start)]
		start += len(part)
		args = args[:0]
		for _, r := range part {
			args = append(args, r.pk, r.attr, r.dataset, r.idx, r.num, r.str)
		}
		q := tx.db.multiRow(`insert into entity_values (entity_pk, attr, dataset_id, idx, num, str) values `, cols, len(part),
			` on conflict (entity_pk, attr, dataset_id, idx) do update set num = excluded.num, str = excluded.str`)
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("values: %w", err)
		}
	}
	return nil
}

// fillValues indexes the values of the entities stored before migration
// 0017.
func fillValues(ctx context.Context, tx *Tx) error {
	var last int64
	for {
		rows, err := tx.QueryContext(ctx, `select id, tenant, entity_id from entities where id > $1 order by id limit 1000`, last)
		if err != nil {
			return fmt.Errorf("fill values: %w", err)
		}
		type ref struct {
			pk         int64
			tenant, id string
		}
		var refs []ref
		for rows.Next() {
			var r ref
			if err := rows.Scan(&r.pk, &r.tenant, &r.id); err != nil {
				rows.Close()
				return fmt.Errorf("fill values: %w", err)
			}
			refs = append(refs, r)
		}
		rows.Close()
		if len(refs) == 0 {
			return nil
		}
		for _, r := range refs {
			row, err := loadEntity(ctx, tx, r.tenant, r.id, "")
			if err != nil {
				return err
			}
			tx.values = append(tx.values, valueChange{pk: r.pk, e: row.e, created: true})
			last = r.pk
		}
		if err := tx.flushValues(ctx); err != nil {
			return err
		}
	}
}

// fillBoxes computes the bounding box of the locations migration 0014
// left as the whole world.
func fillBoxes(ctx context.Context, tx *Tx) error {
	rows, err := tx.QueryContext(ctx, `select tenant, entity_id from entities
		where min_lat = -90 and max_lat = 90 and min_lon = -180 and max_lon = 180`)
	if err != nil {
		return fmt.Errorf("fill boxes: %w", err)
	}
	type ref struct{ tenant, id string }
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.tenant, &r.id); err != nil {
			rows.Close()
			return fmt.Errorf("fill boxes: %w", err)
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("fill boxes: %w", err)
	}
	for _, r := range refs {
		row, err := loadEntity(ctx, tx, r.tenant, r.id, "")
		if err != nil {
			return err
		}
		minLat, minLon, maxLat, maxLon := bbox(row.e)
		if _, err := tx.ExecContext(ctx, `update entities set min_lat = $1, min_lon = $2, max_lat = $3, max_lon = $4 where id = $5`,
			minLat, minLon, maxLat, maxLon, row.pk); err != nil {
			return fmt.Errorf("fill boxes: %w", err)
		}
	}
	return nil
}
