package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.RetentionService = (*DB)(nil)

// SetRetention implements cityops.RetentionService.
func (d *DB) SetRetention(ctx context.Context, p *cityops.RetentionPolicy) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "retention.set", "retention:"+p.Tenant+"/"+p.EntityType, err)
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	days := func(n int) any {
		if n == 0 {
			return nil
		}
		return n
	}
	return d.inTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `insert into retention_policies (tenant, entity_type, raw_days, hour_days, day_days, updated_at)
			values ($1, $2, $3, $4, $5, $6)
			on conflict (tenant, entity_type) do update set raw_days = excluded.raw_days,
			hour_days = excluded.hour_days, day_days = excluded.day_days, updated_at = excluded.updated_at`,
			p.Tenant, p.EntityType, days(p.RawDays), days(p.HourDays), days(p.DayDays), tx.now)
		if err != nil {
			return fmt.Errorf("set retention: %w", err)
		}
		return tx.audit(ctx, "retention.set", "retention:"+p.Tenant+"/"+p.EntityType,
			fmt.Sprintf("raw_days=%d hour_days=%d day_days=%d", p.RawDays, p.HourDays, p.DayDays))
	})
}

// RetentionPolicies implements cityops.RetentionService.
func (d *DB) RetentionPolicies(ctx context.Context, tenant string) ([]*cityops.RetentionPolicy, error) {
	return d.retentionPolicies(ctx, `where tenant = $1`, tenant)
}

func (d *DB) retentionPolicies(ctx context.Context, where string, args ...any) ([]*cityops.RetentionPolicy, error) {
	rows, err := d.db.QueryContext(ctx, `select tenant, entity_type, coalesce(raw_days, 0),
		coalesce(hour_days, 0), coalesce(day_days, 0) from retention_policies `+where+` order by tenant, entity_type`, args...)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer rows.Close()
	out := []*cityops.RetentionPolicy{}
	for rows.Next() {
		var p cityops.RetentionPolicy
		if err := rows.Scan(&p.Tenant, &p.EntityType, &p.RawDays, &p.HourDays, &p.DayDays); err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// DeleteRetention implements cityops.RetentionService.
func (d *DB) DeleteRetention(ctx context.Context, tenant, entityType string) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "retention.delete", "retention:"+tenant+"/"+entityType, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from retention_policies where tenant = $1 and entity_type = $2`, tenant, entityType)
		if err != nil {
			return fmt.Errorf("delete retention: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "no retention policy for %q", entityType)
		}
		return tx.audit(ctx, "retention.delete", "retention:"+tenant+"/"+entityType, "")
	})
}

// ApplyRetention implements cityops.RetentionService. It works series by
// series (an entity's attribute), each delete in its own short
// transaction and along the primary index, so it never holds the writer
// for long; what a type's own policy does not cover, the tenant's
// default (” type) does.
func (d *DB) ApplyRetention(ctx context.Context) (int64, error) {
	policies, err := d.retentionPolicies(ctx, ``)
	if err != nil {
		return 0, err
	}
	byTenant := map[string]map[string]*cityops.RetentionPolicy{}
	for _, p := range policies {
		if byTenant[p.Tenant] == nil {
			byTenant[p.Tenant] = map[string]*cityops.RetentionPolicy{}
		}
		byTenant[p.Tenant][p.EntityType] = p
	}
	// The series are found by their day roll-ups: those only in memory
	// go to the rows first.
	if len(byTenant) > 0 {
		if err := d.inTx(ctx, func(tx *Tx) error { return tx.settleRollups(ctx) }); err != nil {
			return 0, err
		}
	}
	now := d.Now().UTC()
	var total int64
	for tenant, types := range byTenant {
		// The series of this tenant, with their entity's type.
		rows, err := d.db.QueryContext(ctx, `select distinct r.entity_pk, r.attr, e.type from entity_rollups r
			join entities e on e.id = r.entity_pk where e.tenant = $1 and r.grain = 86400`, tenant)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		type series struct {
			pk   int64
			attr string
			p    *cityops.RetentionPolicy
		}
		var list []series
		for rows.Next() {
			var s series
			var typ string
			if err := rows.Scan(&s.pk, &s.attr, &typ); err != nil {
				rows.Close()
				return total, fmt.Errorf("retention: %w", err)
			}
			if s.p = types[typ]; s.p == nil {
				s.p = types[""]
			}
			if s.p != nil {
				list = append(list, s)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		for _, s := range list {
			cut := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
			steps := []struct {
				days int
				q    string
				arg  any
			}{
				{s.p.RawDays, `delete from entity_blocks where entity_pk = $1 and attr = $2 and t_max < $3`, nil},
				{s.p.HourDays, `delete from entity_rollups where entity_pk = $1 and attr = $2 and grain = $4 and bucket < $3`, 3600},
				{s.p.DayDays, `delete from entity_rollups where entity_pk = $1 and attr = $2 and grain = $4 and bucket < $3`, 86400},
			}
			for _, st := range steps {
				if st.days == 0 {
					continue
				}
				args := []any{s.pk, s.attr, cut(st.days)}
				if st.arg != nil {
					args = append(args, st.arg)
				}
				err := d.inTx(ctx, func(tx *Tx) error {
					res, err := tx.ExecContext(ctx, st.q, args...)
					if err != nil {
						return err
					}
					n, _ := res.RowsAffected()
					if st.arg == nil {
						// The raw history: the log's blocks too.
						pa := pkAttr{s.pk, s.attr}
						var old []logRef
						for _, r := range tx.logRefs(pa) {
							if r.tMax < cut(st.days).UnixNano() {
								old = append(old, r)
							}
						}
						m, err := tx.removeLogRows(ctx, pa, old)
						if err != nil {
							return err
						}
						n += m
					}
					total += n
					return nil
				})
				if err != nil && !errors.Is(err, context.Canceled) {
					return total, fmt.Errorf("retention: %w", err)
				}
				if err != nil {
					return total, err
				}
			}
		}
	}
	return total, nil
}
