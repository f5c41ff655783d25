package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.DeviceService = (*DB)(nil)

// CreateDevice implements cityops.DeviceService.
func (d *DB) CreateDevice(ctx context.Context, dev *cityops.Device) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "device.create", "device:"+dev.Key+"/"+dev.ID, err)
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
		return tx.audit(ctx, "device.create", "device:"+dev.Key+"/"+dev.ID, pairs("tenant", dev.Tenant, "entity", dev.EntityID, "agency", dev.Agency))
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
		d.auditDenied(ctx, "device.delete", "device:"+key+"/"+id, err)
		return err
	}
	err := d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from devices where key = $1 and device_id = $2`, key, id)
		if err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "device %s/%s not found", key, id)
		}
		return tx.audit(ctx, "device.delete", "device:"+key+"/"+id, "")
	})
	// Whether or not it committed, the device is looked up again.
	d.devices.forget(deviceKey{key, id})
	return err
}

// Measure implements cityops.DeviceService: a batch of one. Unmapped
// payload keys are ignored; a payload with none mapped is refused.
func (d *DB) Measure(ctx context.Context, key, id string, payload map[string]any, t time.Time) error {
	errs, err := d.MeasureBatch(ctx, []cityops.Measurement{{Key: key, DeviceID: id, Payload: payload, At: t}})
	if err != nil {
		return err
	}
	return errs[0]
}

// OnMeasurePreview adds a listener told of measurements as they arrive,
// before they are written (PreviewMeasurement): the alarm engine, so
// that an alarm does not wait for its reading's batch to be written.
func (d *DB) OnMeasurePreview(f cityops.EntityListener) {
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	d.previewers = append(d.previewers, f)
}

// PreviewMeasurement tells the preview listeners of a measurement before
// it is written, as the change its write will make, and sets
// m.Previewed; MeasureBatch then marks its entity's change Previewed when
// every measurement of it was. It does so only in the process that
// ingests into SQLite and only when the device and its entity are in
// memory (after their first batch), so it reads nothing; otherwise the
// listeners hear of the measurement when it is committed, as any other
// listener. A previewed measurement whose write then fails has still
// been seen: an alarm may stand for a reading that was not stored.
func (d *DB) PreviewMeasurement(m *cityops.Measurement) {
	d.listenMu.Lock()
	ls := d.previewers
	d.listenMu.Unlock()
	if len(ls) == 0 || !d.ingesting() {
		return
	}
	dev, ok := d.devices.peek(deviceKey{m.Key, m.DeviceID})
	if !ok {
		return
	}
	e, err := measuredEntity(dev.Device, *m)
	if err != nil {
		return
	}
	full, ok := d.entities.preview(e)
	if !ok {
		return
	}
	names := make([]string, 0, len(e.Attrs))
	for name := range e.Attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	change := []cityops.EntityChange{{Tenant: e.Tenant, ID: e.ID, Type: e.Type, Entity: full, Attrs: names, At: d.Now().UTC()}}
	for _, f := range ls {
		f(change)
	}
	m.Previewed = true
}

// MeasureBatch implements cityops.DeviceService.
//
// The devices of the batch are looked up before the transaction, each
// distinct one once: from memory in the process that ingests into SQLite
// (deviceCache), otherwise in one query per devicesPerQuery, so that no
// cache goes stale when another process sharing a PostgreSQL database
// deletes a device.
// Inside the transaction each message is written under its own savepoint
// (one bad message does not spoil the batch, whatever its error),
// entities in id order (so that concurrent writers lock them in the same
// order) and, within one entity, in arrival order; last_seen_at is set
// once per device.
func (d *DB) MeasureBatch(ctx context.Context, list []cityops.Measurement) ([]error, error) {
	errs := make([]error, len(list))
	seen := map[deviceKey]bool{}
	var keys []deviceKey
	for _, m := range list {
		k := deviceKey{m.Key, m.DeviceID}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	devs, err := d.findMeasuredDevices(ctx, keys)
	if err != nil {
		return nil, err
	}
	type write struct {
		i     int // index in list
		e     *cityops.Entity
		devPK int64
	}
	writes := make([]write, 0, len(list))
	for i, m := range list {
		dev, ok := devs[deviceKey{m.Key, m.DeviceID}]
		if !ok {
			errs[i] = cityops.Errorf(cityops.ENOTFOUND, "unknown device %s/%s", m.Key, m.DeviceID)
			continue
		}
		e, err := measuredEntity(dev.Device, m)
		if err != nil {
			errs[i] = err
			continue
		}
		writes = append(writes, write{i: i, e: e, devPK: dev.pk})
	}
	if len(writes) == 0 {
		return errs, nil
	}
	// The messages of one entity become one entity in temporal
	// representation, and a tenant's entities one set-wise write
	// (upsertBatch): no savepoints, as nothing it refuses is written.
	type merged struct {
		e         *cityops.Entity
		msgs      []int // indexes in list
		devs      []int64
		previewed int // of msgs
	}
	byTenant := map[string]map[string]*merged{}
	var tenants []string
	for _, w := range writes {
		t := w.e.Tenant
		if byTenant[t] == nil {
			byTenant[t] = map[string]*merged{}
			tenants = append(tenants, t)
		}
		m := byTenant[t][w.e.ID]
		if m == nil {
			m = &merged{e: &cityops.Entity{ID: w.e.ID, Type: w.e.Type, Tenant: t, Attrs: map[string][]cityops.Attr{}}}
			byTenant[t][w.e.ID] = m
		}
		if m.e.Type != w.e.Type {
			errs[w.i] = cityops.Errorf(cityops.EINVALID, "device %s/%s feeds %s as %s, which another device of this batch gives another type",
				list[w.i].Key, list[w.i].DeviceID, w.e.ID, w.e.Type)
			continue
		}
		for name, l := range w.e.Attrs {
			m.e.Attrs[name] = append(m.e.Attrs[name], l...)
		}
		m.msgs, m.devs = append(m.msgs, w.i), append(m.devs, w.devPK)
		if list[w.i].Previewed {
			m.previewed++
		}
	}
	err = d.inTx(ctx, func(tx *Tx) error {
		heard := map[int64]bool{}
		var pks []int64
		for _, t := range tenants {
			var batch []*cityops.Entity
			byEntity := map[*cityops.Entity]*merged{}
			for _, m := range byTenant[t] {
				batch = append(batch, m.e)
				byEntity[m.e] = m
			}
			sort.Slice(batch, func(i, j int) bool { return batch[i].ID < batch[j].ID })
			refused := map[*cityops.Entity]error{}
			first := len(tx.changes)
			if err := d.upsertBatch(ctx, tx, t, batch, false, true, refused); err != nil {
				return err
			}
			for i := first; i < len(tx.changes); i++ {
				c := &tx.changes[i]
				if m := byTenant[t][c.ID]; m != nil && m.previewed == len(m.msgs) {
					c.Previewed = true
				}
			}
			for _, e := range batch {
				m := byEntity[e]
				if err := refused[e]; err != nil {
					for _, i := range m.msgs {
						errs[i] = err
					}
					continue
				}
				for _, pk := range m.devs {
					if !heard[pk] {
						heard[pk] = true
						pks = append(pks, pk)
					}
				}
			}
		}
		return markHeard(ctx, tx, pks)
	})
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	return errs, nil
}

// deviceKey names a device as its topic does.
type deviceKey struct{ key, id string }

// measuredDevice is a device with its row key, for last_seen_at.
type measuredDevice struct {
	*cityops.Device
	pk int64
}

// devicesPerQuery bounds the devices looked up, or marked heard, in one
// statement: SQLite finds numbered parameters by a linear search, so a
// statement's cost grows with the square of their number.
const devicesPerQuery = 100

// deviceCache keeps the devices MeasureBatch found, in the process that
// ingests into SQLite (after DeferRollups): it is the only one that
// writes devices, so deleting one here is the only change to follow.
// PostgreSQL may have several processes, and looks every batch up.
type deviceCache struct {
	mu  sync.Mutex
	m   map[deviceKey]measuredDevice
	gen uint64 // changes when a device is forgotten
}

// get returns the cached devices among keys, the others, and the
// generation for put.
func (c *deviceCache) get(keys []deviceKey, out map[deviceKey]measuredDevice) (miss []deviceKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if dev, ok := c.m[k]; ok {
			out[k] = dev
		} else {
			miss = append(miss, k)
		}
	}
	return miss, c.gen
}

// put keeps devices read from the database, unless one was forgotten
// since gen (the rows may be older than its deletion).
func (c *deviceCache) put(found map[deviceKey]measuredDevice, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = map[deviceKey]measuredDevice{}
	}
	for k, dev := range found {
		c.m[k] = dev
	}
}

func (c *deviceCache) peek(k deviceKey) (measuredDevice, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dev, ok := c.m[k]
	return dev, ok
}

func (c *deviceCache) forget(k deviceKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, k)
}

// findMeasuredDevices returns the devices of keys that exist: from the
// cache when this process ingests into SQLite, otherwise (and for those
// not cached) in one query per service key and devicesPerQuery devices.
func (d *DB) findMeasuredDevices(ctx context.Context, keys []deviceKey) (map[deviceKey]measuredDevice, error) {
	out := make(map[deviceKey]measuredDevice, len(keys))
	if !d.ingesting() {
		return out, d.queryMeasuredDevices(ctx, keys, out)
	}
	miss, gen := d.devices.get(keys, out)
	if len(miss) == 0 {
		return out, nil
	}
	found := make(map[deviceKey]measuredDevice, len(miss))
	if err := d.queryMeasuredDevices(ctx, miss, found); err != nil {
		return nil, err
	}
	d.devices.put(found, gen)
	for k, dev := range found {
		out[k] = dev
	}
	return out, nil
}

func (d *DB) queryMeasuredDevices(ctx context.Context, keys []deviceKey, out map[deviceKey]measuredDevice) error {
	byKey := map[string][]string{}
	var order []string
	for _, k := range keys {
		if byKey[k.key] == nil {
			order = append(order, k.key)
		}
		byKey[k.key] = append(byKey[k.key], k.id)
	}
	for _, key := range order {
		ids := byKey[key]
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), devicesPerQuery)]
			ids = ids[len(chunk):]
			q := `select v.id, ` + deviceCols + ` from devices v left join agencies g on g.id = v.agency_id
				where v.key = $1 and v.device_id in (` + placeholders(2, len(chunk)) + `)`
			args := make([]any, 0, 1+len(chunk))
			args = append(args, key)
			for _, id := range chunk {
				args = append(args, id)
			}
			if err := d.scanMeasuredDevices(ctx, out, q, args); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *DB) scanMeasuredDevices(ctx context.Context, out map[deviceKey]measuredDevice, q string, args []any) error {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("find devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pk int64
		dev, err := scanDevice(withPK{rows, &pk})
		if err != nil {
			return fmt.Errorf("find devices: %w", err)
		}
		out[deviceKey{dev.Key, dev.ID}] = measuredDevice{Device: dev, pk: pk}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find devices: %w", err)
	}
	return nil
}

// questionMarks lists n SQLite parameters: unnumbered, since SQLite looks
// numbered ones up in a list, once per parameter bound.
func questionMarks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// placeholders returns "$from, $from+1, …", n of them.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// withPK scans a leading row key, then the columns scanDevice expects.
type withPK struct {
	row interface{ Scan(...any) error }
	pk  *int64
}

func (w withPK) Scan(dest ...any) error { return w.row.Scan(append([]any{w.pk}, dest...)...) }

// measuredEntity maps a message onto the attributes of the device's entity.
func measuredEntity(dev *cityops.Device, m cityops.Measurement) (*cityops.Entity, error) {
	at := m.At.UTC().Format(time.RFC3339Nano)
	attrs := map[string][]cityops.Attr{}
	for _, a := range dev.Attrs {
		v, ok := m.Payload[a.ObjectID]
		if !ok || v == nil {
			continue
		}
		attr := cityops.Attr{"type": cityops.KindProperty, "value": v, "observedAt": at}
		if a.UnitCode != "" {
			attr["unitCode"] = a.UnitCode
		}
		attrs[a.Name] = []cityops.Attr{attr}
	}
	if len(attrs) == 0 {
		return nil, cityops.Errorf(cityops.EINVALID, "no measurement of device %s/%s is mapped", dev.Key, dev.ID)
	}
	e := &cityops.Entity{ID: dev.EntityID, Type: dev.EntityType, Tenant: dev.Tenant, Attrs: attrs}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// markHeard sets last_seen_at and clears "not observed" on the devices.
func markHeard(ctx context.Context, tx *Tx, pks []int64) error {
	for len(pks) > 0 {
		chunk := pks[:min(len(pks), devicesPerQuery)]
		pks = pks[len(chunk):]
		args := make([]any, 0, 1+len(chunk))
		args = append(args, tx.now)
		for _, pk := range chunk {
			args = append(args, pk)
		}
		if _, err := tx.ExecContext(ctx, `update devices set last_seen_at = $1, not_observed_since = null
			where id in (`+placeholders(2, len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("device last seen: %w", err)
		}
	}
	return nil
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
