package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cityops/cityops"
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

// point returns the entity's location when it is a GeoJSON Point.
func point(e *cityops.Entity) (lat, lon any) {
	for _, a := range e.Attrs[cityops.LocationAttr] {
		g, _ := a["value"].(map[string]any)
		if g["type"] != "Point" {
			continue
		}
		c, _ := g["coordinates"].([]any)
		if len(c) >= 2 {
			x, ok1 := c[0].(float64)
			y, ok2 := c[1].(float64)
			if ok1 && ok2 {
				return y, x
			}
		}
	}
	return nil, nil
}

// saveEntity writes the entity's current state.
func saveEntity(ctx context.Context, tx *Tx, row *entityRow) error {
	b, err := json.Marshal(row.e.Attrs)
	if err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	lat, lon := point(row.e)
	row.e.ModifiedAt = tx.now
	if _, err := tx.ExecContext(ctx, `update entities set attrs = $1, lat = $2, lon = $3, modified_at = $4 where id = $5`,
		string(b), lat, lon, tx.now, row.pk); err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	return nil
}

// changed notes an entity written in this transaction, for the listeners.
func (tx *Tx) changed(e *cityops.Entity, attrs map[string][]cityops.Attr, created bool) {
	c := cityops.EntityChange{Tenant: e.Tenant, ID: e.ID, Type: e.Type, Entity: e, Created: created, At: tx.now}
	for name := range attrs {
		c.Attrs = append(c.Attrs, name)
	}
	sort.Strings(c.Attrs)
	tx.changes = append(tx.changes, c)
}

// recordInstances keeps every written attribute instance for history.
func recordInstances(ctx context.Context, tx *Tx, pk int64, attrs map[string][]cityops.Attr) error {
	for name, list := range attrs {
		for _, a := range list {
			at, ok := a.ObservedAt()
			if !ok {
				at = tx.now
			}
			var num any
			if f, ok := a.Number(); ok {
				num = f
			}
			b, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("instance: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `insert into entity_instances (entity_pk, attr, dataset_id, observed_at, num, value)
				values ($1, $2, $3, $4, $5, $6)`, pk, name, a.DatasetID(), at.UTC(), num, string(b)); err != nil {
				return fmt.Errorf("instance: %w", err)
			}
		}
	}
	return nil
}

func (d *DB) createEntity(ctx context.Context, tx *Tx, e *cityops.Entity) error {
	if e.Attrs == nil {
		e.Attrs = map[string][]cityops.Attr{}
	}
	b, err := json.Marshal(e.Attrs)
	if err != nil {
		return fmt.Errorf("entity: %w", err)
	}
	lat, lon := point(e)
	var pk int64
	err = tx.QueryRowContext(ctx, `insert into entities (tenant, entity_id, type, attrs, lat, lon, created_at, modified_at)
		values ($1, $2, $3, $4, $5, $6, $7, $7) returning id`, e.Tenant, e.ID, e.Type, string(b), lat, lon, tx.now).Scan(&pk)
	if isUnique(err) {
		return cityops.Errorf(cityops.ECONFLICT, "entity %q exists already", e.ID)
	}
	if err != nil {
		return fmt.Errorf("create entity: %w", err)
	}
	e.CreatedAt, e.ModifiedAt = tx.now, tx.now
	if err := recordInstances(ctx, tx, pk, e.Attrs); err != nil {
		return err
	}
	tx.changed(e, nil, true)
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
	var w where
	w.add("tenant = ?", f.Tenant)
	w.in("type", f.Types)
	w.in("entity_id", f.IDs)
	if b := f.Box; b != nil {
		w.add("lat between ? and ? and lon between ? and ?", b[0], b[2], b[1], b[3])
	}
	q := `select entity_id, type, attrs, created_at, modified_at from entities` + w.String() + ` order by entity_id`
	paged := f.IDPattern == nil
	if paged {
		var total int
		if err := d.db.QueryRowContext(ctx, `select count(*) from entities`+w.String(), w.args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count entities: %w", err)
		}
		rows, err := d.scanEntities(ctx, q+d.page(f.Offset, f.Limit), w.args, f)
		return rows, total, err
	}
	// idPattern is a regular expression, matched here: the page is cut
	// after matching.
	all, err := d.scanEntities(ctx, q, w.args, f)
	if err != nil {
		return nil, 0, err
	}
	var out []*cityops.Entity
	for _, e := range all {
		if f.IDPattern.MatchString(e.ID) {
			out = append(out, e)
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
		if len(f.Attrs) > 0 {
			keep := map[string][]cityops.Attr{}
			for _, a := range f.Attrs {
				if v, ok := e.Attrs[a]; ok {
					keep[a] = v
				}
			}
			e.Attrs = keep
		}
		e.Tenant, e.CreatedAt, e.ModifiedAt = f.Tenant, e.CreatedAt.UTC(), e.ModifiedAt.UTC()
		out = append(out, &e)
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
		if err := recordInstances(ctx, tx, row.pk, e.Attrs); err != nil {
			return err
		}
		tx.changed(row.e, nil, false)
		return nil
	})
}

// DeleteEntity implements cityops.EntityService. Its history goes with it.
func (d *DB) DeleteEntity(ctx context.Context, tenant, id string) error {
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from entities where tenant = $1 and entity_id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete entity: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "entity %q not found", id)
		}
		tx.changes = append(tx.changes, cityops.EntityChange{Tenant: tenant, ID: id, Deleted: true, At: tx.now})
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
		for name, list := range attrs {
			if _, exists := row.e.Attrs[name]; exists && noOverwrite {
				skipped = append(skipped, name)
				continue
			}
			row.e.Attrs[name] = mergeInstances(row.e.Attrs[name], list)
			written[name] = list
		}
		if err := saveEntity(ctx, tx, row); err != nil {
			return err
		}
		if err := recordInstances(ctx, tx, row.pk, written); err != nil {
			return err
		}
		tx.changed(row.e, written, false)
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
		if err := recordInstances(ctx, tx, row.pk, written); err != nil {
			return err
		}
		tx.changed(row.e, written, false)
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
		tx.changed(row.e, map[string][]cityops.Attr{attr: nil}, false)
		return nil
	})
}

// UpsertEntities implements cityops.EntityService: one transaction, each
// entity under its own savepoint, so one bad entity does not stop the rest
// and nothing half-written is reported as done.
func (d *DB) UpsertEntities(ctx context.Context, tenant string, list []*cityops.Entity, replace bool) (map[string]error, error) {
	errs := map[string]error{}
	// In id order, so that concurrent batches lock entities in the same
	// order and cannot deadlock each other.
	list = append([]*cityops.Entity(nil), list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	err := d.inTx(ctx, func(tx *Tx) error {
		for _, e := range list {
			e.Tenant = tenant
			if err := e.Validate(); err != nil {
				errs[e.ID] = err
				continue
			}
			if _, err := tx.ExecContext(ctx, `savepoint entity`); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			err := d.upsertOne(ctx, tx, e, replace)
			if err != nil {
				errs[e.ID] = err
				if _, err := tx.ExecContext(ctx, `rollback to savepoint entity`); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `release savepoint entity`); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return nil
	})
	return errs, err
}

func (d *DB) upsertOne(ctx context.Context, tx *Tx, e *cityops.Entity, replace bool) error {
	row, err := loadEntity(ctx, tx, e.Tenant, e.ID, d.forUpdate("entities"))
	if cityops.ErrorCode(err) == cityops.ENOTFOUND {
		return d.createEntity(ctx, tx, e)
	}
	if err != nil {
		return err
	}
	if row.e.Type != e.Type {
		return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"type": "an entity's type cannot change"}}
	}
	if replace {
		row.e.Attrs = e.Attrs
	} else {
		for name, l := range e.Attrs {
			row.e.Attrs[name] = mergeInstances(row.e.Attrs[name], l)
		}
	}
	if err := saveEntity(ctx, tx, row); err != nil {
		return err
	}
	if err := recordInstances(ctx, tx, row.pk, e.Attrs); err != nil {
		return err
	}
	if replace {
		tx.changed(row.e, nil, false)
	} else {
		tx.changed(row.e, e.Attrs, false)
	}
	return nil
}

// History implements cityops.EntityService.
func (d *DB) History(ctx context.Context, tenant, id, attr string, from, to time.Time, limit int, lastN bool) ([]cityops.Instance, error) {
	row, err := loadEntity(ctx, d.db, tenant, id, "")
	if err != nil {
		return nil, err
	}
	order := "asc"
	if lastN {
		order = "desc"
	}
	rows, err := d.db.QueryContext(ctx, `select observed_at, value from entity_instances
		where entity_pk = $1 and attr = $2 and observed_at >= $3 and observed_at < $4
		order by observed_at `+order+`, id `+order+` limit $5`, row.pk, attr, from.UTC(), to.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []cityops.Instance
	for rows.Next() {
		var in cityops.Instance
		var v string
		if err := rows.Scan(&in.ObservedAt, &v); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		if err := json.Unmarshal([]byte(v), &in.Value); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		in.Attr, in.ObservedAt = attr, in.ObservedAt.UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if lastN {
		sort.SliceStable(out, func(i, j int) bool { return out[i].ObservedAt.Before(out[j].ObservedAt) })
	}
	return out, nil
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
