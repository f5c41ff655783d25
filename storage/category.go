package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cityops/cityops"
)

var _ cityops.CategoryService = (*DB)(nil)

const categoryCols = `c.id, c.code, s.code, c.name, c.names, c.urgent, c.active, c.hours_timed, c.hours_urgent, c.attributes`

func scanCategory(row interface{ Scan(...any) error }) (*cityops.Category, error) {
	var c cityops.Category
	var names, attrs string
	if err := row.Scan(&c.ID, &c.Code, &c.Sector, &c.Name, &names, &c.Urgent, &c.Active, &c.HoursTimed, &c.HoursUrgent, &attrs); err != nil {
		return nil, err
	}
	c.Names = unmarshalNames(names)
	if err := json.Unmarshal([]byte(attrs), &c.Attributes); err != nil {
		return nil, fmt.Errorf("category %s attributes: %w", c.Code, err)
	}
	return &c, nil
}

func marshalAttrs(a []cityops.Attribute) string {
	if len(a) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// FindCategoryByCode implements cityops.CategoryService.
func (d *DB) FindCategoryByCode(ctx context.Context, code string) (*cityops.Category, error) {
	c, err := scanCategory(d.db.QueryRowContext(ctx, `select `+categoryCols+`
		from categories c join sectors s on s.id = c.sector_id where c.code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("category", code)
	}
	if err != nil {
		return nil, fmt.Errorf("find category: %w", err)
	}
	return c, nil
}

// FindCategories implements cityops.CategoryService.
func (d *DB) FindCategories(ctx context.Context, f cityops.CategoryFilter) ([]*cityops.Category, error) {
	var w where
	if f.Sector != nil {
		w.add("s.code = ?", *f.Sector)
	}
	if f.Active != nil {
		w.add("c.active = ?", *f.Active)
	}
	rows, err := d.db.QueryContext(ctx, `select `+categoryCols+` from categories c join sectors s on s.id = c.sector_id`+
		w.String()+` order by s.position, s.code, c.code`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("find categories: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Category{}
	for rows.Next() {
		c, err := scanCategory(rows)
		if err != nil {
			return nil, fmt.Errorf("find categories: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateCategory implements cityops.CategoryService.
func (d *DB) CreateCategory(ctx context.Context, c *cityops.Category) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "category.create", "category:"+c.Code, err)
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		sid, err := sectorIDs(ctx, tx, "sector", []string{c.Sector})
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `insert into categories (code, sector_id, name, names, urgent, active, hours_timed, hours_urgent, attributes)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
			c.Code, sid[0], c.Name, marshalNames(c.Names), c.Urgent, c.Active, c.HoursTimed, c.HoursUrgent, marshalAttrs(c.Attributes)).Scan(&c.ID)
		if isUnique(err) {
			return &cityops.Error{Code: cityops.ECONFLICT, Message: "a category with this code exists", Fields: map[string]string{"code": "is in use"}}
		}
		if err != nil {
			return fmt.Errorf("create category: %w", err)
		}
		return tx.audit(ctx, "category.create", "category:"+c.Code, pairs("sector", c.Sector, "active", strconv.FormatBool(c.Active)))
	})
}

// UpdateCategory implements cityops.CategoryService.
func (d *DB) UpdateCategory(ctx context.Context, code string, upd cityops.CategoryUpdate) (*cityops.Category, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "category.update", "category:"+code, err)
		return nil, err
	}
	var out *cityops.Category
	err := d.inTx(ctx, func(tx *Tx) error {
		c, err := scanCategory(tx.QueryRowContext(ctx, `select `+categoryCols+`
			from categories c join sectors s on s.id = c.sector_id where c.code = $1`, code))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("category", code)
		}
		if err != nil {
			return fmt.Errorf("update category: %w", err)
		}
		set(&c.Sector, upd.Sector)
		set(&c.Name, upd.Name)
		set(&c.Names, upd.Names)
		set(&c.Urgent, upd.Urgent)
		set(&c.Active, upd.Active)
		set(&c.HoursTimed, upd.HoursTimed)
		set(&c.HoursUrgent, upd.HoursUrgent)
		set(&c.Attributes, upd.Attributes)
		if err := c.Validate(); err != nil {
			return err
		}
		sid, err := sectorIDs(ctx, tx, "sector", []string{c.Sector})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `update categories set sector_id = $1, name = $2, names = $3, urgent = $4, active = $5,
			hours_timed = $6, hours_urgent = $7, attributes = $8 where id = $9`,
			sid[0], c.Name, marshalNames(c.Names), c.Urgent, c.Active, c.HoursTimed, c.HoursUrgent, marshalAttrs(c.Attributes), c.ID); err != nil {
			return fmt.Errorf("update category: %w", err)
		}
		out = c
		var g given
		g.add("sector", upd.Sector != nil)
		g.add("name", upd.Name != nil || upd.Names != nil)
		g.add("urgent", upd.Urgent != nil)
		g.add("active", upd.Active != nil)
		g.add("hours", upd.HoursTimed != nil || upd.HoursUrgent != nil)
		g.add("attributes", upd.Attributes != nil)
		return tx.audit(ctx, "category.update", "category:"+code, g.String())
	})
	return out, err
}
