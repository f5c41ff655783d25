package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/geo"
)

var _ cityops.AreaService = (*DB)(nil)

const areaCols = `a.id, a.code, a.name, a.names, a.kind, a.parent_id, coalesce(p.code, ''), a.depth,
	a.valid_from, a.valid_to, a.approximate, a.created_at, a.updated_at`

func scanArea(row interface{ Scan(...any) error }, withBoundary bool) (*cityops.Area, error) {
	var a cityops.Area
	var names string
	var parent sql.NullInt64
	var from, to sql.Null[time.Time]
	var boundary sql.NullString
	dest := []any{&a.ID, &a.Code, &a.Name, &names, &a.Kind, &parent, &a.ParentCode, &a.Depth,
		&from, &to, &a.Approximate, &a.CreatedAt, &a.UpdatedAt}
	if withBoundary {
		dest = append(dest, &boundary)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	a.Names = unmarshalNames(names)
	a.ParentID = parent.Int64
	a.ValidFrom, a.ValidTo = nullTime(from), nullTime(to)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if boundary.Valid {
		a.Boundary = json.RawMessage(boundary.String)
	}
	return &a, nil
}

// FindAreaByCode implements cityops.AreaService. It loads the boundary.
func (d *DB) FindAreaByCode(ctx context.Context, code string) (*cityops.Area, error) {
	areas, _, err := d.FindAreas(ctx, cityops.AreaFilter{Code: &code, WithBoundary: true})
	if err != nil {
		return nil, err
	}
	if len(areas) == 0 {
		return nil, notFound("area", code)
	}
	return areas[0], nil
}

// FindAreas implements cityops.AreaService, ordered by depth then code.
func (d *DB) FindAreas(ctx context.Context, f cityops.AreaFilter) ([]*cityops.Area, int, error) {
	return findAreas(ctx, d.db, d, f)
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func findAreas(ctx context.Context, q queryer, d *DB, f cityops.AreaFilter) ([]*cityops.Area, int, error) {
	var w where
	if f.ID != nil {
		w.add("a.id = ?", *f.ID)
	}
	if f.Code != nil {
		w.add("a.code = ?", *f.Code)
	}
	if f.ParentCode != nil {
		if *f.ParentCode == "" {
			w.add("a.parent_id is null")
		} else {
			w.add("p.code = ?", *f.ParentCode)
		}
	}
	if f.Kind != nil {
		w.add("a.kind = ?", *f.Kind)
	}
	if f.ValidAt != nil {
		t := f.ValidAt.UTC()
		w.add("(a.valid_from is null or a.valid_from <= ?) and (a.valid_to is null or a.valid_to > ?)", t, t)
	}
	from := ` from areas a left join areas p on p.id = a.parent_id` + w.String()
	var total int
	if err := q.QueryRowContext(ctx, `select count(*)`+from, w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count areas: %w", err)
	}
	cols := areaCols
	if f.WithBoundary {
		cols += `, a.boundary`
	}
	rows, err := q.QueryContext(ctx, `select `+cols+from+` order by a.depth, a.code`+d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find areas: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Area{}
	for rows.Next() {
		a, err := scanArea(rows, f.WithBoundary)
		if err != nil {
			return nil, 0, fmt.Errorf("find areas: %w", err)
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// checkBoundary parses and validates a GeoJSON boundary and returns it in
// normalised form, or an EINVALID error naming the geometry's problem.
func checkBoundary(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	mp, err := geo.ParseGeometry(raw)
	if err != nil {
		return "", &cityops.Error{Code: cityops.EINVALID, Message: "invalid boundary", Fields: map[string]string{"boundary": err.Error()}}
	}
	b, err := json.Marshal(mp)
	if err != nil {
		return "", fmt.Errorf("boundary: %w", err)
	}
	return string(b), nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// parentOf resolves a parent code inside tx: its id and the child's depth.
func parentOf(ctx context.Context, tx *Tx, code string) (id any, depth int, err error) {
	if code == "" {
		return nil, 0, nil
	}
	var pid int64
	var pdepth int
	err = tx.QueryRowContext(ctx, `select id, depth from areas where code = $1`, code).Scan(&pid, &pdepth)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"parent": fmt.Sprintf("unknown area %q", code)}}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("parent area: %w", err)
	}
	return pid, pdepth + 1, nil
}

// CreateArea implements cityops.AreaService.
func (d *DB) CreateArea(ctx context.Context, a *cityops.Area) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "area.create", "area:"+a.Code, err)
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	boundary, err := checkBoundary(a.Boundary)
	if err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		if err := createArea(ctx, tx, a, boundary); err != nil {
			return err
		}
		return tx.audit(ctx, "area.create", "area:"+a.Code, pairs("kind", a.Kind, "parent", a.ParentCode))
	})
}

func createArea(ctx context.Context, tx *Tx, a *cityops.Area, boundary string) error {
	pid, depth, err := parentOf(ctx, tx, a.ParentCode)
	if err != nil {
		return err
	}
	a.Depth, a.CreatedAt, a.UpdatedAt = depth, tx.now, tx.now
	if pid != nil {
		a.ParentID = pid.(int64)
	}
	err = tx.QueryRowContext(ctx, `insert into areas
		(code, name, names, kind, parent_id, depth, valid_from, valid_to, boundary, approximate, created_at, updated_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id`,
		a.Code, a.Name, marshalNames(a.Names), a.Kind, pid, depth, timeArg(a.ValidFrom), timeArg(a.ValidTo),
		nullString(boundary), a.Approximate, tx.now, tx.now).Scan(&a.ID)
	if isUnique(err) {
		return &cityops.Error{Code: cityops.ECONFLICT, Message: "an area with this code exists", Fields: map[string]string{"code": "is in use"}}
	}
	if err != nil {
		return fmt.Errorf("create area: %w", err)
	}
	if boundary != "" {
		a.Boundary = json.RawMessage(boundary)
	}
	return bumpAreaRevision(ctx, tx)
}

// UpdateArea implements cityops.AreaService. Moving an area under a new
// parent re-levels its whole subtree; a move under its own descendant is
// refused.
func (d *DB) UpdateArea(ctx context.Context, code string, upd cityops.AreaUpdate) (*cityops.Area, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "area.update", "area:"+code, err)
		return nil, err
	}
	var out *cityops.Area
	err := d.inTx(ctx, func(tx *Tx) error {
		list, _, err := findAreas(ctx, tx, d, cityops.AreaFilter{Code: &code, WithBoundary: true})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return notFound("area", code)
		}
		a := list[0]
		set(&a.Name, upd.Name)
		set(&a.Names, upd.Names)
		set(&a.Kind, upd.Kind)
		set(&a.ValidFrom, upd.ValidFrom)
		set(&a.ValidTo, upd.ValidTo)
		set(&a.Approximate, upd.Approximate)
		set(&a.Boundary, upd.Boundary)
		moved := upd.ParentCode != nil && *upd.ParentCode != a.ParentCode
		set(&a.ParentCode, upd.ParentCode)
		if err := a.Validate(); err != nil {
			return err
		}
		boundary, err := checkBoundary(a.Boundary)
		if err != nil {
			return err
		}
		if moved {
			pid, depth, err := parentOf(ctx, tx, a.ParentCode)
			if err != nil {
				return err
			}
			if pid != nil {
				if err := checkNotDescendant(ctx, tx, a.ID, pid.(int64)); err != nil {
					return err
				}
				a.ParentID = pid.(int64)
			} else {
				a.ParentID = 0
			}
			if _, err := tx.ExecContext(ctx, `update areas set parent_id = $1 where id = $2`, pid, a.ID); err != nil {
				return fmt.Errorf("update area: %w", err)
			}
			if err := relevel(ctx, tx, a.ID, depth); err != nil {
				return err
			}
			a.Depth = depth
		}
		a.UpdatedAt = tx.now
		if _, err := tx.ExecContext(ctx, `update areas set name = $1, names = $2, kind = $3, valid_from = $4,
			valid_to = $5, boundary = $6, approximate = $7, updated_at = $8 where id = $9`,
			a.Name, marshalNames(a.Names), a.Kind, timeArg(a.ValidFrom), timeArg(a.ValidTo),
			nullString(boundary), a.Approximate, tx.now, a.ID); err != nil {
			return fmt.Errorf("update area: %w", err)
		}
		if boundary != "" {
			a.Boundary = json.RawMessage(boundary)
		} else {
			a.Boundary = nil
		}
		out = a
		if err := bumpAreaRevision(ctx, tx); err != nil {
			return err
		}
		var g given
		g.add("name", upd.Name != nil || upd.Names != nil)
		g.add("kind", upd.Kind != nil)
		g.add("parent", upd.ParentCode != nil)
		g.add("valid", upd.ValidFrom != nil || upd.ValidTo != nil)
		g.add("boundary", upd.Boundary != nil || upd.Approximate != nil)
		return tx.audit(ctx, "area.update", "area:"+a.Code, g.String())
	})
	return out, err
}

// checkNotDescendant refuses to put area id under newParent when newParent
// is id itself or lies below it, which would make a cycle.
func checkNotDescendant(ctx context.Context, tx *Tx, id, newParent int64) error {
	cur := newParent
	for steps := 0; steps < 1000; steps++ {
		if cur == id {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"parent": "is this area or one of its sub-areas; that would make a cycle"}}
		}
		var p sql.NullInt64
		if err := tx.QueryRowContext(ctx, `select parent_id from areas where id = $1`, cur).Scan(&p); err != nil {
			return fmt.Errorf("area ancestry: %w", err)
		}
		if !p.Valid {
			return nil
		}
		cur = p.Int64
	}
	return fmt.Errorf("area ancestry deeper than 1000 levels")
}

// relevel sets the depth of id to depth and of its descendants below it.
func relevel(ctx context.Context, tx *Tx, id int64, depth int) error {
	queue := []int64{id}
	depths := []int{depth}
	for len(queue) > 0 {
		cur, dep := queue[0], depths[0]
		queue, depths = queue[1:], depths[1:]
		if _, err := tx.ExecContext(ctx, `update areas set depth = $1 where id = $2`, dep, cur); err != nil {
			return fmt.Errorf("relevel areas: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `select id from areas where parent_id = $1`, cur)
		if err != nil {
			return fmt.Errorf("relevel areas: %w", err)
		}
		for rows.Next() {
			var c int64
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return fmt.Errorf("relevel areas: %w", err)
			}
			queue, depths = append(queue, c), append(depths, dep+1)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("relevel areas: %w", err)
		}
	}
	return nil
}

// DeleteArea implements cityops.AreaService. Areas that anything refers to
// (sub-areas, agencies, users) cannot be deleted; give them ValidTo instead.
func (d *DB) DeleteArea(ctx context.Context, code string) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "area.delete", "area:"+code, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from areas where code = $1`, code)
		if isForeignKey(err) {
			return cityops.Errorf(cityops.ECONFLICT, "area %q is referenced by sub-areas, agencies or users; set valid_to instead of deleting it", code)
		}
		if err != nil {
			return fmt.Errorf("delete area: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("area", code)
		}
		if err := bumpAreaRevision(ctx, tx); err != nil {
			return err
		}
		return tx.audit(ctx, "area.delete", "area:"+code, "")
	})
}

// bumpAreaRevision records that areas changed, so that every process
// sharing the database rebuilds its point-in-polygon index.
func bumpAreaRevision(ctx context.Context, tx *Tx) error {
	// A random token, not a counter or the time: unique even when two
	// processes change areas in the same instant.
	rev := auth.NewToken(12)
	res, err := tx.ExecContext(ctx, `update meta set value = $1 where key = 'areas_rev'`, rev)
	if err != nil {
		return fmt.Errorf("area revision: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.ExecContext(ctx, `insert into meta (key, value) values ('areas_rev', $1)`, rev); err != nil {
			return fmt.Errorf("area revision: %w", err)
		}
	}
	return nil
}

// areaCache holds the point-in-polygon index of the areas in force now. It
// is only a cache: it is rebuilt whenever the revision in the database
// moves, checked at most every recheck interval.
type areaCache struct {
	mu        sync.Mutex
	rev       string
	checkedAt time.Time
	idx       *geo.Index
	byID      map[int64]*cityops.Area
	builtFor  time.Time
}

// areaRecheck bounds how stale another process's area change can be here.
const areaRecheck = 2 * time.Second

// LocateArea implements cityops.AreaService.
func (d *DB) LocateArea(ctx context.Context, lat, lon float64, t time.Time) (*cityops.Area, error) {
	var v cityops.Validation
	v.Check(lat >= -90 && lat <= 90, "lat", "must be between -90 and 90")
	v.Check(lon >= -180 && lon <= 180, "lon", "must be between -180 and 180")
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := d.Now()
	var idx *geo.Index
	var byID map[int64]*cityops.Area
	if t.IsZero() || t.Sub(now).Abs() < time.Minute {
		var err error
		if idx, byID, err = d.currentIndex(ctx, now); err != nil {
			return nil, err
		}
	} else {
		var err error
		// A past time: old reports under superseded units. Rare, so the
		// index is built for the call and not kept.
		if idx, byID, err = d.buildIndex(ctx, t); err != nil {
			return nil, err
		}
	}
	id, ok := idx.Locate(geo.Point{Lon: lon, Lat: lat})
	if !ok {
		return nil, cityops.Errorf(cityops.ENOTFOUND, "no area contains %.6f, %.6f", lat, lon)
	}
	a := *byID[id]
	return &a, nil
}

// InArea implements cityops.AreaService.
func (d *DB) InArea(ctx context.Context, lat, lon float64, code string) (bool, error) {
	idx, byID, err := d.currentIndex(ctx, d.Now())
	if err != nil {
		return false, err
	}
	id, ok := idx.Locate(geo.Point{Lon: lon, Lat: lat})
	for seen := 0; ok && seen < 64; seen++ { // areas nest a few levels deep
		a := byID[id]
		if a == nil {
			return false, nil
		}
		if a.Code == code {
			return true, nil
		}
		id, ok = a.ParentID, a.ParentID != 0
	}
	return false, nil
}

func (d *DB) currentIndex(ctx context.Context, now time.Time) (*geo.Index, map[int64]*cityops.Area, error) {
	c := d.areas
	c.mu.Lock()
	defer c.mu.Unlock()
	// Areas become valid or expire with time, too: rebuild at least hourly.
	if c.idx != nil && now.Sub(c.checkedAt) < areaRecheck {
		return c.idx, c.byID, nil
	}
	var rev string
	err := d.db.QueryRowContext(ctx, `select value from meta where key = 'areas_rev'`).Scan(&rev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("area revision: %w", err)
	}
	if c.idx == nil || rev != c.rev || now.Sub(c.builtFor) > time.Hour {
		idx, byID, err := d.buildIndex(ctx, now)
		if err != nil {
			return nil, nil, err
		}
		c.idx, c.byID, c.rev, c.builtFor = idx, byID, rev, now
	}
	c.checkedAt = now
	return c.idx, c.byID, nil
}

func (d *DB) buildIndex(ctx context.Context, at time.Time) (*geo.Index, map[int64]*cityops.Area, error) {
	areas, _, err := d.FindAreas(ctx, cityops.AreaFilter{ValidAt: &at, WithBoundary: true})
	if err != nil {
		return nil, nil, err
	}
	entries := make([]geo.Entry, 0, len(areas))
	byID := make(map[int64]*cityops.Area, len(areas))
	for _, a := range areas {
		if len(a.Boundary) == 0 {
			continue
		}
		mp, err := geo.ParseGeometry(a.Boundary)
		if err != nil {
			d.Log.Warn("area boundary unreadable; left out of the index", "area", a.Code, "err", err)
			continue
		}
		entries = append(entries, geo.Entry{ID: a.ID, Depth: a.Depth, Shape: mp})
		a.Boundary = nil
		byID[a.ID] = a
	}
	return geo.NewIndex(entries), byID, nil
}

// ImportAreas implements cityops.AreaService.
func (d *DB) ImportAreas(ctx context.Context, areas []*cityops.Area) (created, updated int, err error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "area.import", "areas", err)
		return 0, 0, err
	}
	ordered, err := parentsFirst(areas)
	if err != nil {
		return 0, 0, err
	}
	boundaries := make([]string, len(ordered))
	for i, a := range ordered {
		if err := a.Validate(); err != nil {
			return 0, 0, prefixInvalid(err, a.Code)
		}
		if boundaries[i], err = checkBoundary(a.Boundary); err != nil {
			return 0, 0, prefixInvalid(err, a.Code)
		}
	}
	err = d.inTx(ctx, func(tx *Tx) error {
		created, updated = 0, 0
		for i, a := range ordered {
			var id int64
			err := tx.QueryRowContext(ctx, `select id from areas where code = $1`, a.Code).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				if err := createArea(ctx, tx, a, boundaries[i]); err != nil {
					return prefixInvalid(err, a.Code)
				}
				created++
				continue
			}
			if err != nil {
				return fmt.Errorf("import area %s: %w", a.Code, err)
			}
			pid, depth, err := parentOf(ctx, tx, a.ParentCode)
			if err != nil {
				return prefixInvalid(err, a.Code)
			}
			if pid != nil {
				if err := checkNotDescendant(ctx, tx, id, pid.(int64)); err != nil {
					return prefixInvalid(err, a.Code)
				}
			}
			if _, err := tx.ExecContext(ctx, `update areas set name = $1, names = $2, kind = $3, parent_id = $4,
				valid_from = $5, valid_to = $6, boundary = $7, approximate = $8, updated_at = $9 where id = $10`,
				a.Name, marshalNames(a.Names), a.Kind, pid, timeArg(a.ValidFrom), timeArg(a.ValidTo),
				nullString(boundaries[i]), a.Approximate, tx.now, id); err != nil {
				return fmt.Errorf("import area %s: %w", a.Code, err)
			}
			if err := relevel(ctx, tx, id, depth); err != nil {
				return err
			}
			a.ID = id
			updated++
		}
		if err := bumpAreaRevision(ctx, tx); err != nil {
			return err
		}
		return tx.audit(ctx, "area.import", "areas", fmt.Sprintf("created=%d updated=%d", created, updated))
	})
	if err != nil {
		return 0, 0, err
	}
	return created, updated, nil
}

// parentsFirst orders areas so that each comes after its parent when the
// parent is in the same list; duplicate codes are an error.
func parentsFirst(areas []*cityops.Area) ([]*cityops.Area, error) {
	byCode := map[string]*cityops.Area{}
	for _, a := range areas {
		if _, dup := byCode[a.Code]; dup {
			return nil, cityops.Errorf(cityops.EINVALID, "area %q appears twice in the import", a.Code)
		}
		byCode[a.Code] = a
	}
	out := make([]*cityops.Area, 0, len(areas))
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(a *cityops.Area) error
	visit = func(a *cityops.Area) error {
		switch state[a.Code] {
		case 1:
			return cityops.Errorf(cityops.EINVALID, "area %q is its own ancestor in the import", a.Code)
		case 2:
			return nil
		}
		state[a.Code] = 1
		if p, ok := byCode[a.ParentCode]; ok && a.ParentCode != "" {
			if err := visit(p); err != nil {
				return err
			}
		}
		state[a.Code] = 2
		out = append(out, a)
		return nil
	}
	for _, a := range areas {
		if err := visit(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefixInvalid names the area in a validation error's message.
func prefixInvalid(err error, code string) error {
	var e *cityops.Error
	if errors.As(err, &e) && e.Code != cityops.EINTERNAL {
		return &cityops.Error{Code: e.Code, Message: fmt.Sprintf("area %q: %s", code, e.Message), Fields: e.Fields}
	}
	return err
}
