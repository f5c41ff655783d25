package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.OutboxService = (*DB)(nil)

// writeOutbox records an event about report id inside the transaction that
// made the change, with the report as it is now.
func writeOutbox(ctx context.Context, tx *Tx, reportID int64, typ, note string, internal bool) error {
	e := cityops.OutboxEvent{Type: typ, Note: note, Internal: internal, At: tx.now}
	err := tx.QueryRowContext(ctx, `select r.tracking, r.status, coalesce(g.code, ''), coalesce(a.code, ''), c.code, s.code
		from reports r join categories c on c.id = r.category_id join sectors s on s.id = c.sector_id
		left join agencies g on g.id = r.agency_id left join areas a on a.id = r.area_id where r.id = $1`, reportID).
		Scan(&e.Tracking, &e.Status, &e.Agency, &e.Area, &e.Category, &e.Sector)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `insert into outbox (type, report_id, payload, internal, at) values ($1, $2, $3, $4, $5)`,
		typ, reportID, string(b), internal, tx.now); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// OutboxAfter implements cityops.OutboxService.
func (d *DB) OutboxAfter(ctx context.Context, after int64, limit int) ([]*cityops.OutboxEvent, error) {
	rows, err := d.db.QueryContext(ctx, `select id, payload from outbox where id > $1 order by id limit $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []*cityops.OutboxEvent
	for rows.Next() {
		var id int64
		var payload string
		if err := rows.Scan(&id, &payload); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		var e cityops.OutboxEvent
		if err := json.Unmarshal([]byte(payload), &e); err != nil {
			return nil, fmt.Errorf("outbox event %d: %w", id, err)
		}
		e.ID = id
		out = append(out, &e)
	}
	return out, rows.Err()
}

// LastOutboxID implements cityops.OutboxService.
func (d *DB) LastOutboxID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `select max(id) from outbox`).Scan(&id); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return id.Int64, nil
}

// reporterTarget is the target of an e-mail to the reporter of the event's
// report: the address is not copied out of the report (where it may be
// sealed, and is blanked by anonymisation) but read when the e-mail goes.
const reporterTarget = "reporter"

// emailEvents are the changes a reporter hears about by e-mail.
var emailEvents = map[string]bool{
	"report.created": true, "report." + cityops.ActResolve: true, "report." + cityops.ActReject: true,
	"report." + cityops.ActMarkDuplicate: true,
}

// FanOut implements cityops.OutboxService. The cursor row is locked for
// the transaction, so processes sharing PostgreSQL fan out each event once.
func (d *DB) FanOut(ctx context.Context, limit int) (int, error) {
	n := 0
	err := d.inTx(ctx, func(tx *Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `select last_id from outbox_cursors where consumer = 'fanout'`+d.forUpdate("outbox_cursors")).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `insert into outbox_cursors (consumer, last_id) values ('fanout', 0)`); err != nil {
				return fmt.Errorf("fan out: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `select o.id, o.type, o.payload, o.internal, r.reporter_email
			from outbox o join reports r on r.id = o.report_id where o.id > $1 order by o.id limit $2`, last, limit)
		if err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		type ev struct {
			id            int64
			typ, payload  string
			internal      bool
			email, agency string
		}
		var evs []ev
		for rows.Next() {
			var e ev
			if err := rows.Scan(&e.id, &e.typ, &e.payload, &e.internal, &e.email); err != nil {
				rows.Close()
				return fmt.Errorf("fan out: %w", err)
			}
			var p cityops.OutboxEvent
			json.Unmarshal([]byte(e.payload), &p)
			e.agency = p.Agency
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		hooks, err := activeWebhooks(ctx, tx)
		if err != nil {
			return err
		}
		insert := func(kind, target string, hook any, e ev) error {
			_, err := tx.ExecContext(ctx, `insert into deliveries (kind, target, webhook_id, event_id, payload, next_at, created_at)
				values ($1, $2, $3, $4, $5, $6, $7)`, kind, target, hook, e.id, e.payload, tx.now, tx.now)
			if err != nil {
				return fmt.Errorf("fan out: %w", err)
			}
			n++
			return nil
		}
		for _, e := range evs {
			for _, h := range hooks {
				if h.Agency == "" || h.Agency == e.agency {
					if err := insert(cityops.DeliveryWebhook, h.URL, h.ID, e); err != nil {
						return err
					}
				}
			}
			if e.email != "" && !e.internal && emailEvents[e.typ] {
				if err := insert(cityops.DeliveryEmail, reporterTarget, nil, e); err != nil {
					return err
				}
			}
			// Escalations go by e-mail to the agency's heads, then to the
			// centre's operators.
			var staff []string
			switch e.typ {
			case "report." + cityops.EventEscalateHead:
				staff, err = staffEmails(ctx, tx, `u.role = 'agency_head' and g.code = $1`, e.agency)
			case "report." + cityops.EventEscalateCentre:
				staff, err = staffEmails(ctx, tx, `u.role = 'operator'`)
			}
			if err != nil {
				return err
			}
			for _, addr := range staff {
				if err := insert(cityops.DeliveryEmail, addr, nil, e); err != nil {
					return err
				}
			}
			last = e.id
		}
		_, err = tx.ExecContext(ctx, `update outbox_cursors set last_id = $1 where consumer = 'fanout'`, last)
		return err
	})
	return n, err
}

// staffEmails returns the addresses of active users matching cond.
func staffEmails(ctx context.Context, tx *Tx, cond string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `select u.email from users u left join agencies g on g.id = u.agency_id
		where u.disabled_at is null and `+cond+` order by u.email`, args...)
	if err != nil {
		return nil, fmt.Errorf("staff e-mails: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func activeWebhooks(ctx context.Context, tx *Tx) ([]*cityops.Webhook, error) {
	rows, err := tx.QueryContext(ctx, `select w.id, coalesce(g.code, ''), w.url from webhooks w
		left join agencies g on g.id = w.agency_id where w.active order by w.id`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	defer rows.Close()
	var out []*cityops.Webhook
	for rows.Next() {
		var h cityops.Webhook
		if err := rows.Scan(&h.ID, &h.Agency, &h.URL); err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		out = append(out, &h)
	}
	return out, rows.Err()
}

// MaxDeliveryAttempts is how often a delivery is tried before it fails.
const MaxDeliveryAttempts = 10

// backoff is the wait after the n-th failed attempt: 30 s doubling, at
// most an hour.
func backoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

const deliveryCols = `d.id, d.kind, d.target, coalesce(d.webhook_id, 0), d.event_id, d.payload, d.attempts, d.status,
	d.last_error, d.next_at, d.created_at, coalesce(w.secret, '')`

func scanDelivery(row interface{ Scan(...any) error }) (*cityops.Delivery, error) {
	var x cityops.Delivery
	var payload string
	if err := row.Scan(&x.ID, &x.Kind, &x.Target, &x.WebhookID, &x.EventID, &payload, &x.Attempts, &x.Status,
		&x.LastError, &x.NextAt, &x.CreatedAt, &x.Secret); err != nil {
		return nil, err
	}
	x.Payload = json.RawMessage(payload)
	x.NextAt, x.CreatedAt = x.NextAt.UTC(), x.CreatedAt.UTC()
	return &x, nil
}

// ClaimDeliveries implements cityops.OutboxService. A claim moves next_at
// forward by the lease, so a worker that dies leaves its claims to be
// retried; PostgreSQL workers skip rows another worker has locked.
func (d *DB) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*cityops.Delivery, error) {
	var out []*cityops.Delivery
	err := d.inTx(ctx, func(tx *Tx) error {
		lock := ""
		if d.dialect == Postgres {
			lock = " for update of d skip locked"
		}
		rows, err := tx.QueryContext(ctx, `select `+deliveryCols+` from deliveries d left join webhooks w on w.id = d.webhook_id
			where d.status = 'pending' and d.next_at <= $1 order by d.next_at, d.id limit $2`+lock, tx.now, limit)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		for rows.Next() {
			x, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("claim deliveries: %w", err)
			}
			out = append(out, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		claimed := out[:0]
		for _, x := range out {
			if x.Kind == cityops.DeliveryEmail && x.Target == reporterTarget {
				addr, err := d.reporterAddress(ctx, tx, x.EventID)
				if err != nil || addr == "" {
					// Anonymised, or it does not open: nobody to write to.
					why := "the reporter's address is gone (anonymised)"
					if err != nil {
						d.Log.Error("reporter data does not open", "delivery", x.ID, "err", err)
						why = "the reporter's address does not open"
					}
					if _, err := tx.ExecContext(ctx, `update deliveries set status = 'failed', last_error = $1 where id = $2`, why, x.ID); err != nil {
						return fmt.Errorf("claim deliveries: %w", err)
					}
					continue
				}
				x.Target = addr
			}
			if _, err := tx.ExecContext(ctx, `update deliveries set next_at = $1 where id = $2`, tx.now.Add(lease), x.ID); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			claimed = append(claimed, x)
		}
		out = claimed
		return nil
	})
	return out, err
}

// reporterAddress returns the opened e-mail address of the reporter of
// outbox event id's report.
func (d *DB) reporterAddress(ctx context.Context, tx *Tx, eventID int64) (string, error) {
	var tracking, email string
	if err := tx.QueryRowContext(ctx, `select r.tracking, r.reporter_email from outbox o join reports r on r.id = o.report_id
		where o.id = $1`, eventID).Scan(&tracking, &email); err != nil {
		return "", fmt.Errorf("reporter address: %w", err)
	}
	return d.openValue("reporter_email", tracking, email)
}

// addressRE finds e-mail addresses in a mail server's error.
var addressRE = regexp.MustCompile(`[^\s<>()\[\]"',;:]+@[^\s<>()\[\]"',;:]+`)

// FinishDelivery implements cityops.OutboxService.
func (d *DB) FinishDelivery(ctx context.Context, id int64, attemptErr error) error {
	return d.inTx(ctx, func(tx *Tx) error {
		var attempts int
		var target string
		if err := tx.QueryRowContext(ctx, `select attempts, target from deliveries where id = $1`, id).Scan(&attempts, &target); err != nil {
			return fmt.Errorf("finish delivery: %w", err)
		}
		attempts++
		if attemptErr != nil && target == reporterTarget {
			// A mail server names the recipient in its errors; the
			// reporter's address is not kept beside the report.
			attemptErr = errors.New(addressRE.ReplaceAllString(attemptErr.Error(), reporterTarget))
		}
		var err error
		switch {
		case attemptErr == nil:
			_, err = tx.ExecContext(ctx, `update deliveries set status = 'delivered', attempts = $1, last_error = '' where id = $2`, attempts, id)
		case attempts >= MaxDeliveryAttempts:
			_, err = tx.ExecContext(ctx, `update deliveries set status = 'failed', attempts = $1, last_error = $2 where id = $3`,
				attempts, truncate(attemptErr.Error(), 500), id)
		default:
			_, err = tx.ExecContext(ctx, `update deliveries set attempts = $1, last_error = $2, next_at = $3 where id = $4`,
				attempts, truncate(attemptErr.Error(), 500), tx.now.Add(backoff(attempts)), id)
		}
		if err != nil {
			return fmt.Errorf("finish delivery: %w", err)
		}
		return nil
	})
}

// FindDeliveries implements cityops.OutboxService, newest first.
func (d *DB) FindDeliveries(ctx context.Context, status string, limit int) ([]*cityops.Delivery, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		return nil, err
	}
	var w where
	if status != "" {
		w.add("d.status = ?", status)
	}
	rows, err := d.db.QueryContext(ctx, `select `+deliveryCols+` from deliveries d left join webhooks w on w.id = d.webhook_id`+
		w.String()+fmt.Sprintf(` order by d.id desc limit %d`, limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Delivery{}
	for rows.Next() {
		x, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("find deliveries: %w", err)
		}
		x.Secret = ""
		out = append(out, x)
	}
	return out, rows.Err()
}

// FindWebhooks implements cityops.OutboxService.
func (d *DB) FindWebhooks(ctx context.Context) ([]*cityops.Webhook, error) {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `select w.id, coalesce(g.code, ''), w.url, w.active, w.created_at
		from webhooks w left join agencies g on g.id = w.agency_id order by w.id`)
	if err != nil {
		return nil, fmt.Errorf("find webhooks: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Webhook{}
	for rows.Next() {
		var h cityops.Webhook
		if err := rows.Scan(&h.ID, &h.Agency, &h.URL, &h.Active, &h.CreatedAt); err != nil {
			return nil, fmt.Errorf("find webhooks: %w", err)
		}
		h.CreatedAt = h.CreatedAt.UTC()
		out = append(out, &h)
	}
	return out, rows.Err()
}

// CreateWebhook implements cityops.OutboxService.
func (d *DB) CreateWebhook(ctx context.Context, h *cityops.Webhook) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "webhook.create", "", err)
		return err
	}
	if err := h.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		agency, err := optionalAgency(ctx, tx, "agency", h.Agency)
		if err != nil {
			return err
		}
		h.Active, h.CreatedAt = true, tx.now
		if err := tx.QueryRowContext(ctx, `insert into webhooks (agency_id, url, secret, active, created_at) values ($1, $2, $3, true, $4) returning id`,
			agency, h.URL, h.Secret, tx.now).Scan(&h.ID); err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		h.Secret = ""
		return tx.audit(ctx, "webhook.create", fmt.Sprintf("webhook:%d", h.ID), pairs("url", h.URL, "agency", h.Agency))
	})
}

// DeleteWebhook implements cityops.OutboxService.
func (d *DB) DeleteWebhook(ctx context.Context, id int64) error {
	if err := authorize(ctx, cityops.PermOrgWrite); err != nil {
		d.auditDenied(ctx, "webhook.delete", fmt.Sprintf("webhook:%d", id), err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from webhooks where id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "webhook %d not found", id)
		}
		return tx.audit(ctx, "webhook.delete", fmt.Sprintf("webhook:%d", id), "")
	})
}
