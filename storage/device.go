package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.DeviceService = (*DB)(nil)

// CreateDevice implements cityops.DeviceService.
func (d *DB) CreateDevice(ctx context.Context, dev *cityops.Device) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		return err
	}
	if err := dev.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		agency, err := optionalAgency(ctx, tx, "agency", dev.Agency)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(dev.Attrs)
		dev.CreatedAt = tx.now
		_, err = tx.ExecContext(ctx, `insert into devices (device_id, key, tenant, entity_id, entity_type, agency_id, attrs, created_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8)`, dev.ID, dev.Key, dev.Tenant, dev.EntityID, dev.EntityType, agency, string(b), tx.now)
		if isUnique(err) {
			return cityops.Errorf(cityops.ECONFLICT, "device %s/%s exists already", dev.Key, dev.ID)
		}
		if err != nil {
			return fmt.Errorf("create device: %w", err)
		}
		return nil
	})
}

const deviceCols = `v.device_id, v.key, v.tenant, v.entity_id, v.entity_type, coalesce(g.code, ''), v.attrs, v.last_seen_at, v.created_at, v.not_observed_since`

func scanDevice(row interface{ Scan(...any) error }) (*cityops.Device, error) {
	var dev cityops.Device
	var attrs string
	var seen, silent sql.Null[time.Time]
	if err := row.Scan(&dev.ID, &dev.Key, &dev.Tenant, &dev.EntityID, &dev.EntityType, &dev.Agency, &attrs, &seen, &dev.CreatedAt, &silent); err != nil {
		return nil, err
	}
	dev.NotObservedSince = nullTime(silent)
	if err := json.Unmarshal([]byte(attrs), &dev.Attrs); err != nil {
		return nil, fmt.Errorf("device %s attrs: %w", dev.ID, err)
	}
	dev.LastSeenAt, dev.CreatedAt = nullTime(seen), dev.CreatedAt.UTC()
	return &dev, nil
}

// FindDevices implements cityops.DeviceService.
func (d *DB) FindDevices(ctx context.Context) ([]*cityops.Device, error) {
	rows, err := d.db.QueryContext(ctx, `select `+deviceCols+` from devices v left join agencies g on g.id = v.agency_id order by v.key, v.device_id`)
	if err != nil {
		return nil, fmt.Errorf("find devices: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Device{}
	for rows.Next() {
		dev, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("find devices: %w", err)
		}
		out = append(out, dev)
	}
	return out, rows.Err()
}

// DeleteDevice implements cityops.DeviceService.
func (d *DB) DeleteDevice(ctx context.Context, key, id string) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from devices where key = $1 and device_id = $2`, key, id)
		if err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "device %s/%s not found", key, id)
		}
		return nil
	})
}

// Measure implements cityops.DeviceService. Unmapped payload keys are
// ignored; a payload with none mapped is refused.
func (d *DB) Measure(ctx context.Context, key, id string, payload map[string]any, t time.Time) error {
	return d.inTx(ctx, func(tx *Tx) error {
		dev, err := scanDevice(tx.QueryRowContext(ctx, `select `+deviceCols+` from devices v left join agencies g on g.id = v.agency_id
			where v.key = $1 and v.device_id = $2`, key, id))
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "unknown device %s/%s", key, id)
		}
		if err != nil {
			return fmt.Errorf("measure: %w", err)
		}
		at := t.UTC().Format(time.RFC3339Nano)
		attrs := map[string][]cityops.Attr{}
		for _, m := range dev.Attrs {
			v, ok := payload[m.ObjectID]
			if !ok || v == nil {
				continue
			}
			a := cityops.Attr{"type": cityops.KindProperty, "value": v, "observedAt": at}
			if m.UnitCode != "" {
				a["unitCode"] = m.UnitCode
			}
			attrs[m.Name] = []cityops.Attr{a}
		}
		if len(attrs) == 0 {
			return cityops.Errorf(cityops.EINVALID, "no measurement of device %s/%s is mapped", key, id)
		}
		e := &cityops.Entity{ID: dev.EntityID, Type: dev.EntityType, Tenant: dev.Tenant, Attrs: attrs}
		if err := e.Validate(); err != nil {
			return err
		}
		if err := d.upsertOne(ctx, tx, e, false); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `update devices set last_seen_at = $1, not_observed_since = null where key = $2 and device_id = $3`, tx.now, key, id)
		return err
	})
}

// MarkSilentDevices implements cityops.DeviceService.
func (d *DB) MarkSilentDevices(ctx context.Context, after time.Duration) (int, error) {
	var n int64
	err := d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update devices set not_observed_since = coalesce(last_seen_at, created_at)
			where not_observed_since is null and coalesce(last_seen_at, created_at) < $1`, tx.now.Add(-after))
		if err != nil {
			return fmt.Errorf("silent devices: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
