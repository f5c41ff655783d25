package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.WarningService = (*DB)(nil)

const warningCols = `w.id, w.title, w.body, w.severity, w.sector, coalesce(a.code, ''), w.valid_from, w.valid_until,
	w.created_by, w.created_at, w.withdrawn_at`

const warningFrom = ` from warnings w left join areas a on a.id = w.area_id`

func scanWarning(s interface{ Scan(...any) error }) (*cityops.Warning, error) {
	var w cityops.Warning
	var until, withdrawn sql.Null[time.Time]
	if err := s.Scan(&w.ID, &w.Title, &w.Body, &w.Severity, &w.Sector, &w.Area, &w.ValidFrom, &until,
		&w.CreatedBy, &w.CreatedAt, &withdrawn); err != nil {
		return nil, err
	}
	w.ValidUntil, w.Withdrawn = nullTime(until), nullTime(withdrawn)
	return &w, nil
}

// OnWarning adds a listener told of every warning broadcast or withdrawn.
func (d *DB) OnWarning(f func(*cityops.Warning)) {
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	d.warningListeners = append(d.warningListeners, f)
}

func (d *DB) notifyWarning(w *cityops.Warning) {
	d.listenMu.Lock()
	ls := d.warningListeners
	d.listenMu.Unlock()
	for _, f := range ls {
		f(w)
	}
}

// CreateWarning implements cityops.WarningService.
func (d *DB) CreateWarning(ctx context.Context, w *cityops.Warning) error {
	if err := authorize(ctx, cityops.PermWarningsWrite); err != nil {
		d.auditDenied(ctx, "warning.broadcast", "", err)
		return err
	}
	if err := w.Validate(); err != nil {
		return err
	}
	err := d.inTx(ctx, func(tx *Tx) error {
		if w.ValidFrom.IsZero() {
			w.ValidFrom = tx.now
		}
		if w.ValidUntil != nil && !w.ValidUntil.After(w.ValidFrom) {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"valid_until": "must be after valid_from"}}
		}
		var areaID any
		if w.Area != "" {
			var id int64
			err := tx.QueryRowContext(ctx, `select id from areas where code = $1`, w.Area).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
					Fields: map[string]string{"area": fmt.Sprintf("unknown area %q", w.Area)}}
			}
			if err != nil {
				return fmt.Errorf("warning area: %w", err)
			}
			areaID = id
		}
		if w.Sector != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `select count(*) from sectors where code = $1`, w.Sector).Scan(&n); err != nil {
				return fmt.Errorf("warning sector: %w", err)
			}
			if n == 0 {
				return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
					Fields: map[string]string{"sector": fmt.Sprintf("unknown sector %q", w.Sector)}}
			}
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `insert into warnings (title, body, severity, sector, area_id, valid_from, valid_until, created_by, created_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`, w.Title, w.Body, w.Severity, w.Sector, areaID,
			w.ValidFrom.UTC(), timeArg(w.ValidUntil), cityops.ActorFromContext(ctx).Name(), tx.now).Scan(&id); err != nil {
			return fmt.Errorf("create warning: %w", err)
		}
		saved, err := scanWarning(tx.QueryRowContext(ctx, `select `+warningCols+warningFrom+` where w.id = $1`, id))
		if err != nil {
			return fmt.Errorf("create warning: %w", err)
		}
		*w = *saved
		return tx.audit(ctx, "warning.broadcast", fmt.Sprintf("warning:%d", w.ID), pairs("severity", w.Severity, "sector", w.Sector, "area", w.Area, "title", w.Title))
	})
	if err != nil {
		return err
	}
	d.notifyWarning(w)
	return nil
}

// WithdrawWarning implements cityops.WarningService.
func (d *DB) WithdrawWarning(ctx context.Context, id int64) (*cityops.Warning, error) {
	if err := authorize(ctx, cityops.PermWarningsWrite); err != nil {
		d.auditDenied(ctx, "warning.withdraw", fmt.Sprintf("warning:%d", id), err)
		return nil, err
	}
	var out *cityops.Warning
	err := d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update warnings set withdrawn_at = $1, withdrawn_by = $2 where id = $3 and withdrawn_at is null`,
			tx.now, cityops.ActorFromContext(ctx).Name(), id)
		if err != nil {
			return fmt.Errorf("withdraw warning: %w", err)
		}
		w, err := scanWarning(tx.QueryRowContext(ctx, `select `+warningCols+warningFrom+` where w.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("warning", fmt.Sprint(id))
		}
		if err != nil {
			return fmt.Errorf("withdraw warning: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ECONFLICT, "the warning was withdrawn already")
		}
		out = w
		return tx.audit(ctx, "warning.withdraw", fmt.Sprintf("warning:%d", id), "")
	})
	if err != nil {
		return nil, err
	}
	d.notifyWarning(out)
	return out, nil
}

// FindWarnings implements cityops.WarningService. Warnings are public.
func (d *DB) FindWarnings(ctx context.Context, inForce bool, limit int) ([]*cityops.Warning, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var w where
	if inForce {
		now := d.Now().UTC()
		w.add("w.withdrawn_at is null and w.valid_from <= ? and (w.valid_until is null or w.valid_until > ?)", now, now)
	}
	rows, err := d.db.QueryContext(ctx, `select `+warningCols+warningFrom+w.String()+` order by w.valid_from desc, w.id desc`+d.page(0, limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find warnings: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Warning{}
	for rows.Next() {
		x, err := scanWarning(rows)
		if err != nil {
			return nil, fmt.Errorf("find warnings: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
