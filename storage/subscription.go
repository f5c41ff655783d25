package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.SubscriptionStore = (*DB)(nil)

// Subscriptions are one row each: the definition as JSON (it is read
// whole and never queried into), and the delivery status in columns so
// that the notifier can add to the counters without rewriting it.

const subscriptionCols = `definition, active, expires_at, status, times_sent, times_failed,
	last_notification, last_success, last_failure, created_at, modified_at`

func scanSubscription(row interface{ Scan(...any) error }, tenant string) (*cityops.Subscription, error) {
	var def string
	var active bool
	var expires, last, success, failure sql.Null[time.Time]
	var status string
	var sent, failed int64
	var created, modified time.Time
	if err := row.Scan(&def, &active, &expires, &status, &sent, &failed, &last, &success, &failure, &created, &modified); err != nil {
		return nil, err
	}
	var s cityops.Subscription
	if err := json.Unmarshal([]byte(def), &s); err != nil {
		return nil, fmt.Errorf("subscription definition: %w", err)
	}
	s.Tenant, s.Active, s.ExpiresAt = tenant, active, nullTime(expires)
	n := &s.Notification
	n.Status, n.TimesSent, n.TimesFailed = status, sent, failed
	n.LastNotification, n.LastSuccess, n.LastFailure = nullTime(last), nullTime(success), nullTime(failure)
	s.CreatedAt, s.ModifiedAt = created.UTC(), modified.UTC()
	return &s, nil
}

func subscriptionDefinition(s *cityops.Subscription) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("subscription definition: %w", err)
	}
	return string(b), nil
}

// newSubscriptionID makes the id of a subscription created without one.
func newSubscriptionID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "urn:ngsi-ld:Subscription:" + hex.EncodeToString(b)
}

// CreateSubscription implements cityops.SubscriptionService.
func (d *DB) CreateSubscription(ctx context.Context, s *cityops.Subscription) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "subscription.create", "subscription:"+s.ID, err)
		return err
	}
	if s.ID == "" {
		s.ID = newSubscriptionID()
	}
	if err := s.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		if s.ExpiresAt != nil && !s.ExpiresAt.After(tx.now) {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"expiresAt": "is in the past"}}
		}
		def, err := subscriptionDefinition(s)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `insert into subscriptions (tenant, sub_id, definition, active, expires_at, created_at, modified_at)
			values ($1, $2, $3, $4, $5, $6, $6)`, s.Tenant, s.ID, def, s.Active, timeArg(s.ExpiresAt), tx.now)
		if isUnique(err) {
			return cityops.Errorf(cityops.ECONFLICT, "subscription %q exists already", s.ID)
		}
		if err != nil {
			return fmt.Errorf("create subscription: %w", err)
		}
		s.CreatedAt, s.ModifiedAt = tx.now, tx.now
		return tx.audit(ctx, "subscription.create", "subscription:"+s.ID, subscriptionDetail(s))
	})
}

// FindSubscription implements cityops.SubscriptionService.
func (d *DB) FindSubscription(ctx context.Context, tenant, id string) (*cityops.Subscription, error) {
	if err := authorize(ctx, cityops.PermDataRead); err != nil {
		return nil, err
	}
	s, err := scanSubscription(d.db.QueryRowContext(ctx, `select `+subscriptionCols+` from subscriptions
		where tenant = $1 and sub_id = $2`, tenant, id), tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cityops.Errorf(cityops.ENOTFOUND, "subscription %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find subscription: %w", err)
	}
	return s, nil
}

// FindSubscriptions implements cityops.SubscriptionService.
func (d *DB) FindSubscriptions(ctx context.Context, tenant string, offset, limit int) ([]*cityops.Subscription, int, error) {
	if err := authorize(ctx, cityops.PermDataRead); err != nil {
		return nil, 0, err
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*) from subscriptions where tenant = $1`, tenant).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count subscriptions: %w", err)
	}
	list, err := d.scanSubscriptions(ctx, `select tenant, `+subscriptionCols+` from subscriptions where tenant = $1 order by id`+
		d.page(offset, limit), tenant)
	return list, total, err
}

// ActiveSubscriptions implements cityops.SubscriptionStore.
func (d *DB) ActiveSubscriptions(ctx context.Context) ([]*cityops.Subscription, error) {
	return d.scanSubscriptions(ctx, `select tenant, `+subscriptionCols+` from subscriptions where active order by id`)
}

func (d *DB) scanSubscriptions(ctx context.Context, q string, args ...any) ([]*cityops.Subscription, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find subscriptions: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Subscription{}
	for rows.Next() {
		var tenant string
		s, err := scanSubscription(scanPrefix{rows, &tenant}, "")
		if err != nil {
			return nil, fmt.Errorf("find subscriptions: %w", err)
		}
		s.Tenant = tenant
		out = append(out, s)
	}
	return out, rows.Err()
}

// scanPrefix scans one leading column into p before the rest.
type scanPrefix struct {
	rows *sql.Rows
	p    any
}

func (s scanPrefix) Scan(dest ...any) error { return s.rows.Scan(append([]any{s.p}, dest...)...) }

// SubscriptionsVersion implements cityops.SubscriptionStore: the count
// and the newest modification change with every create, update and
// delete.
func (d *DB) SubscriptionsVersion(ctx context.Context) (string, error) {
	var n int64
	var last any // a time on PostgreSQL, text on SQLite
	if err := d.db.QueryRowContext(ctx, `select count(*), max(modified_at) from subscriptions`).Scan(&n, &last); err != nil {
		return "", fmt.Errorf("subscriptions version: %w", err)
	}
	return fmt.Sprintf("%d/%v", n, last), nil
}

// UpdateSubscription implements cityops.SubscriptionService.
func (d *DB) UpdateSubscription(ctx context.Context, s *cityops.Subscription) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "subscription.update", "subscription:"+s.ID, err)
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	def, err := subscriptionDefinition(s)
	if err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update subscriptions set definition = $1, active = $2, expires_at = $3, modified_at = $4
			where tenant = $5 and sub_id = $6 and modified_at = $7`, def, s.Active, timeArg(s.ExpiresAt), tx.now, s.Tenant, s.ID, s.ModifiedAt.UTC())
		if err != nil {
			return fmt.Errorf("update subscription: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			s.ModifiedAt = tx.now
			return tx.audit(ctx, "subscription.update", "subscription:"+s.ID, subscriptionDetail(s))
		}
		var one int
		err = tx.QueryRowContext(ctx, `select 1 from subscriptions where tenant = $1 and sub_id = $2`, s.Tenant, s.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "subscription %q not found", s.ID)
		}
		if err != nil {
			return fmt.Errorf("update subscription: %w", err)
		}
		return cityops.Errorf(cityops.ECONFLICT, "subscription %q was changed meanwhile; read it again", s.ID)
	})
}

// DeleteSubscription implements cityops.SubscriptionService.
func (d *DB) DeleteSubscription(ctx context.Context, tenant, id string) error {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		d.auditDenied(ctx, "subscription.delete", "subscription:"+id, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from subscriptions where tenant = $1 and sub_id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete subscription: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "subscription %q not found", id)
		}
		return tx.audit(ctx, "subscription.delete", "subscription:"+id, pairs("tenant", tenant))
	})
}

// subscriptionDetail describes a subscription for the audit trail.
func subscriptionDetail(s *cityops.Subscription) string {
	return pairs("tenant", s.Tenant, "active", strconv.FormatBool(s.Active))
}

// RecordNotifications implements cityops.SubscriptionStore: one
// statement per subscription, adding to the counters, so that several
// processes notifying for one database add up.
func (d *DB) RecordNotifications(ctx context.Context, results []cityops.NotificationResult) error {
	if len(results) == 0 {
		return nil
	}
	t := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC()
	}
	return d.inTx(ctx, func(tx *Tx) error {
		for _, r := range results {
			if _, err := tx.ExecContext(ctx, `update subscriptions set times_sent = times_sent + $1, times_failed = times_failed + $2,
				last_notification = coalesce($3, last_notification), last_success = coalesce($4, last_success),
				last_failure = coalesce($5, last_failure), status = case when $6 = '' then status else $6 end
				where tenant = $7 and sub_id = $8`,
				r.Sent, r.Failed, t(r.LastNotification), t(r.LastSuccess), t(r.LastFailure), r.Status, r.Tenant, r.ID); err != nil {
				return fmt.Errorf("record notifications: %w", err)
			}
		}
		return nil
	})
}
