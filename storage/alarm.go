package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
)

var _ cityops.AlarmService = (*DB)(nil)

// AlarmRules implements cityops.AlarmService.
func (d *DB) AlarmRules(ctx context.Context) ([]*cityops.AlarmRule, error) {
	rows, err := d.db.QueryContext(ctx, `select id, definition, enabled, created_at, updated_at from alarm_rules order by code`)
	if err != nil {
		return nil, fmt.Errorf("alarm rules: %w", err)
	}
	defer rows.Close()
	out := []*cityops.AlarmRule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRule(s interface{ Scan(...any) error }) (*cityops.AlarmRule, error) {
	var id int64
	var def string
	var enabled bool
	var created, updated sql.Null[time.Time]
	if err := s.Scan(&id, &def, &enabled, &created, &updated); err != nil {
		return nil, err
	}
	var r cityops.AlarmRule
	if err := json.Unmarshal([]byte(def), &r); err != nil {
		return nil, fmt.Errorf("alarm rule %d: %w", id, err)
	}
	r.ID, r.Enabled = id, enabled
	r.CreatedAt, r.UpdatedAt = created.V, updated.V
	return &r, nil
}

// FindAlarmRule implements cityops.AlarmService.
func (d *DB) FindAlarmRule(ctx context.Context, code string) (*cityops.AlarmRule, error) {
	r, err := scanRule(d.db.QueryRowContext(ctx, `select id, definition, enabled, created_at, updated_at from alarm_rules where code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("alarm rule", code)
	}
	if err != nil {
		return nil, fmt.Errorf("alarm rule: %w", err)
	}
	return r, nil
}

// SaveAlarmRule implements cityops.AlarmService.
func (d *DB) SaveAlarmRule(ctx context.Context, r *cityops.AlarmRule) error {
	return d.SaveAlarmRules(ctx, []*cityops.AlarmRule{r})
}

// SaveAlarmRules implements cityops.AlarmService: one transaction, and the
// first wrong rule names its place ("rules[3].category") when there are
// several.
func (d *DB) SaveAlarmRules(ctx context.Context, rules []*cityops.AlarmRule) error {
	if err := authorize(ctx, cityops.PermRulesWrite); err != nil {
		d.auditDenied(ctx, "rules.save", "", err)
		return err
	}
	prefix := func(i int, err error) error {
		var e *cityops.Error
		if len(rules) == 1 || !errors.As(err, &e) || len(e.Fields) == 0 {
			return err
		}
		f := map[string]string{}
		for k, v := range e.Fields {
			f[fmt.Sprintf("rules[%d] (%s).%s", i, rules[i].Code, k)] = v
		}
		return &cityops.Error{Code: e.Code, Message: e.Message, Fields: f}
	}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return prefix(i, err)
		}
	}
	return d.inTx(ctx, func(tx *Tx) error {
		for i, r := range rules {
			if err := saveRule(ctx, tx, r); err != nil {
				return prefix(i, err)
			}
		}
		for _, r := range rules {
			if err := tx.audit(ctx, "rules.save", "rule:"+r.Code, fmt.Sprintf("enabled=%t", r.Enabled)); err != nil {
				return err
			}
		}
		return nil
	})
}

func saveRule(ctx context.Context, tx *Tx, r *cityops.AlarmRule) error {
	var v cityops.Validation
	exists := func(table, code string) bool {
		var n int
		if err := tx.QueryRowContext(ctx, `select count(*) from `+table+` where code = $1`, code).Scan(&n); err != nil {
			return false
		}
		return n > 0
	}
	if r.Category != "" {
		v.Check(exists("categories", r.Category), "category", "unknown category %q", r.Category)
	}
	if r.Agency != "" {
		v.Check(exists("agencies", r.Agency), "agency", "unknown agency %q", r.Agency)
	}
	if r.Sector != "" {
		v.Check(exists("sectors", r.Sector), "sector", "unknown sector %q", r.Sector)
	}
	if r.Area != "" {
		v.Check(exists("areas", r.Area), "area", "unknown area %q", r.Area)
	}
	if err := v.Err(); err != nil {
		return err
	}
	def := *r
	def.ID, def.CreatedAt, def.UpdatedAt = 0, time.Time{}, time.Time{}
	b, err := json.Marshal(def)
	if err != nil {
		return fmt.Errorf("alarm rule: %w", err)
	}
	res, err := tx.ExecContext(ctx, `update alarm_rules set definition = $1, enabled = $2, updated_at = $3 where code = $4`,
		string(b), r.Enabled, tx.now, r.Code)
	if err != nil {
		return fmt.Errorf("alarm rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.ExecContext(ctx, `insert into alarm_rules (code, definition, enabled, created_at, updated_at)
			values ($1, $2, $3, $4, $5)`, r.Code, string(b), r.Enabled, tx.now, tx.now); err != nil {
			if isUnique(err) {
				return cityops.Errorf(cityops.ECONFLICT, "alarm rule %q was created at the same time", r.Code)
			}
			return fmt.Errorf("alarm rule: %w", err)
		}
	}
	saved, err := scanRule(tx.QueryRowContext(ctx, `select id, definition, enabled, created_at, updated_at from alarm_rules where code = $1`, r.Code))
	if err != nil {
		return fmt.Errorf("alarm rule: %w", err)
	}
	*r = *saved
	return nil
}

// DeleteAlarmRule implements cityops.AlarmService.
func (d *DB) DeleteAlarmRule(ctx context.Context, code string) error {
	if err := authorize(ctx, cityops.PermRulesWrite); err != nil {
		d.auditDenied(ctx, "rules.delete", "rule:"+code, err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `delete from alarm_rules where code = $1`, code)
		if err != nil {
			return fmt.Errorf("delete alarm rule: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("alarm rule", code)
		}
		return tx.audit(ctx, "rules.delete", "rule:"+code, "")
	})
}

const alarmCols = `l.id, l.rule_code, l.rule_name, l.sector, l.severity, l.status, l.tenant, l.entity_id, l.entity_type, l.attr,
	l.value, l.message, l.count, l.lat, l.lon, coalesce(a.code, ''), coalesce(g.code, ''), l.raised_at, l.updated_at, l.acked_at, l.acked_by,
	l.cleared_at, l.cleared_by, coalesce(r.tracking, '')`

const alarmFrom = ` from alarms l left join areas a on a.id = l.area_id left join agencies g on g.id = l.agency_id
	left join reports r on r.id = l.report_id`

func scanAlarm(s interface{ Scan(...any) error }) (*cityops.Alarm, error) {
	var l cityops.Alarm
	var lat, lon sql.NullFloat64
	var acked, cleared sql.Null[time.Time]
	var raised, updated time.Time
	if err := s.Scan(&l.ID, &l.Rule, &l.RuleName, &l.Sector, &l.Severity, &l.Status, &l.Tenant, &l.EntityID, &l.EntityType, &l.Attr,
		&l.Value, &l.Message, &l.Count, &lat, &lon, &l.Area, &l.Agency, &raised, &updated, &acked, &l.AckedBy,
		&cleared, &l.ClearedBy, &l.Report); err != nil {
		return nil, err
	}
	if lat.Valid && lon.Valid {
		l.Lat, l.Lon = &lat.Float64, &lon.Float64
	}
	l.RaisedAt, l.UpdatedAt = raised, updated
	if acked.Valid {
		t := acked.V
		l.AckedAt = &t
	}
	if cleared.Valid {
		t := cleared.V
		l.ClearedAt = &t
	}
	return &l, nil
}

// OnAlarmChange adds a listener told of every committed alarm change.
func (d *DB) OnAlarmChange(f func(cityops.AlarmChange)) {
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	d.alarmListeners = append(d.alarmListeners, f)
}

func (d *DB) notifyAlarm(l *cityops.Alarm, action string) {
	d.listenMu.Lock()
	ls := d.alarmListeners
	d.listenMu.Unlock()
	for _, f := range ls {
		f(cityops.AlarmChange{Alarm: l, Action: action})
	}
}

func alarmEvent(ctx context.Context, tx *Tx, id int64, action, actor string, value *float64, note string) error {
	var v any
	if value != nil {
		v = *value
	}
	if _, err := tx.ExecContext(ctx, `insert into alarm_events (alarm_id, at, action, actor, value, note) values ($1, $2, $3, $4, $5, $6)`,
		id, tx.now, action, actor, v, note); err != nil {
		return fmt.Errorf("alarm event: %w", err)
	}
	return nil
}

// RaiseAlarm implements cityops.AlarmService. A new alarm whose rule names
// a category opens its case in the same transaction; when the case cannot
// be opened (the category was withdrawn, say) the alarm is raised all the
// same and its history says why there is no case.
func (d *DB) RaiseAlarm(ctx context.Context, in *cityops.AlarmRaise) (*cityops.Alarm, error) {
	errs, alarms, err := d.applyAlarmTransitions(ctx, []cityops.AlarmTransition{{Raise: in}})
	if err != nil {
		return nil, err
	}
	return alarms[0], errs[0]
}

// ApplyAlarmTransitions implements cityops.AlarmService: the engine's
// transitions in one transaction, each under a savepoint so that one that
// fails leaves the others. On SQLite every write transaction waits for
// the single writer (the MQTT ingest holds it for a batch at a time), so
// one transaction for all that waited keeps alarms from queueing behind
// each other.
func (d *DB) ApplyAlarmTransitions(ctx context.Context, ts []cityops.AlarmTransition) ([]error, error) {
	errs, _, err := d.applyAlarmTransitions(ctx, ts)
	return errs, err
}

// applyAlarmTransitions is ApplyAlarmTransitions with the alarm each
// transition changed (nil for an end that cleared nothing).
func (d *DB) applyAlarmTransitions(ctx context.Context, ts []cityops.AlarmTransition) ([]error, []*cityops.Alarm, error) {
	if err := authorize(ctx, cityops.PermDataWrite); err != nil {
		return nil, nil, err
	}
	// Outside the transaction: where each alarm is, and whether each
	// ending rule clears by itself (a rule deleted meanwhile does).
	areas := make([]*cityops.Area, len(ts))
	auto := map[string]bool{}
	for i, t := range ts {
		switch {
		case t.Raise != nil:
			in := t.Raise
			if in.Lat != nil && in.Lon != nil {
				if a, err := d.LocateArea(ctx, *in.Lat, *in.Lon, in.At); err == nil {
					areas[i] = a
				}
			}
		case t.End != nil:
			if _, ok := auto[t.End.Rule]; ok {
				continue
			}
			auto[t.End.Rule] = true
			if r, err := d.FindAlarmRule(ctx, t.End.Rule); err == nil {
				auto[t.End.Rule] = r.AutoClear
			} else if cityops.ErrorCode(err) != cityops.ENOTFOUND {
				return nil, nil, err
			}
		}
	}
	errs := make([]error, len(ts))
	alarms := make([]*cityops.Alarm, len(ts))
	type told struct {
		l      *cityops.Alarm
		action string
	}
	var changes []told
	err := d.inTx(ctx, func(tx *Tx) error {
		changes = changes[:0]
		for i, t := range ts {
			if len(ts) > 1 {
				if _, err := tx.ExecContext(ctx, `savepoint alarm_transition`); err != nil {
					return fmt.Errorf("savepoint: %w", err)
				}
			}
			var l *cityops.Alarm
			var action string
			var err error
			switch {
			case t.Raise != nil:
				l, action, err = d.raiseTx(ctx, tx, t.Raise, areas[i])
			case t.End != nil:
				l, err = d.endTx(ctx, tx, t.End, auto[t.End.Rule])
				action = cityops.AlarmActClear
			default:
				err = cityops.Errorf(cityops.EINVALID, "a transition raises or ends")
			}
			if len(ts) > 1 {
				stmt := `release savepoint alarm_transition`
				if err != nil {
					stmt = `rollback to savepoint alarm_transition`
				}
				if _, serr := tx.ExecContext(ctx, stmt); serr != nil {
					return fmt.Errorf("savepoint: %w", serr)
				}
			} else if err != nil {
				return err
			}
			errs[i] = err
			if err == nil && l != nil {
				alarms[i] = l
				changes = append(changes, told{l, action})
			}
		}
		return nil
	})
	if err != nil {
		if len(ts) == 1 && cityops.ErrorCode(err) != cityops.EINTERNAL {
			errs[0] = err
			return errs, alarms, nil
		}
		return nil, nil, err
	}
	for _, c := range changes {
		d.notifyAlarm(c.l, c.action)
	}
	return errs, alarms, nil
}

// raiseTx records a condition met inside tx.
func (d *DB) raiseTx(ctx context.Context, tx *Tx, in *cityops.AlarmRaise, area *cityops.Area) (*cityops.Alarm, string, error) {
	rule := in.Rule
	l, err := scanAlarm(tx.QueryRowContext(ctx, `select `+alarmCols+alarmFrom+`
		where l.rule_code = $1 and l.tenant = $2 and l.entity_id = $3 and l.status <> 'cleared'`+d.forUpdate("l"),
		rule.Code, in.Tenant, in.EntityID))
	switch {
	case err == nil: // the condition is back while the alarm is open
		if _, err := tx.ExecContext(ctx, `update alarms set count = count + 1, value = $1, message = $2, severity = $3, updated_at = $4
			where id = $5`, in.Value, in.Message, rule.Severity, tx.now, l.ID); err != nil {
			return nil, "", fmt.Errorf("raise alarm: %w", err)
		}
		if err := alarmEvent(ctx, tx, l.ID, "repeat", "system", &in.Value, ""); err != nil {
			return nil, "", err
		}
		out, err := d.alarmTx(ctx, tx, l.ID)
		return out, "repeat", err
	case !errors.Is(err, sql.ErrNoRows):
		return nil, "", fmt.Errorf("raise alarm: %w", err)
	}
	var areaID, agencyID any
	if area != nil {
		areaID = area.ID
	}
	if rule.Agency != "" {
		var id int64
		if err := tx.QueryRowContext(ctx, `select id from agencies where code = $1`, rule.Agency).Scan(&id); err == nil {
			agencyID = id
		}
	}
	var lat, lon any
	if in.Lat != nil && in.Lon != nil {
		lat, lon = *in.Lat, *in.Lon
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `insert into alarms (rule_code, rule_name, sector, severity, status, tenant, entity_id, entity_type,
		attr, value, message, count, lat, lon, area_id, agency_id, raised_at, updated_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14, $15, $16, $17) returning id`,
		rule.Code, rule.Name, rule.Sector, rule.Severity, cityops.AlarmActive, in.Tenant, in.EntityID, in.EntityType,
		rule.Attr, in.Value, in.Message, lat, lon, areaID, agencyID, tx.now, tx.now).Scan(&id); err != nil {
		return nil, "", fmt.Errorf("raise alarm: %w", err)
	}
	if err := alarmEvent(ctx, tx, id, "raise", "system", &in.Value, ""); err != nil {
		return nil, "", err
	}
	if rule.Category != "" {
		if err := d.openAlarmCase(ctx, tx, id, in, area); err != nil {
			return nil, "", err
		}
	}
	out, err := d.alarmTx(ctx, tx, id)
	return out, "raise", err
}

// openAlarmCase opens the case of a new alarm under a savepoint: a case
// that cannot be opened leaves the alarm raised with the reason.
func (d *DB) openAlarmCase(ctx context.Context, tx *Tx, alarmID int64, in *cityops.AlarmRaise, area *cityops.Area) error {
	rule := in.Rule
	desc := in.Message + "\n\n" + in.EntityID
	report := &cityops.ReportInput{Category: rule.Category, Description: desc, Lat: in.Lat, Lon: in.Lon,
		Channel: cityops.ChannelSensor, Agency: rule.Agency, DueHours: rule.DueHours, FromAlarm: alarmID}
	if in.Lat == nil {
		report.Address = in.EntityID // no location: the entity names the place
	}
	if _, err := tx.ExecContext(ctx, `savepoint alarm_case`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	var r *cityops.Report
	err := report.Validate()
	if err == nil {
		r, _, err = d.createReport(ctx, tx, report, area, auth.NewToken(18))
	}
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `rollback to savepoint alarm_case`); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		why := "internal error"
		var e *cityops.Error
		if errors.As(err, &e) {
			why = e.Error()
		} else {
			slog.Error("alarm case", "alarm", alarmID, "err", err)
		}
		return alarmEvent(ctx, tx, alarmID, "case_failed", "system", nil, why)
	}
	if _, err := tx.ExecContext(ctx, `release savepoint alarm_case`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `update alarms set report_id = $1, agency_id = coalesce(agency_id, (select agency_id from reports where id = $1))
		where id = $2`, r.ID, alarmID); err != nil {
		return fmt.Errorf("alarm case: %w", err)
	}
	return alarmEvent(ctx, tx, alarmID, "case", "system", nil, r.Tracking)
}

// noteOnCase adds an internal note to the case an alarm opened, if any,
// so that its handlers see the condition end without watching the alarm.
func noteOnCase(ctx context.Context, tx *Tx, alarmID int64, note string) error {
	var reportID sql.NullInt64
	if err := tx.QueryRowContext(ctx, `select report_id from alarms where id = $1`, alarmID).Scan(&reportID); err != nil {
		return fmt.Errorf("alarm case: %w", err)
	}
	if !reportID.Valid {
		return nil
	}
	var status string
	if err := tx.QueryRowContext(ctx, `select status from reports where id = $1`, reportID.Int64).Scan(&status); err != nil {
		return fmt.Errorf("alarm case: %w", err)
	}
	if err := addEvent(ctx, tx, reportID.Int64, "system", cityops.ActComment, status, status, 0, note, true); err != nil {
		return err
	}
	return writeOutbox(ctx, tx, reportID.Int64, "report."+cityops.ActComment, "", true)
}

func (d *DB) alarmTx(ctx context.Context, tx *Tx, id int64) (*cityops.Alarm, error) {
	l, err := scanAlarm(tx.QueryRowContext(ctx, `select `+alarmCols+alarmFrom+` where l.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	return l, nil
}

// EndAlarmCondition implements cityops.AlarmService.
func (d *DB) EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*cityops.Alarm, error) {
	errs, alarms, err := d.applyAlarmTransitions(ctx, []cityops.AlarmTransition{{End: &cityops.AlarmEnd{Rule: rule, Tenant: tenant, EntityID: entityID, Value: value}}})
	if err != nil {
		return nil, err
	}
	return alarms[0], errs[0]
}

// endTx ends a condition inside tx: the open alarm is cleared when its
// rule clears by itself (auto), else the end is only recorded. It
// returns the cleared alarm, or nil.
func (d *DB) endTx(ctx context.Context, tx *Tx, in *cityops.AlarmEnd, auto bool) (*cityops.Alarm, error) {
	l, err := scanAlarm(tx.QueryRowContext(ctx, `select `+alarmCols+alarmFrom+`
		where l.rule_code = $1 and l.tenant = $2 and l.entity_id = $3 and l.status <> 'cleared'`+d.forUpdate("l"),
		in.Rule, in.Tenant, in.EntityID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("end alarm: %w", err)
	}
	value := in.Value
	if !auto {
		return nil, alarmEvent(ctx, tx, l.ID, "condition_end", "system", &value, "")
	}
	if _, err := tx.ExecContext(ctx, `update alarms set status = $1, cleared_at = $2, cleared_by = 'system', updated_at = $2
		where id = $3`, cityops.AlarmCleared, tx.now, l.ID); err != nil {
		return nil, fmt.Errorf("end alarm: %w", err)
	}
	if err := alarmEvent(ctx, tx, l.ID, cityops.AlarmActClear, "system", &value, ""); err != nil {
		return nil, err
	}
	if err := noteOnCase(ctx, tx, l.ID, fmt.Sprintf("Điều kiện cảnh báo đã hết (giá trị %g). / The alarm condition ended (value %g).", value, value)); err != nil {
		return nil, err
	}
	return d.alarmTx(ctx, tx, l.ID)
}

// ActOnAlarm implements cityops.AlarmService.
func (d *DB) ActOnAlarm(ctx context.Context, id int64, action, note string) (*cityops.Alarm, error) {
	if err := authorize(ctx, cityops.PermAlarmsAct); err != nil {
		d.auditDenied(ctx, "alarm."+action, fmt.Sprintf("alarm:%d", id), err)
		return nil, err
	}
	note = strings.TrimSpace(note)
	if len(note) > 2000 {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"note": "is longer than 2000 characters"}}
	}
	actor := cityops.ActorFromContext(ctx)
	var out *cityops.Alarm
	err := d.inTx(ctx, func(tx *Tx) error {
		l, err := d.scopedAlarm(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch action {
		case cityops.AlarmActAcknowledge:
			if l.Status != cityops.AlarmActive {
				return cityops.Errorf(cityops.ECONFLICT, "the alarm is %s; only an active alarm can be acknowledged", l.Status)
			}
			_, err = tx.ExecContext(ctx, `update alarms set status = $1, acked_at = $2, acked_by = $3, updated_at = $2 where id = $4`,
				cityops.AlarmAcknowledged, tx.now, actor.Name(), id)
		case cityops.AlarmActClear:
			if !cityops.AlarmOpen(l.Status) {
				return cityops.Errorf(cityops.ECONFLICT, "the alarm is cleared already")
			}
			_, err = tx.ExecContext(ctx, `update alarms set status = $1, cleared_at = $2, cleared_by = $3, updated_at = $2 where id = $4`,
				cityops.AlarmCleared, tx.now, actor.Name(), id)
		default:
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"action": "must be acknowledge or clear"}}
		}
		if err != nil {
			return fmt.Errorf("alarm action: %w", err)
		}
		if err := alarmEvent(ctx, tx, id, action, actor.Name(), nil, note); err != nil {
			return err
		}
		if err := tx.audit(ctx, "alarm."+action, fmt.Sprintf("alarm:%d", id), "rule="+l.Rule+" entity="+l.EntityID); err != nil {
			return err
		}
		out, err = d.alarmTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.notifyAlarm(out, action)
	return out, nil
}

// scopedAlarm loads an alarm the actor may see; one outside their scope is
// not found, so that its existence is not revealed.
func (d *DB) scopedAlarm(ctx context.Context, tx *Tx, id int64, lock bool) (*cityops.Alarm, error) {
	var w where
	w.add("l.id = ?", id)
	if err := d.alarmScope(ctx, &w); err != nil {
		return nil, err
	}
	q := `select ` + alarmCols + alarmFrom + w.String()
	if lock {
		q += d.forUpdate("l")
	}
	l, err := scanAlarm(tx.QueryRowContext(ctx, q, w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("alarm", fmt.Sprint(id))
	}
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	return l, nil
}

// alarmScope narrows alarms to those the actor may see: the centre, the
// steering board and administrators see every alarm; agency staff their
// agency's (the rule's, or the lead agency of the case it opened); a ward
// officer without an agency those in their area.
func (d *DB) alarmScope(ctx context.Context, w *where) error {
	a := cityops.ActorFromContext(ctx)
	if a == nil {
		return cityops.Errorf(cityops.EUNAUTHORIZED, "sign in first")
	}
	agency, area := "", ""
	switch {
	case a.System:
	case a.APIKey != nil:
		agency = a.APIKey.Agency
	case a.User != nil:
		switch a.User.Role {
		case cityops.RoleAgencyOfficer, cityops.RoleAgencyHead:
			agency = a.User.AgencyCode
			if agency == "" {
				agency = "\x00" // staff of no agency see none
			}
		case cityops.RoleWardOfficer:
			agency, area = a.User.AgencyCode, a.User.AreaCode
			if agency == "" && area == "" {
				agency = "\x00"
			}
		}
	}
	switch {
	case agency != "" && area != "":
		w.add(`(l.agency_id = (select id from agencies where code = ?) or l.area_id in (`+areaSubtreeSQL+`))`, agency, area)
	case agency != "":
		w.add(`l.agency_id = (select id from agencies where code = ?)`, agency)
	case area != "":
		w.add(`l.area_id in (`+areaSubtreeSQL+`)`, area)
	}
	return nil
}

// areaSubtreeSQL selects the ids of an area (by code) and every area below it.
const areaSubtreeSQL = `with recursive sub(id) as (select id from areas where code = ?
	union all select a2.id from areas a2 join sub on a2.parent_id = sub.id) select id from sub`

// FindAlarm implements cityops.AlarmService.
func (d *DB) FindAlarm(ctx context.Context, id int64) (*cityops.Alarm, error) {
	if err := authorize(ctx, cityops.PermAlarmsRead); err != nil {
		return nil, err
	}
	var out *cityops.Alarm
	err := d.inTx(ctx, func(tx *Tx) error {
		l, err := d.scopedAlarm(ctx, tx, id, false)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `select at, action, actor, value, note from alarm_events where alarm_id = $1 order by id`, id)
		if err != nil {
			return fmt.Errorf("alarm events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e cityops.AlarmEvent
			var at time.Time
			var v sql.NullFloat64
			if err := rows.Scan(&at, &e.Action, &e.Actor, &v, &e.Note); err != nil {
				return fmt.Errorf("alarm events: %w", err)
			}
			e.At = at
			if v.Valid {
				e.Value = &v.Float64
			}
			l.Events = append(l.Events, &e)
		}
		out = l
		return rows.Err()
	})
	return out, err
}

// FindAlarms implements cityops.AlarmService.
func (d *DB) FindAlarms(ctx context.Context, f cityops.AlarmFilter) ([]*cityops.Alarm, int, error) {
	if err := authorize(ctx, cityops.PermAlarmsRead); err != nil {
		return nil, 0, err
	}
	var w where
	if err := d.alarmScope(ctx, &w); err != nil {
		return nil, 0, err
	}
	if f.Open {
		w.add("l.status <> 'cleared'")
	}
	w.in("l.status", f.Status)
	w.in("l.severity", f.Severity)
	if f.Sector != nil {
		w.add("l.sector = ?", *f.Sector)
	}
	if f.Rule != nil {
		w.add("l.rule_code = ?", *f.Rule)
	}
	if f.EntityID != nil {
		w.add("l.entity_id = ?", *f.EntityID)
	}
	if f.Report != nil {
		w.add("r.tracking = ?", strings.ToUpper(*f.Report))
	}
	if f.Area != nil {
		w.add(`l.area_id in (`+areaSubtreeSQL+`)`, *f.Area)
	}
	if f.Since != nil {
		w.add("l.raised_at >= ?", f.Since.UTC())
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*)`+alarmFrom+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("find alarms: %w", err)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := d.db.QueryContext(ctx, `select `+alarmCols+alarmFrom+w.String()+` order by l.raised_at desc, l.id desc`+
		d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find alarms: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Alarm{}
	for rows.Next() {
		l, err := scanAlarm(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("find alarms: %w", err)
		}
		out = append(out, l)
	}
	return out, total, rows.Err()
}

// LastSeen lists the entities of a type with when they last changed and
// where they are, for the alarm engine's silence rules.
func (d *DB) LastSeen(ctx context.Context, entityType string) ([]cityops.EntitySeen, error) {
	rows, err := d.db.QueryContext(ctx, `select tenant, entity_id, type, modified_at, lat, lon from entities where type = $1`, entityType)
	if err != nil {
		return nil, fmt.Errorf("last seen: %w", err)
	}
	defer rows.Close()
	var out []cityops.EntitySeen
	for rows.Next() {
		var s cityops.EntitySeen
		var at time.Time
		var lat, lon sql.NullFloat64
		if err := rows.Scan(&s.Tenant, &s.ID, &s.Type, &at, &lat, &lon); err != nil {
			return nil, fmt.Errorf("last seen: %w", err)
		}
		s.At = at
		if lat.Valid && lon.Valid {
			s.Lat, s.Lon = &lat.Float64, &lon.Float64
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
