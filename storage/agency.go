package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
)

var _ cityops.AgencyService = (*DB)(nil)

const agencyCols = `g.id, g.code, g.name, g.names, g.kind, g.email, g.phone, g.active, g.created_at, g.updated_at`

// FindAgencyByCode implements cityops.AgencyService.
func (d *DB) FindAgencyByCode(ctx context.Context, code string) (*cityops.Agency, error) {
	list, _, err := findAgencies(ctx, d.db, d, cityops.AgencyFilter{Code: &code})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, notFound("agency", code)
	}
	return list[0], nil
}

// FindAgencies implements cityops.AgencyService, ordered by kind then code.
func (d *DB) FindAgencies(ctx context.Context, f cityops.AgencyFilter) ([]*cityops.Agency, int, error) {
	return findAgencies(ctx, d.db, d, f)
}

func findAgencies(ctx context.Context, q queryer, d *DB, f cityops.AgencyFilter) ([]*cityops.Agency, int, error) {
	var w where
	if f.Code != nil {
		w.add("g.code = ?", *f.Code)
	}
	if f.Kind != nil {
		w.add("g.kind = ?", *f.Kind)
	}
	if f.Active != nil {
		w.add("g.active = ?", *f.Active)
	}
	if f.Sector != nil {
		w.add(`exists (select 1 from agency_sectors x join sectors s on s.id = x.sector_id
			where x.agency_id = g.id and s.code = ?)`, *f.Sector)
	}
	if f.Area != nil {
		w.add(`(not exists (select 1 from agency_areas x where x.agency_id = g.id) or exists (select 1
			from agency_areas x join areas a on a.id = x.area_id where x.agency_id = g.id and a.code = ?))`, *f.Area)
	}
	from := ` from agencies g` + w.String()
	var total int
	if err := q.QueryRowContext(ctx, `select count(*)`+from, w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count agencies: %w", err)
	}
	rows, err := q.QueryContext(ctx, `select `+agencyCols+from+` order by g.kind, g.code`+d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find agencies: %w", err)
	}
	out := []*cityops.Agency{}
	byID := map[int64]*cityops.Agency{}
	for rows.Next() {
		var a cityops.Agency
		var names string
		if err := rows.Scan(&a.ID, &a.Code, &a.Name, &names, &a.Kind, &a.Email, &a.Phone, &a.Active, &a.CreatedAt, &a.UpdatedAt); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("find agencies: %w", err)
		}
		a.Names = unmarshalNames(names)
		a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
		a.Sectors, a.Areas = []string{}, []string{}
		out = append(out, &a)
		byID[a.ID] = &a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find agencies: %w", err)
	}
	if len(out) == 0 {
		return out, total, nil
	}
	// Sectors and areas of the page's agencies, in two queries.
	for _, rel := range []struct {
		sql string
		add func(a *cityops.Agency, code string)
	}{
		{`select x.agency_id, s.code from agency_sectors x join sectors s on s.id = x.sector_id`,
			func(a *cityops.Agency, c string) { a.Sectors = append(a.Sectors, c) }},
		{`select x.agency_id, a.code from agency_areas x join areas a on a.id = x.area_id`,
			func(a *cityops.Agency, c string) { a.Areas = append(a.Areas, c) }},
	} {
		var where string
		var args []any
		if len(out) == 1 {
			where, args = ` where x.agency_id = $1`, []any{out[0].ID}
		}
		rows, err := q.QueryContext(ctx, rel.sql+where, args...)
		if err != nil {
			return nil, 0, fmt.Errorf("agency relations: %w", err)
		}
		for rows.Next() {
			var id int64
			var code string
			if err := rows.Scan(&id, &code); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("agency relations: %w", err)
			}
			if a := byID[id]; a != nil {
				rel.add(a, code)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("agency relations: %w", err)
		}
	}
	for _, a := range out {
		sort.Strings(a.Sectors)
		sort.Strings(a.Areas)
	}
	return out, total, nil
}

// CreateAgency implements cityops.AgencyService.
func (d *DB) CreateAgency(ctx context.Context, a *cityops.Agency) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "agency.create", "agency:"+a.Code, err)
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		a.CreatedAt, a.UpdatedAt = tx.now, tx.now
		err := tx.QueryRowContext(ctx, `insert into agencies (code, name, names, kind, email, phone, active, created_at, updated_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
			a.Code, a.Name, marshalNames(a.Names), a.Kind, a.Email, a.Phone, a.Active, tx.now, tx.now).Scan(&a.ID)
		if isUnique(err) {
			return &cityops.Error{Code: cityops.ECONFLICT, Message: "an agency with this code exists", Fields: map[string]string{"code": "is in use"}}
		}
		if err != nil {
			return fmt.Errorf("create agency: %w", err)
		}
		if err := setAgencyRelations(ctx, tx, a); err != nil {
			return err
		}
		return tx.audit(ctx, "agency.create", "agency:"+a.Code, agencyDetail(a))
	})
}

// setAgencyRelations replaces the agency's sectors and areas.
func setAgencyRelations(ctx context.Context, tx *Tx, a *cityops.Agency) error {
	a.Sectors, a.Areas = dedupe(a.Sectors), dedupe(a.Areas)
	sids, err := sectorIDs(ctx, tx, "sectors", a.Sectors)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `delete from agency_sectors where agency_id = $1`, a.ID); err != nil {
		return fmt.Errorf("agency sectors: %w", err)
	}
	for _, id := range sids {
		if _, err := tx.ExecContext(ctx, `insert into agency_sectors (agency_id, sector_id) values ($1, $2)`, a.ID, id); err != nil {
			return fmt.Errorf("agency sectors: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `delete from agency_areas where agency_id = $1`, a.ID); err != nil {
		return fmt.Errorf("agency areas: %w", err)
	}
	for _, code := range a.Areas {
		var id int64
		err := tx.QueryRowContext(ctx, `select id from areas where code = $1`, code).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"areas": fmt.Sprintf("unknown area %q", code)}}
		}
		if err != nil {
			return fmt.Errorf("agency areas: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `insert into agency_areas (agency_id, area_id) values ($1, $2)`, a.ID, id); err != nil {
			return fmt.Errorf("agency areas: %w", err)
		}
	}
	return nil
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// UpdateAgency implements cityops.AgencyService.
func (d *DB) UpdateAgency(ctx context.Context, code string, upd cityops.AgencyUpdate) (*cityops.Agency, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "agency.update", "agency:"+code, err)
		return nil, err
	}
	var out *cityops.Agency
	err := d.inTx(ctx, func(tx *Tx) error {
		list, _, err := findAgencies(ctx, tx, d, cityops.AgencyFilter{Code: &code})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return notFound("agency", code)
		}
		a := list[0]
		set(&a.Name, upd.Name)
		set(&a.Names, upd.Names)
		set(&a.Kind, upd.Kind)
		set(&a.Sectors, upd.Sectors)
		set(&a.Areas, upd.Areas)
		set(&a.Email, upd.Email)
		set(&a.Phone, upd.Phone)
		set(&a.Active, upd.Active)
		if err := a.Validate(); err != nil {
			return err
		}
		a.UpdatedAt = tx.now
		if _, err := tx.ExecContext(ctx, `update agencies set name = $1, names = $2, kind = $3, email = $4, phone = $5,
			active = $6, updated_at = $7 where id = $8`,
			a.Name, marshalNames(a.Names), a.Kind, a.Email, a.Phone, a.Active, tx.now, a.ID); err != nil {
			return fmt.Errorf("update agency: %w", err)
		}
		if err := setAgencyRelations(ctx, tx, a); err != nil {
			return err
		}
		out = a
		var g given
		g.add("name", upd.Name != nil || upd.Names != nil)
		g.add("kind", upd.Kind != nil)
		g.add("sectors", upd.Sectors != nil)
		g.add("areas", upd.Areas != nil)
		g.add("contact", upd.Email != nil || upd.Phone != nil)
		g.add("active", upd.Active != nil)
		return tx.audit(ctx, "agency.update", "agency:"+code, g.String()+" "+agencyDetail(a))
	})
	return out, err
}

// DeleteAgency implements cityops.AgencyService.
func (d *DB) DeleteAgency(ctx context.Context, code string) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "agency.delete", "agency:"+code, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from agencies where code = $1`, code)
		if isForeignKey(err) {
			return cityops.Errorf(cityops.ECONFLICT, "agency %q has users or handles cases; set it inactive instead", code)
		}
		if err != nil {
			return fmt.Errorf("delete agency: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("agency", code)
		}
		return tx.audit(ctx, "agency.delete", "agency:"+code, "")
	})
}

// agencyDetail describes an agency's reach for the audit trail.
func agencyDetail(a *cityops.Agency) string {
	return pairs("active", strconv.FormatBool(a.Active), "sectors", strings.Join(a.Sectors, ","), "areas", strings.Join(a.Areas, ","))
}
