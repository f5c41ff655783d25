package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cityops/cityops"
)

var _ cityops.SectorService = (*DB)(nil)

const sectorCols = `id, code, name, names, position`

func scanSector(row interface{ Scan(...any) error }) (*cityops.Sector, error) {
	var s cityops.Sector
	var names string
	if err := row.Scan(&s.ID, &s.Code, &s.Name, &names, &s.Position); err != nil {
		return nil, err
	}
	s.Names = unmarshalNames(names)
	return &s, nil
}

// FindSectorByCode implements cityops.SectorService.
func (d *DB) FindSectorByCode(ctx context.Context, code string) (*cityops.Sector, error) {
	s, err := scanSector(d.db.QueryRowContext(ctx, `select `+sectorCols+` from sectors where code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("sector", code)
	}
	if err != nil {
		return nil, fmt.Errorf("find sector: %w", err)
	}
	return s, nil
}

// FindSectors implements cityops.SectorService.
func (d *DB) FindSectors(ctx context.Context) ([]*cityops.Sector, error) {
	rows, err := d.db.QueryContext(ctx, `select `+sectorCols+` from sectors order by position, code`)
	if err != nil {
		return nil, fmt.Errorf("find sectors: %w", err)
	}
	defer rows.Close()
	var out []*cityops.Sector
	for rows.Next() {
		s, err := scanSector(rows)
		if err != nil {
			return nil, fmt.Errorf("find sectors: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// CreateSector implements cityops.SectorService.
func (d *DB) CreateSector(ctx context.Context, s *cityops.Sector) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "sector.create", "sector:"+s.Code, err)
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `insert into sectors (code, name, names, position) values ($1, $2, $3, $4) returning id`,
			s.Code, s.Name, marshalNames(s.Names), s.Position).Scan(&s.ID)
		if isUnique(err) {
			return &cityops.Error{Code: cityops.ECONFLICT, Message: "a sector with this code exists", Fields: map[string]string{"code": "is in use"}}
		}
		if err != nil {
			return fmt.Errorf("create sector: %w", err)
		}
		return tx.audit(ctx, "sector.create", "sector:"+s.Code, "")
	})
}

// UpdateSector implements cityops.SectorService.
func (d *DB) UpdateSector(ctx context.Context, code string, upd cityops.SectorUpdate) (*cityops.Sector, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "sector.update", "sector:"+code, err)
		return nil, err
	}
	var out *cityops.Sector
	err := d.inTx(ctx, func(tx *Tx) error {
		s, err := scanSector(tx.QueryRowContext(ctx, `select `+sectorCols+` from sectors where code = $1`, code))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("sector", code)
		}
		if err != nil {
			return fmt.Errorf("update sector: %w", err)
		}
		set(&s.Name, upd.Name)
		set(&s.Names, upd.Names)
		set(&s.Position, upd.Position)
		if err := s.Validate(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `update sectors set name = $1, names = $2, position = $3 where id = $4`,
			s.Name, marshalNames(s.Names), s.Position, s.ID); err != nil {
			return fmt.Errorf("update sector: %w", err)
		}
		out = s
		var g given
		g.add("name", upd.Name != nil || upd.Names != nil)
		g.add("position", upd.Position != nil)
		return tx.audit(ctx, "sector.update", "sector:"+code, g.String())
	})
	return out, err
}

// DeleteSector implements cityops.SectorService.
func (d *DB) DeleteSector(ctx context.Context, code string) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "sector.delete", "sector:"+code, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from sectors where code = $1`, code)
		if isForeignKey(err) {
			return cityops.Errorf(cityops.ECONFLICT, "sector %q is in use by agencies or categories", code)
		}
		if err != nil {
			return fmt.Errorf("delete sector: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("sector", code)
		}
		return tx.audit(ctx, "sector.delete", "sector:"+code, "")
	})
}

// sectorIDs maps sector codes to ids inside tx, naming unknown codes in an
// EINVALID error on field.
func sectorIDs(ctx context.Context, tx *Tx, field string, codes []string) ([]int64, error) {
	ids := make([]int64, 0, len(codes))
	for _, c := range codes {
		var id int64
		err := tx.QueryRowContext(ctx, `select id from sectors where code = $1`, c).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{field: fmt.Sprintf("unknown sector %q", c)}}
		}
		if err != nil {
			return nil, fmt.Errorf("sector %s: %w", c, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
