package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cityops/cityops"
)

var _ cityops.RoutingService = (*DB)(nil)

// FindRoutingRules implements cityops.RoutingService.
func (d *DB) FindRoutingRules(ctx context.Context) ([]*cityops.RoutingRule, error) {
	rows, err := d.db.QueryContext(ctx, `select r.id, coalesce(c.code, ''), coalesce(s.code, ''), coalesce(a.code, ''),
		coalesce(g.code, ''), r.local_agency, r.note, r.created_at
		from routing_rules r left join categories c on c.id = r.category_id left join sectors s on s.id = r.sector_id
		left join areas a on a.id = r.area_id left join agencies g on g.id = r.agency_id
		order by r.id`)
	if err != nil {
		return nil, fmt.Errorf("find routing rules: %w", err)
	}
	defer rows.Close()
	out := []*cityops.RoutingRule{}
	for rows.Next() {
		var r cityops.RoutingRule
		if err := rows.Scan(&r.ID, &r.Category, &r.Sector, &r.Area, &r.Agency, &r.LocalAgency, &r.Note, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("find routing rules: %w", err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

// CreateRoutingRule implements cityops.RoutingService.
func (d *DB) CreateRoutingRule(ctx context.Context, r *cityops.RoutingRule) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "routing.create", "", err)
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		var v cityops.Validation
		ids := map[string]any{}
		for _, ref := range []struct{ field, table, code string }{
			{"category", "categories", r.Category}, {"sector", "sectors", r.Sector},
			{"area", "areas", r.Area}, {"agency", "agencies", r.Agency},
		} {
			ids[ref.field] = nil
			if ref.code == "" {
				continue
			}
			var id int64
			err := tx.QueryRowContext(ctx, `select id from `+ref.table+` where code = $1`, ref.code).Scan(&id)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				v.Add(ref.field, "unknown %s %q", ref.field, ref.code)
			case err != nil:
				return fmt.Errorf("routing rule: %w", err)
			default:
				ids[ref.field] = id
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		r.CreatedAt = tx.now
		err := tx.QueryRowContext(ctx, `insert into routing_rules (category_id, sector_id, area_id, agency_id, local_agency, note, created_at)
			values ($1, $2, $3, $4, $5, $6, $7) returning id`,
			ids["category"], ids["sector"], ids["area"], ids["agency"], r.LocalAgency, r.Note, tx.now).Scan(&r.ID)
		if err != nil {
			return fmt.Errorf("create routing rule: %w", err)
		}
		local := ""
		if r.LocalAgency {
			local = "true"
		}
		return tx.audit(ctx, "routing.create", fmt.Sprintf("routing_rule:%d", r.ID),
			pairs("category", r.Category, "sector", r.Sector, "area", r.Area, "agency", r.Agency, "local_agency", local))
	})
}

// DeleteRoutingRule implements cityops.RoutingService.
func (d *DB) DeleteRoutingRule(ctx context.Context, id int64) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "routing.delete", fmt.Sprintf("routing_rule:%d", id), err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from routing_rules where id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete routing rule: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "routing rule %d not found", id)
		}
		return tx.audit(ctx, "routing.delete", fmt.Sprintf("routing_rule:%d", id), "")
	})
}

// areaChain returns the area and its ancestors, innermost first.
func areaChain(ctx context.Context, tx *Tx, areaID int64) ([]int64, error) {
	var chain []int64
	for cur := areaID; cur != 0 && len(chain) < 100; {
		chain = append(chain, cur)
		var p sql.NullInt64
		if err := tx.QueryRowContext(ctx, `select parent_id from areas where id = $1`, cur).Scan(&p); err != nil {
			return nil, fmt.Errorf("area chain: %w", err)
		}
		cur = p.Int64
	}
	return chain, nil
}

// route picks the lead agency for a report of category (in sector) at
// area (0 when unknown) by the most specific matching rule. It returns 0
// when no rule matches: the report goes to the centre's triage queue.
func route(ctx context.Context, tx *Tx, categoryID, sectorID, areaID int64) (agencyID int64, note string, err error) {
	var chain []int64
	if areaID != 0 {
		if chain, err = areaChain(ctx, tx, areaID); err != nil {
			return 0, "", err
		}
	}
	var w where
	w.add("(r.category_id = ? or (r.category_id is null and (r.sector_id = ? or r.sector_id is null)))", categoryID, sectorID)
	if len(chain) > 0 {
		ph := make([]string, len(chain))
		args := make([]any, len(chain))
		for i, id := range chain {
			ph[i], args[i] = "?", id
		}
		w.add("(r.area_id is null or r.area_id in ("+strings.Join(ph, ", ")+"))", args...)
	} else {
		w.add("r.area_id is null")
	}
	rows, err := tx.QueryContext(ctx, `select coalesce(r.agency_id, 0), r.local_agency, r.id
		from routing_rules r left join areas a on a.id = r.area_id`+w.String()+`
		order by coalesce(a.depth, -1) desc, (r.category_id is not null) desc, (r.sector_id is not null) desc, r.id`, w.args...)
	if err != nil {
		return 0, "", fmt.Errorf("route: %w", err)
	}
	type cand struct {
		agency int64
		local  bool
		rule   int64
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.agency, &c.local, &c.rule); err != nil {
			rows.Close()
			return 0, "", fmt.Errorf("route: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("route: %w", err)
	}
	for _, c := range cands {
		if !c.local {
			var active bool
			if err := tx.QueryRowContext(ctx, `select active from agencies where id = $1`, c.agency).Scan(&active); err != nil {
				return 0, "", fmt.Errorf("route: %w", err)
			}
			if active {
				return c.agency, fmt.Sprintf("routing rule %d", c.rule), nil
			}
			continue
		}
		// The People's Committee of the innermost area that has one.
		for _, area := range chain {
			var id int64
			err := tx.QueryRowContext(ctx, `select g.id from agencies g join agency_areas x on x.agency_id = g.id
				where x.area_id = $1 and g.kind = $2 and g.active order by g.id limit 1`, area, cityops.AgencyLocal).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return 0, "", fmt.Errorf("route: %w", err)
			}
			return id, fmt.Sprintf("routing rule %d (local agency)", c.rule), nil
		}
	}
	return 0, "", nil
}
