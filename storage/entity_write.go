package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// instance is one attribute instance to keep in history.
type instance struct {
	pk      int64
	attr    string
	dataset string
	at      time.Time
	num     float64
	isNum   bool
	plain   bool   // kept without its JSON (block.go)
	unit    string // of a plain reading
	value   string // the instance as JSON, unless plain
}

// newInstance prepares an attribute instance of entity pk; an instance
// without observedAt is observed when written.
func newInstance(pk int64, name string, a cityops.Attr, now time.Time) (instance, error) {
	in := instance{pk: pk, attr: name, dataset: a.DatasetID(), at: now}
	if t, ok := a.ObservedAt(); ok {
		in.at = t.UTC()
	}
	in.num, in.isNum = a.Number()
	if in.unit, in.plain = plain(a); in.plain {
		return in, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return in, fmt.Errorf("instance: %w", err)
	}
	in.value = string(b)
	return in, nil
}

// Statement text is built once per dialect and row count.
var stmtCache sync.Map // string → string

// SQLite gets anonymous '?' parameters: it looks numbered ones up in a
// list, which makes a statement of thousands of them quadratic to
// prepare.
func (d *DB) multiRow(prefix string, cols, rows int, suffix string) string {
	key := d.dialect + "|" + prefix + "|" + strconv.Itoa(rows) + "|" + suffix
	if s, ok := stmtCache.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	b.Grow(len(prefix) + rows*cols*6 + len(suffix))
	b.WriteString(prefix)
	n := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteString(", ")
			}
			if d.dialect == SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			}
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	s := b.String()
	stmtCache.Store(key, s)
	return s
}

// inList returns prefix, $2 … $(n+1) separated by commas, and suffix.
func (d *DB) inList(prefix string, n int, suffix string) string {
	key := d.dialect + "|in|" + prefix + "|" + strconv.Itoa(n) + "|" + suffix
	if s, ok := stmtCache.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+2))
	}
	b.WriteString(suffix)
	s := b.String()
	stmtCache.Store(key, s)
	return s
}

// chunkRows bounds the rows of one statement (SQLite takes up to 32,766
// parameters, PostgreSQL 65,535).
const chunkRows = 500

// upsertBatch writes a batch of valid entities, sorted by id, in tx: it
// reads the stored ones in one query, merges in memory, and writes
// entities, instances and roll-ups with multi-row statements. Entities it
// refuses (a type that differs from the stored one) go into errs, by the
// entity given; nothing of them is written. newest keeps an attribute's
// latest state at the newest observedAt (ingestion of measurements that
// may arrive out of order); otherwise the last write wins, as NGSI-LD's
// update does.
//
// On PostgreSQL another transaction may create an entity between the
// read and the insert; those entities go round again, now stored.
func (d *DB) upsertBatch(ctx context.Context, tx *Tx, tenant string, list []*cityops.Entity, replace, newest bool, errs map[*cityops.Entity]error) error {
	for try := 0; len(list) > 0; try++ {
		if try == 3 {
			return cityops.Errorf(cityops.EUNAVAILABLE, "entities are being created and deleted under this batch; send it again")
		}
		raced, err := d.upsertBatchOnce(ctx, tx, tenant, list, replace, newest, errs)
		if err != nil {
			return err
		}
		list = raced
	}
	return nil
}

// upsertBatchOnce is one round of upsertBatch; it returns the entities
// another transaction created first.
func (d *DB) upsertBatchOnce(ctx context.Context, tx *Tx, tenant string, list []*cityops.Entity, replace, newest bool, errs map[*cityops.Entity]error) ([]*cityops.Entity, error) {
	ids := make([]string, 0, len(list))
	for i, e := range list {
		if i == 0 || e.ID != list[i-1].ID {
			ids = append(ids, e.ID)
		}
	}
	stored, err := d.loadEntities(ctx, tx, tenant, ids)
	if err != nil {
		return nil, err
	}
	type pending struct {
		row   *entityRow
		isNew bool
		attrs map[string]bool // written, for the listeners; nil = all
		adds  []*cityops.Entity
		// reshaped: some written value may leave an indexed value row
		// behind (values.go), so rows are deleted before they are written.
		reshaped bool
		fresh    []string // attributes it did not have before
		// moved: its location may have changed, and so its bounding box.
		moved bool
	}
	byID := map[string]*pending{}
	var order []*pending
	for _, e := range list {
		p := byID[e.ID]
		if p == nil {
			p = &pending{attrs: map[string]bool{}}
			if row := stored[e.ID]; row != nil {
				p.row = row
			} else {
				cp := &cityops.Entity{ID: e.ID, Type: e.Type, Tenant: tenant, Attrs: map[string][]cityops.Attr{}}
				p.row, p.isNew = &entityRow{e: cp}, true
			}
			byID[e.ID] = p
			order = append(order, p)
		}
		if p.row.e.Type != e.Type {
			errs[e] = &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"type": "an entity's type cannot change"}}
			continue
		}
		switch {
		case replace:
			p.row.e.Attrs, p.attrs, p.moved = copyAttrs(e.Attrs), nil, true
		default:
			if _, ok := e.Attrs[cityops.LocationAttr]; ok {
				p.moved = true
			}
			for name, l := range e.Attrs {
				if _, exists := p.row.e.Attrs[name]; !exists && !p.isNew {
					p.fresh = append(p.fresh, name)
				}
				if !sameShape(p.row.e.Attrs[name], l) {
					p.reshaped = true
				}
				p.row.e.Attrs[name] = mergeNewest(p.row.e.Attrs[name], l, newest)
				if p.attrs != nil {
					p.attrs[name] = true
				}
			}
		}
		p.adds = append(p.adds, e)
	}
	// New entities first, for their keys. On PostgreSQL another
	// transaction may have created one since we looked; those are
	// written one at a time below.
	var fresh, existing []*pending
	for _, p := range order {
		if len(p.adds) == 0 {
			continue
		}
		if p.isNew {
			fresh = append(fresh, p)
		} else {
			existing = append(existing, p)
		}
	}
	raced := map[string]bool{}
	if len(fresh) > 0 {
		rows := make([]*entityRow, len(fresh))
		for i, p := range fresh {
			rows[i] = p.row
		}
		got, err := writeEntityRows(ctx, tx, rows, false, true)
		if err != nil {
			return nil, err
		}
		created := map[string]int64{}
		for _, p := range fresh {
			if pk, ok := got[p.row.e.ID]; ok {
				p.row.pk = pk
				p.row.e.CreatedAt = tx.now
				created[p.row.e.Type]++
			} else {
				raced[p.row.e.ID] = true
			}
		}
		if err := tx.countTypes(ctx, tenant, created); err != nil {
			return nil, err
		}
	}
	// Entities whose location was not written keep their bounding box,
	// and its indexes are left alone.
	var moved, still []*entityRow
	for _, p := range existing {
		if p.moved {
			moved = append(moved, p.row)
		} else {
			still = append(still, p.row)
		}
	}
	for _, w := range []struct {
		rows []*entityRow
		box  bool
	}{{moved, true}, {still, false}} {
		if len(w.rows) == 0 {
			continue
		}
		if _, err := writeEntityRows(ctx, tx, w.rows, true, w.box); err != nil {
			return nil, err
		}
	}
	var instances []instance
	var again []*cityops.Entity
	var written []*entityRow
	for _, p := range order {
		if len(p.adds) == 0 {
			continue
		}
		if raced[p.row.e.ID] {
			again = append(again, p.adds...)
			continue
		}
		p.row.e.ModifiedAt = tx.now
		written = append(written, p.row)
		for _, e := range p.adds {
			for name, l := range e.Attrs {
				code, err := tx.codeFor(ctx, tenant, p.row.e.Type, name)
				if err != nil {
					return nil, err
				}
				for _, a := range l {
					in, err := newInstance(p.row.pk, code, a, tx.now)
					if err != nil {
						return nil, err
					}
					instances = append(instances, in)
				}
			}
		}
		switch {
		case p.isNew:
			tx.changed(p.row.pk, p.row.e, nil, true)
		case p.attrs == nil: // replaced
			tx.changed(p.row.pk, p.row.e, nil, false)
		default:
			written := map[string][]cityops.Attr{}
			for name := range p.attrs {
				written[name] = nil
			}
			tx.changed(p.row.pk, p.row.e, written, false, p.fresh...)
			if !p.reshaped {
				tx.values[len(tx.values)-1].overwrite = true
			}
		}
		if len(p.adds) > 1 {
			tx.changes[len(tx.changes)-1].Writes = p.adds
		}
	}
	tx.cacheEntities(written)
	return again, tx.writeHistory(ctx, instances)
}

// sameShape reports that writing add over old changes no attribute's
// set of indexed value rows: each instance replaces one of the same
// datasetId, and neither value is an array.
func sameShape(old, add []cityops.Attr) bool {
	for _, a := range add {
		if isArray(a) {
			return false
		}
		found := false
		for _, o := range old {
			if o.DatasetID() == a.DatasetID() {
				if isArray(o) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func isArray(a cityops.Attr) bool {
	v, ok := a["object"]
	if !ok {
		v = a["value"]
	}
	_, arr := v.([]any)
	return arr
}

func copyAttrs(m map[string][]cityops.Attr) map[string][]cityops.Attr {
	out := make(map[string][]cityops.Attr, len(m))
	for k, v := range m {
		out[k] = append([]cityops.Attr(nil), v...)
	}
	return out
}

// mergeNewest puts new instances over the old by datasetId; with newest,
// an instance observed before the one it would replace leaves it be.
func mergeNewest(old, add []cityops.Attr, newest bool) []cityops.Attr {
	if !newest {
		return mergeInstances(old, add)
	}
	out := append([]cityops.Attr(nil), old...)
	for _, a := range add {
		replaced := false
		for i, o := range out {
			if o.DatasetID() != a.DatasetID() {
				continue
			}
			replaced = true
			ta, okA := a.ObservedAt()
			to, okO := o.ObservedAt()
			if !okA || !okO || !ta.Before(to) {
				out[i] = a
			}
			break
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// loadEntities reads (and on PostgreSQL locks, in id order) the stored
// entities among ids. Their ModifiedAt is left zero: the batch sets it.
func (d *DB) loadEntities(ctx context.Context, tx *Tx, tenant string, ids []string) (map[string]*entityRow, error) {
	out := make(map[string]*entityRow, len(ids))
	if d.ingesting() {
		if ids = d.entities.get(tenant, ids, out); len(ids) == 0 {
			return out, nil
		}
	}
	step := chunkRows
	if d.dialect == SQLite {
		step = sqliteStmtRows
	}
	for start := 0; start < len(ids); start += step {
		part := ids[start:min(start+step, len(ids))]
		slots := len(part)
		if d.dialect == SQLite {
			// The list is padded with its last id to a power of two, so
			// that a few statement texts serve every batch (stmt.go).
			slots = 1 << bits.Len(uint(len(part)-1))
		}
		args := make([]any, 0, slots+1)
		args = append(args, tenant)
		for i := range slots {
			args = append(args, part[min(i, len(part)-1)])
		}
		rows, err := tx.query(ctx, d.inList(`select id, entity_id, type, attrs, created_at from entities
			where tenant = $1 and entity_id in (`, slots, `) order by entity_id`+d.forUpdate("entities")), args...)
		if err != nil {
			return nil, fmt.Errorf("load entities: %w", err)
		}
		for rows.Next() {
			var row entityRow
			var e cityops.Entity
			var attrs string
			if err := rows.Scan(&row.pk, &e.ID, &e.Type, &attrs, &e.CreatedAt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("load entities: %w", err)
			}
			if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
				rows.Close()
				return nil, fmt.Errorf("entity %s attrs: %w", e.ID, err)
			}
			if e.Attrs == nil {
				e.Attrs = map[string][]cityops.Attr{}
			}
			e.Tenant, e.CreatedAt = tenant, e.CreatedAt.UTC()
			row.e = &e
			out[e.ID] = &row
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("load entities: %w", err)
		}
	}
	return out, nil
}

// writeEntityRows writes entities' current state with multi-row
// statements. New rows (insert) are written unless another transaction
// created them first, and the keys of those written are returned;
// existing rows (update) are overwritten, their bounding box only with
// box.
func writeEntityRows(ctx context.Context, tx *Tx, rows []*entityRow, update, box bool) (map[string]int64, error) {
	out := make(map[string]int64, len(rows))
	const cols = 10
	conflict := ` on conflict (tenant, entity_id) do nothing returning id, entity_id`
	switch {
	case update && box:
		conflict = ` on conflict (tenant, entity_id) do update set attrs = excluded.attrs, min_lat = excluded.min_lat,
			min_lon = excluded.min_lon, max_lat = excluded.max_lat, max_lon = excluded.max_lon,
			modified_at = excluded.modified_at`
	case update:
		conflict = ` on conflict (tenant, entity_id) do update set attrs = excluded.attrs, modified_at = excluded.modified_at`
	}
	args := make([]any, 0, min(len(rows), chunkRows)*cols)
	for start := 0; start < len(rows); {
		part := rows[start : start+tx.db.stmtRows(len(rows)-start)]
		start += len(part)
		args = args[:0]
		for _, r := range part {
			b, err := json.Marshal(r.e.Attrs)
			if err != nil {
				return nil, fmt.Errorf("entity: %w", err)
			}
			minLat, minLon, maxLat, maxLon := bbox(r.e)
			created := r.e.CreatedAt
			if !update {
				created = tx.now
			}
			args = append(args, r.e.Tenant, r.e.ID, r.e.Type, string(b), minLat, minLon, maxLat, maxLon, created, tx.now)
		}
		q := tx.db.multiRow(`insert into entities (tenant, entity_id, type, attrs, min_lat, min_lon, max_lat, max_lon, created_at, modified_at) values `, cols, len(part), conflict)
		if update {
			if _, err := tx.exec(ctx, q, args...); err != nil {
				return nil, fmt.Errorf("write entities: %w", err)
			}
			continue
		}
		res, err := tx.query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("write entities: %w", err)
		}
		for res.Next() {
			var pk int64
			var id string
			if err := res.Scan(&pk, &id); err != nil {
				res.Close()
				return nil, fmt.Errorf("write entities: %w", err)
			}
			out[id] = pk
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("write entities: %w", err)
		}
	}
	return out, nil
}

// countTypes adds to the tenant's entity counts by type, in type order
// so that concurrent writers lock the rows in the same order.
func (tx *Tx) countTypes(ctx context.Context, tenant string, delta map[string]int64) error {
	types := make([]string, 0, len(delta))
	for t, n := range delta {
		if n != 0 {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	for _, t := range types {
		if _, err := tx.exec(ctx, `insert into entity_type_counts (tenant, type, n) values ($1, $2, $3)
			on conflict (tenant, type) do update set n = entity_type_counts.n + excluded.n`, tenant, t, delta[t]); err != nil {
			return fmt.Errorf("type counts: %w", err)
		}
	}
	return nil
}
