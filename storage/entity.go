package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/geo"
	"github.com/cityops/cityops/ngsild/q"
)

var _ cityops.EntityService = (*DB)(nil)

// entityRow is an entity as stored, with its internal key.
type entityRow struct {
	pk int64
	e  *cityops.Entity
}

func loadEntity(ctx context.Context, q queryer, tenant, id string, lock string) (*entityRow, error) {
	var row entityRow
	var e cityops.Entity
	var attrs string
	err := q.QueryRowContext(ctx, `select id, entity_id, type, attrs, created_at, modified_at from entities
		where tenant = $1 and entity_id = $2`+lock, tenant, id).Scan(&row.pk, &e.ID, &e.Type, &attrs, &e.CreatedAt, &e.ModifiedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cityops.Errorf(cityops.ENOTFOUND, "entity %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("entity: %w", err)
	}
	if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
		return nil, fmt.Errorf("entity %s attrs: %w", id, err)
	}
	e.Tenant, e.CreatedAt, e.ModifiedAt = tenant, e.CreatedAt.UTC(), e.ModifiedAt.UTC()
	row.e = &e
	return &row, nil
}

// bbox returns the bounding box of the entity's location (of all its
// instances), to be stored in the columns min_lat, min_lon, max_lat and
// max_lon that FindEntities prefilters geo-queries by; all nil when it
// has no location that is a valid geometry. It reads geometries as
// geoq.Query.Match does, so the prefilter never drops an entity Match
// would keep.
func bbox(e *cityops.Entity) (minLat, minLon, maxLat, maxLon any) {
	var r geo.Rect
	found := false
	for _, a := range e.Attrs[cityops.LocationAttr] {
		s, err := geo.ShapeFromValue(a["value"])
		if err != nil {
			continue
		}
		b := s.Bounds()
		if found {
			b.Min.Lat, b.Min.Lon = min(b.Min.Lat, r.Min.Lat), min(b.Min.Lon, r.Min.Lon)
			b.Max.Lat, b.Max.Lon = max(b.Max.Lat, r.Max.Lat), max(b.Max.Lon, r.Max.Lon)
		}
		r, found = b, true
	}
	if !found {
		return nil, nil, nil, nil
	}
	return r.Min.Lat, r.Min.Lon, r.Max.Lat, r.Max.Lon
}

// saveEntity writes the entity's current state.
func saveEntity(ctx context.Context, tx *Tx, row *entityRow) error {
	b, err := json.Marshal(row.e.Attrs)
	if err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	minLat, minLon, maxLat, maxLon := bbox(row.e)
	row.e.ModifiedAt = tx.now
	tx.forgetEntity(row.e.Tenant, row.e.ID)
	if _, err := tx.ExecContext(ctx, `update entities set attrs = $1, min_lat = $2, min_lon = $3, max_lat = $4, max_lon = $5,
		modified_at = $6 where id = $7`, string(b), minLat, minLon, maxLat, maxLon, tx.now, row.pk); err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	return nil
}

// changed notes an entity written in this transaction, for the listeners.
// It also queues the entity's indexed values of those attributes (all
// when attrs is nil) for rewriting before commit (values.go).
func (tx *Tx) changed(pk int64, e *cityops.Entity, attrs map[string][]cityops.Attr, created bool, fresh ...string) {
	c := cityops.EntityChange{Tenant: e.Tenant, ID: e.ID, Type: e.Type, Entity: e, Created: created, At: tx.now}
	if len(fresh) > 0 {
		c.NewAttrs = append([]string(nil), fresh...)
		sort.Strings(c.NewAttrs)
	}
	for name := range attrs {
		c.Attrs = append(c.Attrs, name)
	}
	sort.Strings(c.Attrs)
	tx.changes = append(tx.changes, c)
	v := valueChange{pk: pk, e: e, created: created}
	if attrs != nil {
		v.attrs = c.Attrs
	}
	tx.values = append(tx.values, v)
}

// recordInstances keeps every written attribute instance of entity e
// (stored as pk) for history and the roll-ups.
func recordInstances(ctx context.Context, tx *Tx, pk int64, e *cityops.Entity, attrs map[string][]cityops.Attr) error {
	var list []instance
	for name, l := range attrs {
		code, err := tx.codeFor(ctx, e.Tenant, e.Type, name)
		if err != nil {
			return err
		}
		for _, a := range l {
			in, err := newInstance(pk, code, a, tx.now)
			if err != nil {
				return err
			}
			list = append(list, in)
		}
	}
	return tx.writeHistory(ctx, list)
}

func (d *DB) createEntity(ctx context.Context, tx *Tx, e *cityops.Entity) error {
	if e.Attrs == nil {
		e.Attrs = map[string][]cityops.Attr{}
	}
	b, err := json.Marshal(e.Attrs)
	if err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	minLat, minLon, maxLat, maxLon := bbox(e)
	tx.forgetEntity(e.Tenant, e.ID)
	var pk int64
	err = tx.QueryRowContext(ctx, `insert into entities (tenant, entity_id, type, attrs, min_lat, min_lon, max_lat, max_lon, created_at, modified_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning id`, e.Tenant, e.ID, e.Type, string(b), minLat, minLon, maxLat, maxLon, tx.now).Scan(&pk)
	if isUnique(err) {
		return cityops.Errorf(cityops.ECONFLICT, "entity %q exists already", e.ID)
	}
	if err != nil {
		return fmt.Errorf("create entity: %w", err)
	}
	e.CreatedAt, e.ModifiedAt = tx.now, tx.now
	if err := tx.countTypes(ctx, e.Tenant, map[string]int64{e.Type: 1}); err != nil {
		return err
	}
	if err := recordInstances(ctx, tx, pk, e, e.Attrs); err != nil {
		return err
	}
	tx.changed(pk, e, nil, true)
	return nil
}

// CreateEntity implements cityops.EntityService.
func (d *DB) CreateEntity(ctx context.Context, e *cityops.Entity) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error { return d.createEntity(ctx, tx, e) })
}

// FindEntity implements cityops.EntityService.
func (d *DB) FindEntity(ctx context.Context, tenant, id string) (*cityops.Entity, error) {
	row, err := loadEntity(ctx, d.db, tenant, id, "")
	if err != nil {
		return nil, err
	}
	return row.e, nil
}

// FindEntities implements cityops.EntityService, ordered by id.
func (d *DB) FindEntities(ctx context.Context, f cityops.EntityFilter) ([]*cityops.Entity, int, error) {
	var expr q.Expr
	expand := f.Expand
	if expand == nil {
		expand = func(s string) string { return s }
	}
	var pks []int64
	narrowed := false
	// codes is what q's conditions on indexed values compare with
	// (attrnames.go); expand still names attributes in entities.
	var codes codesFunc
	if f.Q != nil {
		e, ok := f.Q.(q.Expr)
		if !ok {
			return nil, 0, fmt.Errorf("find entities: q is a %T, not a q.Expr", f.Q)
		}
		expr = e
		var err error
		if codes, err = d.codeExpand(ctx, expr, f.Tenant, f.Types, expand); err != nil {
			return nil, 0, err
		}
		if pks, narrowed, err = d.candidates(ctx, expr, codes); err != nil {
			return nil, 0, err
		}
		if narrowed && len(pks) == 0 {
			return []*cityops.Entity{}, 0, nil
		}
	}
	// With few candidates, SQLite must look them up by key rather than
	// scan the type's index: a unary + keeps it off that index.
	col := func(c string) string {
		if narrowed && d.dialect == SQLite {
			return "+" + c
		}
		return c
	}
	var w where
	w.add(col("tenant")+" = ?", f.Tenant)
	w.in(col("type"), f.Types)
	w.in("entity_id", f.IDs)
	if narrowed {
		ph := make([]string, len(pks))
		args := make([]any, len(pks))
		for i, pk := range pks {
			ph[i], args[i] = "?", pk
		}
		w.add("id in ("+strings.Join(ph, ", ")+")", args...)
	}
	if b := f.Box; b != nil {
		// The entity's box intersects b. A box starts at most the tallest
		// box's height below b, which turns min_lat into a closed range
		// of the entities_bbox index.
		w.add(`min_lat <= ? and min_lat >= ? - (select coalesce(max(max_lat - min_lat), 0) from entities where tenant = ?)
			and max_lat >= ? and min_lon <= ? and max_lon >= ?`, b[2], b[0], f.Tenant, b[0], b[3], b[1])
	}
	exact := true
	if expr != nil {
		cond, args, ex := d.qSQL(expr, codes, "entities.id")
		w.add(cond, args...)
		exact = ex
	}
	sel := `select entity_id, type, attrs, created_at, modified_at from entities` + w.String() + ` order by entity_id`
	if f.IDPattern == nil && exact {
		total := 0
		if f.Count {
			n, err := d.countEntities(ctx, f, w, expr, codes)
			if err != nil {
				return nil, 0, err
			}
			total = n
		}
		// The page's keys first, sorted without the attributes, then
		// its rows.
		page, err := d.db.QueryContext(ctx, `select id from entities`+w.String()+` order by entity_id`+d.page(f.Offset, f.Limit), w.args...)
		if err != nil {
			return nil, 0, fmt.Errorf("find entities: %w", err)
		}
		var pw where
		var ph []string
		var keys []any
		for page.Next() {
			var pk int64
			if err := page.Scan(&pk); err != nil {
				page.Close()
				return nil, 0, fmt.Errorf("find entities: %w", err)
			}
			ph, keys = append(ph, "?"), append(keys, pk)
		}
		page.Close()
		if err := page.Err(); err != nil {
			return nil, 0, fmt.Errorf("find entities: %w", err)
		}
		if len(keys) == 0 {
			return []*cityops.Entity{}, total, nil
		}
		pw.add("id in ("+strings.Join(ph, ", ")+")", keys...)
		rows, err := d.scanEntities(ctx, `select entity_id, type, attrs, created_at, modified_at from entities`+pw.String()+` order by entity_id`, pw.args, f)
		return rows, total, err
	}
	// idPattern is a regular expression, and q was only narrowed in SQL:
	// they are matched here, and the page cut after matching.
	all, err := d.scanEntities(ctx, sel, w.args, cityops.EntityFilter{Tenant: f.Tenant})
	if err != nil {
		return nil, 0, err
	}
	var out []*cityops.Entity
	for _, e := range all {
		if (f.IDPattern == nil || f.IDPattern.MatchString(e.ID)) && (exact || q.Eval(expr, q.EntityGetter(e, expand))) {
			out = append(out, keepAttrs(e, f.Attrs))
		}
	}
	total := len(out)
	if f.Offset >= len(out) {
		return []*cityops.Entity{}, total, nil
	}
	out = out[f.Offset:]
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, total, nil
}

// keepAttrs leaves only the named attributes (all when none are named).
func keepAttrs(e *cityops.Entity, names []string) *cityops.Entity {
	if len(names) == 0 {
		return e
	}
	keep := map[string][]cityops.Attr{}
	for _, a := range names {
		if v, ok := e.Attrs[a]; ok {
			keep[a] = v
		}
	}
	e.Attrs = keep
	return e
}

func (d *DB) scanEntities(ctx context.Context, q string, args []any, f cityops.EntityFilter) ([]*cityops.Entity, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find entities: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Entity{}
	for rows.Next() {
		var e cityops.Entity
		var attrs string
		if err := rows.Scan(&e.ID, &e.Type, &attrs, &e.CreatedAt, &e.ModifiedAt); err != nil {
			return nil, fmt.Errorf("find entities: %w", err)
		}
		if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
			return nil, fmt.Errorf("entity %s attrs: %w", e.ID, err)
		}
		e.Tenant, e.CreatedAt, e.ModifiedAt = f.Tenant, e.CreatedAt.UTC(), e.ModifiedAt.UTC()
		out = append(out, keepAttrs(&e, f.Attrs))
	}
	return out, rows.Err()
}

// ReplaceEntity implements cityops.EntityService.
func (d *DB) ReplaceEntity(ctx context.Context, e *cityops.Entity) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, e.Tenant, e.ID, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		if row.e.Type != e.Type {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"type": "an entity's type cannot change"}}
		}
		row.e.Attrs = e.Attrs
		if err := saveEntity(ctx, tx, row); err != nil {
			return err
		}
		e.CreatedAt, e.ModifiedAt = row.e.CreatedAt, row.e.ModifiedAt
		if err := recordInstances(ctx, tx, row.pk, row.e, e.Attrs); err != nil {
			return err
		}
		tx.changed(row.pk, row.e, nil, false)
		return nil
	})
}

// DeleteEntity implements cityops.EntityService. Its history goes with it.
func (d *DB) DeleteEntity(ctx context.Context, tenant, id string) error {
	return d.inTx(ctx, func(tx *Tx) error {
		// The type goes to the listeners: subscriptions select by it.
		var typ string
		tx.forgetEntity(tenant, id)
		err := tx.QueryRowContext(ctx, `delete from entities where tenant = $1 and entity_id = $2 returning type`, tenant, id).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "entity %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("delete entity: %w", err)
		}
		if err := tx.countTypes(ctx, tenant, map[string]int64{typ: -1}); err != nil {
			return err
		}
		tx.changes = append(tx.changes, cityops.EntityChange{Tenant: tenant, ID: id, Type: typ, Deleted: true, At: tx.now})
		return nil
	})
}

func validateAttrs(attrs map[string][]cityops.Attr) error {
	e := cityops.Entity{ID: "urn:x:y", Type: "t", Attrs: attrs}
	return e.Validate()
}

// mergeInstances puts the new instances of one attribute over the old,
// matching by datasetId.
func mergeInstances(old, add []cityops.Attr) []cityops.Attr {
	out := append([]cityops.Attr(nil), old...)
	for _, a := range add {
		replaced := false
		for i, o := range out {
			if o.DatasetID() == a.DatasetID() {
				out[i], replaced = a, true
				break
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// AppendAttrs implements cityops.EntityService.
func (d *DB) AppendAttrs(ctx context.Context, tenant, id string, attrs map[string][]cityops.Attr, noOverwrite bool) ([]string, error) {
	if err := validateAttrs(attrs); err != nil {
		return nil, err
	}
	var skipped []string
	err := d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, tenant, id, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		written := map[string][]cityops.Attr{}
		var fresh []string
		for name, list := range attrs {
			_, exists := row.e.Attrs[name]
			if exists && noOverwrite {
				skipped = append(skipped, name)
				continue
			}
			if !exists {
				fresh = append(fresh, name)
			}
			row.e.Attrs[name] = mergeInstances(row.e.Attrs[name], list)
			written[name] = list
		}
		if err := saveEntity(ctx, tx, row); err != nil {
			return err
		}
		if err := recordInstances(ctx, tx, row.pk, row.e, written); err != nil {
			return err
		}
		tx.changed(row.pk, row.e, written, false, fresh...)
		return nil
	})
	sort.Strings(skipped)
	return skipped, err
}

// UpdateAttrs implements cityops.EntityService.
func (d *DB) UpdateAttrs(ctx context.Context, tenant, id string, attrs map[string][]cityops.Attr) ([]string, error) {
	if err := validateAttrs(attrs); err != nil {
		return nil, err
	}
	var skipped []string
	err := d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, tenant, id, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		written := map[string][]cityops.Attr{}
		for name, list := range attrs {
			if _, exists := row.e.Attrs[name]; !exists {
				skipped = append(skipped, name)
				continue
			}
			row.e.Attrs[name] = mergeInstances(row.e.Attrs[name], list)
			written[name] = list
		}
		if len(written) == 0 {
			return nil
		}
		if err := saveEntity(ctx, tx, row); err != nil {
			return err
		}
		if err := recordInstances(ctx, tx, row.pk, row.e, written); err != nil {
			return err
		}
		tx.changed(row.pk, row.e, written, false)
		return nil
	})
	sort.Strings(skipped)
	return skipped, err
}

// DeleteAttr implements cityops.EntityService.
func (d *DB) DeleteAttr(ctx context.Context, tenant, id, attr, datasetID string, all bool) error {
	return d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, tenant, id, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		list, ok := row.e.Attrs[attr]
		if !ok {
			return cityops.Errorf(cityops.ENOTFOUND, "attribute %q not found", attr)
		}
		if all {
			delete(row.e.Attrs, attr)
		} else {
			var keep []cityops.Attr
			for _, a := range list {
				if a.DatasetID() != datasetID {
					keep = append(keep, a)
				}
			}
			if len(keep) == len(list) {
				return cityops.Errorf(cityops.ENOTFOUND, "attribute %q has no instance with datasetId %q", attr, datasetID)
			}
			if len(keep) == 0 {
				delete(row.e.Attrs, attr)
			} else {
				row.e.Attrs[attr] = keep
			}
		}
		if err := saveEntity(ctx, tx, row); err != nil {
			return err
		}
		tx.changed(row.pk, row.e, map[string][]cityops.Attr{attr: nil}, false)
		return nil
	})
}

// UpsertEntities implements cityops.EntityService: one transaction for
// the batch, written with multi-row statements (upsertBatch). Entities
// refused are reported in errs and nothing of them is written; the rest
// commit together, so nothing half-written is reported as done.
func (d *DB) UpsertEntities(ctx context.Context, tenant string, list []*cityops.Entity, replace bool) (map[string]error, error) {
	return d.upsertEntities(ctx, tenant, list, replace, false)
}

// IngestEntities is UpsertEntities in update mode for measurements, with
// entities in temporal representation (any number of instances of an
// attribute, which may arrive out of order): every instance goes into
// history and the roll-ups, and an attribute's latest state is its newest
// observation.
func (d *DB) IngestEntities(ctx context.Context, tenant string, list []*cityops.Entity) (map[string]error, error) {
	return d.upsertEntities(ctx, tenant, list, false, true)
}

func (d *DB) upsertEntities(ctx context.Context, tenant string, list []*cityops.Entity, replace, newest bool) (map[string]error, error) {
	errs := map[string]error{}
	valid := make([]*cityops.Entity, 0, len(list))
	for _, e := range list {
		e.Tenant = tenant
		validate := e.Validate
		if newest {
			validate = e.ValidateTemporal
		}
		if err := validate(); err != nil {
			errs[e.ID] = err
			continue
		}
		valid = append(valid, e)
	}
	if len(valid) == 0 {
		return errs, nil
	}
	byEntity, err := d.entityGroups.submit(ctx, &entityReq{tenant: tenant, list: valid, replace: replace, newest: newest})
	if err != nil {
		return nil, err
	}
	for e, err := range byEntity {
		errs[e.ID] = err
	}
	return errs, nil
}

// EntityCatalogue implements cityops.EntityService.
func (d *DB) EntityCatalogue(ctx context.Context, tenant string, types bool) ([]string, error) {
	col := "type"
	if !types {
		col = "attrs"
	}
	rows, err := d.db.QueryContext(ctx, `select distinct `+col+` from entities where tenant = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("entity catalogue: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("entity catalogue: %w", err)
		}
		if types {
			seen[v] = true
			continue
		}
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &attrs); err != nil {
			return nil, fmt.Errorf("entity catalogue: %w", err)
		}
		for k := range attrs {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, rows.Err()
}
