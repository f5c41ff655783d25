package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.TimerService = (*DB)(nil)

// RunTimers implements cityops.TimerService. Each report is handled in its
// own transaction, so one bad row cannot hold the others back, and every
// step writes its event and outbox entry with the change.
func (d *DB) RunTimers(ctx context.Context) (int, error) {
	now := d.Now().UTC()
	c := d.Reports
	open := `status in ('received', 'assigned', 'accepted', 'in_progress')`
	steps := []struct {
		query string
		args  []any
		do    func(tx *Tx, id int64) error
	}{
		{`select id from reports where status = 'resolved' and resolved_at < $1 order by id limit 500`,
			[]any{now.Add(-time.Duration(c.ConfirmDays) * 24 * time.Hour)},
			func(tx *Tx, id int64) error {
				res, err := tx.ExecContext(ctx, `update reports set status = 'closed', closed_at = $1, updated_at = $1 where id = $2 and status = 'resolved'`, tx.now, id)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return errTaken // another process got there first
				}
				note := fmt.Sprintf("%d days without the citizen's answer", c.ConfirmDays)
				if err := addEvent(ctx, tx, id, "system", cityops.ActAutoClose, cityops.StatusResolved, cityops.StatusClosed, 0, note, false); err != nil {
					return err
				}
				return writeOutbox(ctx, tx, id, "report."+cityops.ActAutoClose, "", false)
			}},
		{`select id from reports where ` + open + ` and warned_at is null and due_at > $1 and due_at <= $2 order by due_at limit 500`,
			[]any{now, now.Add(c.WarnBefore)},
			func(tx *Tx, id int64) error {
				return timerEvent(ctx, tx, id, cityops.EventDeadlineWarning, "warned_at = $1", "warned_at is null", tx.now)
			}},
		{`select id from reports where ` + open + ` and escalation = 0 and due_at <= $1 order by due_at limit 500`,
			[]any{now},
			func(tx *Tx, id int64) error {
				return timerEvent(ctx, tx, id, cityops.EventEscalateHead, "escalation = 1", "escalation = 0")
			}},
		{`select id from reports where ` + open + ` and escalation = 1 and due_at <= $1 order by due_at limit 500`,
			[]any{now.Add(-c.EscalateAfter)},
			func(tx *Tx, id int64) error {
				return timerEvent(ctx, tx, id, cityops.EventEscalateCentre, "escalation = 2", "escalation = 1")
			}},
	}
	n := 0
	for _, st := range steps {
		rows, err := d.db.QueryContext(ctx, st.query, st.args...)
		if err != nil {
			return n, fmt.Errorf("timers: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, fmt.Errorf("timers: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("timers: %w", err)
		}
		for _, id := range ids {
			err := d.inTx(ctx, func(tx *Tx) error { return st.do(tx, id) })
			if errors.Is(err, errTaken) {
				continue
			}
			if err != nil {
				return n, fmt.Errorf("timers: report %d: %w", id, err)
			}
			n++
		}
	}
	return n, nil
}

// errTaken means another process already took a timer step; the step's
// transaction rolls back and nothing is recorded twice.
var errTaken = errors.New("timer step taken already")

// timerEvent records a warning or an escalation and marks it done with
// set, provided the report is still as the step found it (cond).
func timerEvent(ctx context.Context, tx *Tx, id int64, event, set, cond string, args ...any) error {
	res, err := tx.ExecContext(ctx, `update reports set `+set+` where `+cond+` and id = $`+fmt.Sprint(len(args)+1), append(args, id)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errTaken
	}
	var status string
	if err := tx.QueryRowContext(ctx, `select status from reports where id = $1`, id).Scan(&status); err != nil {
		return err
	}
	if err := addEvent(ctx, tx, id, "system", event, status, status, 0, "", true); err != nil {
		return err
	}
	return writeOutbox(ctx, tx, id, "report."+event, "", true)
}
