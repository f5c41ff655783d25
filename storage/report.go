package storage

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
)

var _ cityops.ReportService = (*DB)(nil)

// trackingAlphabet leaves out 0/O, 1/I/L so codes read well over the phone.
const trackingAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// newTracking returns an 8-character public code (31^8 ≈ 8.5·10^11).
func newTracking() string {
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = trackingAlphabet[int(b[i])%len(trackingAlphabet)]
	}
	return string(b)
}

const reportCols = `r.id, r.tracking, c.code, s.code, r.description, r.lat, r.lon, r.address, coalesce(a.code, ''), r.channel,
	r.urgent, r.status, coalesce(g.code, ''), r.queued_until, r.due_at, r.received_at, r.updated_at, r.resolved_at,
	r.closed_at, r.resolution, coalesce(d.tracking, ''), r.rating, r.rating_note, coalesce(t.code, ''), r.extension_to,
	r.reporter_name, r.reporter_phone, r.reporter_email, r.escalation, r.answers, r.media_url`

const reportFrom = ` from reports r join categories c on c.id = r.category_id join sectors s on s.id = c.sector_id
	left join areas a on a.id = r.area_id left join agencies g on g.id = r.agency_id
	left join reports d on d.id = r.duplicate_of left join agencies t on t.id = r.transfer_to`

func scanReport(row interface{ Scan(...any) error }) (*cityops.Report, error) {
	var r cityops.Report
	var lat, lon sql.NullFloat64
	var queued, due, resolved, closed, ext sql.Null[time.Time]
	var rating sql.NullInt64
	var answers string
	if err := row.Scan(&r.ID, &r.Tracking, &r.Category, &r.Sector, &r.Description, &lat, &lon, &r.Address, &r.Area, &r.Channel,
		&r.Urgent, &r.Status, &r.Agency, &queued, &due, &r.ReceivedAt, &r.UpdatedAt, &resolved,
		&closed, &r.Resolution, &r.DuplicateOf, &rating, &r.RatingNote, &r.TransferTo, &ext,
		&r.ReporterName, &r.ReporterPhone, &r.ReporterEmail, &r.Escalation, &answers, &r.MediaURL); err != nil {
		return nil, err
	}
	if answers != "" && answers != "{}" {
		if err := json.Unmarshal([]byte(answers), &r.Answers); err != nil {
			return nil, fmt.Errorf("report answers: %w", err)
		}
	}
	if lat.Valid && lon.Valid {
		r.Lat, r.Lon = &lat.Float64, &lon.Float64
	}
	if rating.Valid {
		n := int(rating.Int64)
		r.Rating = &n
	}
	r.QueuedUntil, r.DueAt, r.ResolvedAt, r.ClosedAt, r.ExtensionTo = nullTime(queued), nullTime(due), nullTime(resolved), nullTime(closed), nullTime(ext)
	r.ReceivedAt, r.UpdatedAt = r.ReceivedAt.UTC(), r.UpdatedAt.UTC()
	r.ReporterVisible = true
	return &r, nil
}

// CreateReport implements cityops.ReportService: one transaction validates,
// locates, routes, sets the deadline and records the first events.
func (d *DB) CreateReport(ctx context.Context, in *cityops.ReportInput) (*cityops.Report, string, error) {
	if err := in.Validate(); err != nil {
		return nil, "", err
	}
	var area *cityops.Area
	if in.Lat != nil {
		a, err := d.LocateArea(ctx, *in.Lat, *in.Lon, time.Time{})
		if cityops.ErrorCode(err) == cityops.ENOTFOUND {
			return nil, "", &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"lat": "the location is outside the city's areas"}}
		}
		if err != nil {
			return nil, "", err
		}
		area = a
	}
	res := d.intake.submit(ctx, &intakeReq{in: in, area: area, token: auth.NewToken(18)})
	if res.err != nil {
		return nil, "", res.err
	}
	return res.r, res.token, nil
}

// createReport stores one report inside tx: the batch transaction of the
// intake, each report under a savepoint of its own.
func (d *DB) createReport(ctx context.Context, tx *Tx, in *cityops.ReportInput, area *cityops.Area, token string) (*cityops.Report, string, error) {
	var out *cityops.Report
	err := func() error {
		if in.IdempotencyKey != "" {
			r, err := scanReport(tx.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.idempotency_key = $1`, in.IdempotencyKey))
			if err == nil {
				// A replay: the submitter gets back what they gave.
				if err := d.openReporter(r); err != nil {
					return err
				}
				out, token = r, ""
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("idempotency: %w", err)
			}
		}
		var catID, sectorID int64
		var urgent, active bool
		var hoursTimed, hoursUrgent int
		var attrJSON string
		err := tx.QueryRowContext(ctx, `select id, sector_id, urgent, active, hours_timed, hours_urgent, attributes from categories where code = $1`,
			in.Category).Scan(&catID, &sectorID, &urgent, &active, &hoursTimed, &hoursUrgent, &attrJSON)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"category": fmt.Sprintf("unknown category %q", in.Category)}}
		}
		if err != nil {
			return fmt.Errorf("report category: %w", err)
		}
		var attrs []cityops.Attribute
		if err := json.Unmarshal([]byte(attrJSON), &attrs); err != nil {
			return fmt.Errorf("category attributes: %w", err)
		}
		answers, err := cityops.CheckAnswers(attrs, in.Answers)
		if err != nil {
			return err
		}
		answersJSON := "{}"
		if len(answers) > 0 {
			b, _ := json.Marshal(answers)
			answersJSON = string(b)
		}
		var areaID int64
		if area != nil {
			areaID = area.ID
		}
		agencyID, why, err := route(ctx, tx, catID, sectorID, areaID)
		if err != nil {
			return err
		}
		if in.Agency != "" { // an alarm rule names the agency
			if err := tx.QueryRowContext(ctx, `select id from agencies where code = $1`, in.Agency).Scan(&agencyID); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
						Fields: map[string]string{"agency": fmt.Sprintf("unknown agency %q", in.Agency)}}
				}
				return fmt.Errorf("report agency: %w", err)
			}
			why = "alarm rule"
		}
		if in.DueHours > 0 {
			hoursTimed, hoursUrgent = in.DueHours, in.DueHours
		}
		status := cityops.StatusReceived
		if agencyID != 0 {
			status = cityops.StatusAssigned
		}
		start := tx.now
		queued := d.morning(tx.now, urgent)
		if queued != nil {
			start = *queued
		}
		due := d.deadline(start, urgent, hoursTimed, hoursUrgent)
		var lat, lon any
		if in.Lat != nil {
			lat, lon = *in.Lat, *in.Lon
		}
		var idem any
		if in.IdempotencyKey != "" {
			idem = in.IdempotencyKey
		}
		var id int64
		tracking := newTracking()
		for try := 0; try < 5; try++ { // a collision needs 31^8 bad luck
			var n int
			if err := tx.QueryRowContext(ctx, `select count(*) from reports where tracking = $1`, tracking).Scan(&n); err != nil {
				return fmt.Errorf("create report: %w", err)
			}
			if n == 0 {
				break
			}
			tracking = newTracking()
		}
		{
			// With a keyring, the reporter's data is sealed before it
			// reaches the database, bound to its column and tracking code.
			p := d.sealReporter(tracking, in.Name, in.Phone, in.Email)
			err = tx.QueryRowContext(ctx, `insert into reports (tracking, category_id, description, lat, lon, address, area_id,
				channel, urgent, status, agency_id, queued_until, due_at, received_at, updated_at,
				reporter_name, reporter_phone, reporter_email, citizen_token, idempotency_key, answers, media_url,
				reporter_email_bidx, reporter_phone_bidx)
				values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) returning id`,
				tracking, catID, in.Description, lat, lon, in.Address, nullID(areaID), in.Channel, urgent, status,
				nullID(agencyID), timeArg(queued), due.UTC(), tx.now, tx.now, p.name, p.phone, p.email,
				auth.HashToken(token), idem, answersJSON, in.MediaURL, p.emailIdx, p.phoneIdx).Scan(&id)
			if err != nil {
				return fmt.Errorf("create report: %w", err)
			}
		}
		for _, p := range in.Photos {
			if err := addPhoto(ctx, tx, id, p, "report"); err != nil {
				return err
			}
		}
		from := "citizen"
		if in.FromAlarm != 0 {
			from = "system"
		}
		if err := addEvent(ctx, tx, id, from, "receive", "", cityops.StatusReceived, 0, "", false); err != nil {
			return err
		}
		if agencyID != 0 {
			if err := addEvent(ctx, tx, id, "system", cityops.ActAssign, cityops.StatusReceived, cityops.StatusAssigned, agencyID, why, false); err != nil {
				return err
			}
		}
		if err := writeOutbox(ctx, tx, id, "report.created", "", false); err != nil {
			return err
		}
		r, err := scanReport(tx.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.id = $1`, id))
		if err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		r.ReporterName, r.ReporterPhone, r.ReporterEmail = in.Name, in.Phone, in.Email // as given, not as stored
		out = r
		return nil
	}()
	if err != nil {
		return nil, "", err
	}
	if err := d.loadSupportingTx(ctx, tx, out); err != nil {
		return nil, "", err
	}
	return out, token, nil
}

func addPhoto(ctx context.Context, tx *Tx, reportID int64, p cityops.Photo, kind string) error {
	_, err := tx.ExecContext(ctx, `insert into report_photos (report_id, hash, thumb, width, height, kind, created_at)
		values ($1, $2, $3, $4, $5, $6, $7)`, reportID, p.Hash, p.Thumb, p.Width, p.Height, kind, tx.now)
	if isUnique(err) {
		return nil // the same photo twice
	}
	if err != nil {
		return fmt.Errorf("report photo: %w", err)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// morning returns when a non-urgent report that arrives at t during the
// night will be handled, or nil when it arrives in the day or is urgent.
func (d *DB) morning(t time.Time, urgent bool) *time.Time {
	c := d.Reports
	if urgent || c.NightFrom == c.NightTo {
		return nil
	}
	local := t.In(c.Zone)
	min := local.Hour()*60 + local.Minute()
	var night bool
	if c.NightFrom < c.NightTo {
		night = min >= c.NightFrom && min < c.NightTo
	} else { // the night spans midnight, e.g. 22:00–06:00
		night = min >= c.NightFrom || min < c.NightTo
	}
	if !night {
		return nil
	}
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, c.Zone)
	if min >= c.NightTo {
		day = day.AddDate(0, 0, 1)
	}
	m := day.Add(time.Duration(c.NightTo) * time.Minute).UTC()
	return &m
}

// deadline counts an urgent report's hours on the clock and a timed
// report's in working hours.
func (d *DB) deadline(start time.Time, urgent bool, hoursTimed, hoursUrgent int) time.Time {
	if urgent {
		return start.Add(time.Duration(hoursUrgent) * time.Hour).UTC()
	}
	return d.Reports.Calendar.Add(start, time.Duration(hoursTimed)*time.Hour).UTC()
}

func addEvent(ctx context.Context, tx *Tx, reportID int64, actor, action, from, to string, agencyID int64, note string, internal bool) error {
	if _, err := tx.ExecContext(ctx, `insert into report_events (report_id, at, actor, action, from_status, to_status, agency_id, note, internal)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, reportID, tx.now, actor, action, from, to, nullID(agencyID), note, internal); err != nil {
		return fmt.Errorf("report event: %w", err)
	}
	return nil
}

// canSeeReporter reports whether the actor may see the reporter's identity
// and contact: the centre, and staff of the lead or a supporting agency.
func (d *DB) canSeeReporter(ctx context.Context, r *cityops.Report) bool {
	a := cityops.ActorFromContext(ctx)
	switch {
	case a == nil:
		return false
	case a.System:
		return true
	case a.APIKey != nil:
		return a.APIKey.Agency != "" && a.APIKey.Agency == r.Agency && a.Can(cityops.PermReportsRead)
	case a.User == nil || !a.User.Active():
		return false
	case a.User.Role == cityops.RoleOperator || a.User.Role == cityops.RoleAdmin:
		return true
	case a.User.AgencyCode != "" && a.User.AgencyCode == r.Agency:
		return true
	}
	if a.User.AgencyCode == "" {
		return false
	}
	var n int
	d.db.QueryRowContext(ctx, `select count(*) from report_supports x join agencies g on g.id = x.agency_id
		where x.report_id = $1 and g.code = $2`, r.ID, a.User.AgencyCode).Scan(&n)
	return n > 0
}

// redact removes what the viewer may not see, and opens the reporter's
// sealed identity and contact for a viewer who may see them: only then is
// anything decrypted. A value that does not open is an internal error and
// is never shown.
func (d *DB) redact(ctx context.Context, r *cityops.Report) (*cityops.Report, error) {
	if a := cityops.ActorFromContext(ctx); !a.Can(cityops.PermReportsRead) {
		return r.Public(), nil
	}
	if !d.canSeeReporter(ctx, r) {
		r.ReporterName, r.ReporterPhone, r.ReporterEmail, r.ReporterVisible = "", "", "", false
		return r, nil
	}
	return r, d.openReporter(r)
}

// FindReportByTracking implements cityops.ReportService.
func (d *DB) FindReportByTracking(ctx context.Context, tracking string) (*cityops.Report, error) {
	r, err := scanReport(d.db.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.tracking = $1`, strings.ToUpper(tracking)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("report", tracking)
	}
	if err != nil {
		return nil, fmt.Errorf("find report: %w", err)
	}
	if err := d.loadSupporting(ctx, r); err != nil {
		return nil, err
	}
	if r, err = d.redact(ctx, r); err != nil {
		return nil, err
	}
	d.auditPersonalView(ctx, r)
	return r, nil
}

// auditPersonalView leaves a trace in the audit trail when a staff member
// is shown reporters' identity or contact (cityops itself, sending e-mail,
// does not): one entry per call, naming the one report, or the reports of
// a list in its detail.
func (d *DB) auditPersonalView(ctx context.Context, list ...*cityops.Report) {
	a := cityops.ActorFromContext(ctx)
	if a == nil || a.System {
		return
	}
	var seen []string
	for _, r := range list {
		if r.ReporterVisible && (r.ReporterName != "" || r.ReporterPhone != "" || r.ReporterEmail != "") {
			seen = append(seen, r.Tracking)
		}
	}
	e := &cityops.AuditEntry{Actor: a.AuditName(), Source: cityops.SourceFromContext(ctx),
		Action: "report.view_personal", Outcome: cityops.AuditOK}
	switch {
	case len(seen) == 0:
		return
	case len(list) == 1:
		e.Object = "report:" + seen[0]
	default:
		e.Object, e.Detail = "reports", fmt.Sprintf("%d reports: %s", len(seen), strings.Join(seen, " "))
	}
	d.auditAside(ctx, e)
}

func (d *DB) loadSupporting(ctx context.Context, r *cityops.Report) error {
	return loadSupporting(ctx, d.db, r)
}

func (d *DB) loadSupportingTx(ctx context.Context, tx *Tx, r *cityops.Report) error {
	return loadSupporting(ctx, tx, r)
}

// loadSupporting loads a report's photos and supporting agencies.
func loadSupporting(ctx context.Context, q queryer, r *cityops.Report) error {
	prow, err := q.QueryContext(ctx, `select hash, thumb, width, height, kind from report_photos
		where report_id = $1 order by created_at, hash`, r.ID)
	if err != nil {
		return fmt.Errorf("report photos: %w", err)
	}
	for prow.Next() {
		var p cityops.Photo
		if err := prow.Scan(&p.Hash, &p.Thumb, &p.Width, &p.Height, &p.Kind); err != nil {
			prow.Close()
			return err
		}
		r.Photos = append(r.Photos, p)
	}
	prow.Close()
	if err := prow.Err(); err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `select g.code, x.task, x.done_at from report_supports x join agencies g on g.id = x.agency_id
		where x.report_id = $1 order by g.code`, r.ID)
	if err != nil {
		return fmt.Errorf("supporting agencies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sp cityops.Support
		var done sql.Null[time.Time]
		if err := rows.Scan(&sp.Agency, &sp.Task, &done); err != nil {
			return err
		}
		sp.DoneAt = nullTime(done)
		r.Supporting = append(r.Supporting, sp)
	}
	return rows.Err()
}

// FindReports implements cityops.ReportService. Staff of an agency see
// the reports their agency leads or supports; ward officers those of their
// area; the centre, the steering board and the public see all (the public
// without personal data).
func (d *DB) FindReports(ctx context.Context, f cityops.ReportFilter) ([]*cityops.Report, int, error) {
	a := cityops.ActorFromContext(ctx)
	if a != nil && a.APIKey != nil && a.APIKey.Agency != "" {
		f.Agency = &a.APIKey.Agency
	}
	if a != nil && a.User != nil {
		switch a.User.Role {
		case cityops.RoleAgencyOfficer, cityops.RoleAgencyHead:
			f.Agency = &a.User.AgencyCode
		case cityops.RoleWardOfficer:
			if a.User.AgencyCode != "" {
				f.Agency = &a.User.AgencyCode
			} else {
				f.Area = &a.User.AreaCode
			}
		}
	}
	var w where
	w.in("r.status", f.Status)
	w.in("r.tracking", f.Tracking)
	w.in("c.code", f.Categories)
	if f.UpdatedSince != nil {
		w.add("r.updated_at >= ?", f.UpdatedSince.UTC())
	}
	if f.UpdatedUntil != nil {
		w.add("r.updated_at < ?", f.UpdatedUntil.UTC())
	}
	if c := f.Near; c != nil {
		// An equirectangular distance: exact enough at city scale, and
		// plain arithmetic on both databases. The bounding box lets an
		// index help.
		const mPerDeg = 111320.0
		k := math.Cos(c.Lat * math.Pi / 180)
		dLat, dLon := c.Radius/mPerDeg, c.Radius/(mPerDeg*math.Max(k, 0.01))
		w.add("r.lat between ? and ? and r.lon between ? and ?", c.Lat-dLat, c.Lat+dLat, c.Lon-dLon, c.Lon+dLon)
		w.add("((r.lat - ?) * ?) * ((r.lat - ?) * ?) + ((r.lon - ?) * ?) * ((r.lon - ?) * ?) <= ?",
			c.Lat, mPerDeg, c.Lat, mPerDeg, c.Lon, mPerDeg*k, c.Lon, mPerDeg*k, c.Radius*c.Radius)
	}
	if f.Sector != nil {
		w.add("s.code = ?", *f.Sector)
	}
	if f.Category != nil {
		w.add("c.code = ?", *f.Category)
	}
	if f.Agency != nil {
		// By id, so that both sides of the "or" can use an index: the
		// inbox of one agency among a million reports.
		// The reports an agency supports are few: listing them first keeps
		// the lead-agency index usable.
		var agencyID int64
		if err := d.db.QueryRowContext(ctx, `select id from agencies where code = $1`, *f.Agency).Scan(&agencyID); err != nil &&
			!errors.Is(err, sql.ErrNoRows) {
			return nil, 0, fmt.Errorf("find reports: %w", err)
		}
		supported, err := d.supportedReports(ctx, agencyID)
		if err != nil {
			return nil, 0, err
		}
		if len(supported) == 0 {
			w.add("r.agency_id = ?", agencyID)
		} else {
			ph := make([]string, len(supported))
			args := []any{agencyID}
			for i, id := range supported {
				ph[i] = "?"
				args = append(args, id)
			}
			w.add("(r.agency_id = ? or r.id in ("+strings.Join(ph, ", ")+"))", args...)
		}
	}
	if f.Area != nil {
		w.add(`r.area_id in (with recursive sub(id) as (select id from areas where code = ?
			union all select a2.id from areas a2 join sub on a2.parent_id = sub.id) select id from sub)`, *f.Area)
	}
	now := d.Now().UTC()
	if f.Overdue != nil {
		open := `r.status in ('received', 'assigned', 'accepted', 'in_progress')`
		if *f.Overdue {
			w.add("r.due_at < ? and "+open, now)
		} else {
			w.add("not (r.due_at < ? and "+open+")", now)
		}
	}
	if f.Text != nil && *f.Text != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(*f.Text)) + "%"
		w.add(`(lower(r.description) like ? escape '\' or lower(r.address) like ? escape '\' or r.tracking = ?)`, like, like, strings.ToUpper(*f.Text))
	}
	if !f.IncludeQueued {
		w.add("(r.queued_until is null or r.queued_until <= ?)", now)
	}
	if f.Since != nil {
		w.add("r.received_at >= ?", f.Since.UTC())
	}
	if f.Until != nil {
		w.add("r.received_at < ?", f.Until.UTC())
	}
	// Count and page over the reports table alone (joined to categories
	// only when filtering by them), then load the page's rows in full: a
	// million reports stay cheap to page through.
	from := ` from reports r`
	if f.Sector != nil || f.Category != nil || len(f.Categories) > 0 {
		from += ` join categories c on c.id = r.category_id join sectors s on s.id = c.sector_id`
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*)`+from+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count reports: %w", err)
	}
	idRows, err := d.db.QueryContext(ctx, `select r.id`+from+w.String()+` order by r.received_at desc, r.id desc`+
		d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find reports: %w", err)
	}
	var ids []any
	var ph []string
	for idRows.Next() {
		var id int64
		if err := idRows.Scan(&id); err != nil {
			idRows.Close()
			return nil, 0, fmt.Errorf("find reports: %w", err)
		}
		ids = append(ids, id)
		ph = append(ph, fmt.Sprintf("$%d", len(ids)))
	}
	idRows.Close()
	if err := idRows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find reports: %w", err)
	}
	out := []*cityops.Report{}
	if len(ids) == 0 {
		return out, total, nil
	}
	rows, err := d.db.QueryContext(ctx, `select `+reportCols+reportFrom+` where r.id in (`+strings.Join(ph, ", ")+`)
		order by r.received_at desc, r.id desc`, ids...)
	if err != nil {
		return nil, 0, fmt.Errorf("find reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("find reports: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	// The page's photos, in one query.
	byID := map[int64]*cityops.Report{}
	for _, r := range out {
		byID[r.ID] = r
	}
	prows, err := d.db.QueryContext(ctx, `select report_id, hash, thumb, width, height, kind from report_photos
		where report_id in (`+strings.Join(ph, ", ")+`) order by created_at, hash`, ids...)
	if err != nil {
		return nil, 0, fmt.Errorf("find reports: %w", err)
	}
	defer prows.Close()
	for prows.Next() {
		var id int64
		var p cityops.Photo
		if err := prows.Scan(&id, &p.Hash, &p.Thumb, &p.Width, &p.Height, &p.Kind); err != nil {
			return nil, 0, fmt.Errorf("find reports: %w", err)
		}
		if r := byID[id]; r != nil {
			r.Photos = append(r.Photos, p)
		}
	}
	if err := prows.Err(); err != nil {
		return nil, 0, err
	}
	for i, r := range out {
		if f.WithoutReporter {
			r.ReporterName, r.ReporterPhone, r.ReporterEmail, r.ReporterVisible = "", "", "", false
			if !a.Can(cityops.PermReportsRead) {
				r = r.Public()
			}
			out[i] = r
			continue
		}
		red, err := d.redact(ctx, r)
		if err != nil {
			// One report that does not open must not empty an inbox: its
			// case page shows the error.
			d.Log.Error("reporter data does not open", "report", r.Tracking, "err", err)
		}
		out[i] = red
	}
	d.auditPersonalView(ctx, out...)
	return out, total, nil
}

// supportedReports lists the open reports an agency supports.
func (d *DB) supportedReports(ctx context.Context, agencyID int64) ([]int64, error) {
	ids, err := d.int64s(ctx, `select report_id from report_supports where agency_id = $1 and done_at is null
		order by report_id desc limit 5000`, agencyID)
	if err != nil {
		return nil, fmt.Errorf("supported reports: %w", err)
	}
	return ids, nil
}

// ReportEvents implements cityops.ReportService.
func (d *DB) ReportEvents(ctx context.Context, tracking string) ([]*cityops.Event, error) {
	staff := cityops.ActorFromContext(ctx).Can(cityops.PermReportsRead)
	rows, err := d.db.QueryContext(ctx, `select e.id, e.at, e.actor, e.action, e.from_status, e.to_status, coalesce(g.code, ''),
		e.note, e.internal from report_events e join reports r on r.id = e.report_id left join agencies g on g.id = e.agency_id
		where r.tracking = $1 order by e.id`, strings.ToUpper(tracking))
	if err != nil {
		return nil, fmt.Errorf("report events: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Event{}
	for rows.Next() {
		var e cityops.Event
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.From, &e.To, &e.Agency, &e.Note, &e.Internal); err != nil {
			return nil, fmt.Errorf("report events: %w", err)
		}
		e.At = e.At.UTC()
		if !staff {
			if e.Internal {
				continue
			}
			if strings.HasPrefix(e.Actor, "user:") || strings.HasPrefix(e.Actor, "apikey:") {
				e.Actor = "staff" // staff names are not public
			}
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if _, err := d.FindReportByTracking(ctx, tracking); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SimilarReports implements cityops.ReportService.
func (d *DB) SimilarReports(ctx context.Context, category string, lat, lon float64) ([]*cityops.Report, error) {
	since := d.Now().Add(-d.Reports.DuplicateWindow)
	list, _, err := d.FindReports(cityops.NewContextWithActor(ctx, nil), cityops.ReportFilter{
		Categories: []string{category}, Near: &cityops.Circle{Lat: lat, Lon: lon, Radius: d.Reports.DuplicateRadius},
		Status: cityops.OpenStatuses,
		Since:  &since, IncludeQueued: true, Limit: 20,
	})
	if err != nil {
		return nil, err
	}
	dist := func(r *cityops.Report) float64 {
		k := math.Cos(lat * math.Pi / 180)
		dy, dx := *r.Lat-lat, (*r.Lon-lon)*k
		return dy*dy + dx*dx
	}
	sort.Slice(list, func(i, j int) bool { return dist(list[i]) < dist(list[j]) })
	for i, r := range list {
		list[i] = r.Public()
	}
	return list, nil
}

// PublicEvents implements cityops.ReportService.
func (d *DB) PublicEvents(ctx context.Context, since, until time.Time, limit int) ([]*cityops.Event, error) {
	rows, err := d.db.QueryContext(ctx, `select e.id, r.tracking, e.at, e.action, e.from_status, e.to_status, coalesce(g.code, ''), e.note
		from report_events e join reports r on r.id = e.report_id left join agencies g on g.id = e.agency_id
		where e.at >= $1 and e.at < $2 and not e.internal order by e.at, e.id limit $3`, since.UTC(), until.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("public events: %w", err)
	}
	defer rows.Close()
	out := []*cityops.Event{}
	for rows.Next() {
		e := cityops.Event{Actor: "staff"}
		if err := rows.Scan(&e.ID, &e.Tracking, &e.At, &e.Action, &e.From, &e.To, &e.Agency, &e.Note); err != nil {
			return nil, fmt.Errorf("public events: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

// internalActions are recorded on the timeline for staff only.
var internalActions = map[string]bool{
	cityops.ActComment: true, cityops.ActDecline: true, cityops.ActRequestTransfer: true, cityops.ActDenyTransfer: true,
	cityops.ActRequestExtension: true, cityops.ActApproveExtension: true, cityops.ActDenyExtension: true, cityops.ActAddSupport: true,
	cityops.ActCompleteTask: true,
}

// Act implements cityops.ReportService.
func (d *DB) Act(ctx context.Context, tracking string, act cityops.Action) (*cityops.Report, error) {
	actor := cityops.ActorFromContext(ctx)
	act.Note = strings.TrimSpace(act.Note)
	act.Reason = strings.TrimSpace(act.Reason)
	var out *cityops.Report
	err := d.inTx(ctx, func(tx *Tx) error {
		r, err := scanReport(tx.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.tracking = $1`+d.forUpdate("r"), strings.ToUpper(tracking)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("report", tracking)
		}
		if err != nil {
			return fmt.Errorf("act: %w", err)
		}
		var tokenHash string
		if err := tx.QueryRowContext(ctx, `select citizen_token from reports where id = $1`, r.ID).Scan(&tokenHash); err != nil {
			return fmt.Errorf("act: %w", err)
		}
		if err := loadSupporting(ctx, tx, r); err != nil {
			return err
		}
		parties := partiesOf(actor, r)
		who := actor.Name()
		if act.Token != "" && subtle.ConstantTimeCompare([]byte(auth.HashToken(act.Token)), []byte(tokenHash)) == 1 {
			parties = append(parties, cityops.PartyCitizen)
			who = "citizen"
		}
		to, err := cityops.Transition(r.Status, act.Name, parties...)
		if cityops.ErrorCode(err) == cityops.EFORBIDDEN && actor == nil && act.Token == "" {
			return cityops.Errorf(cityops.EUNAUTHORIZED, "sign in, or give the citizen's token")
		}
		if err != nil {
			return err
		}
		eventAgency := int64(0)
		sets := map[string]any{}
		var v cityops.Validation
		agencyID := func(field string) int64 {
			var id int64
			var active bool
			err := tx.QueryRowContext(ctx, `select id, active from agencies where code = $1`, act.Agency).Scan(&id, &active)
			if act.Agency == "" {
				v.Add(field, "is required")
			} else if err != nil || !active {
				v.Add(field, "unknown or inactive agency %q", act.Agency)
			}
			return id
		}
		note := act.Note
		switch act.Name {
		case cityops.ActAssign:
			id := agencyID("agency")
			sets["agency_id"], sets["transfer_to"] = id, nil
			if act.Urgent != nil && *act.Urgent != r.Urgent {
				// A change of priority moves the deadline: from receipt (or
				// the morning, for a night report) by the category's hours.
				var hoursTimed, hoursUrgent int
				if err := tx.QueryRowContext(ctx, `select hours_timed, hours_urgent from categories where code = $1`, r.Category).
					Scan(&hoursTimed, &hoursUrgent); err != nil {
					return fmt.Errorf("assign: %w", err)
				}
				start := r.ReceivedAt
				if r.QueuedUntil != nil && !*act.Urgent {
					start = *r.QueuedUntil
				}
				sets["urgent"], sets["due_at"] = *act.Urgent, d.deadline(start, *act.Urgent, hoursTimed, hoursUrgent)
				sets["escalation"], sets["warned_at"] = 0, nil
			}
			eventAgency = id
		case cityops.ActResolve:
			v.Check(act.Note != "", "note", "say what was done; the citizen reads it")
			v.Check(len([]rune(act.Note)) <= cityops.MaxDescription, "note", "is longer than %d characters", cityops.MaxDescription)
			sets["resolution"], sets["resolved_at"] = act.Note, tx.now
			if act.Photo != nil && v.Err() == nil {
				if err := addPhoto(ctx, tx, r.ID, *act.Photo, "resolution"); err != nil {
					return err
				}
			}
		case cityops.ActDecline, cityops.ActReject:
			v.Check(act.Reason != "", "reason", "is required")
			note = strings.TrimSpace(act.Reason + "\n" + act.Note)
			if act.Name == cityops.ActDecline {
				sets["agency_id"], sets["transfer_to"], sets["extension_to"] = nil, nil, nil
			} else {
				sets["closed_at"] = tx.now
			}
		case cityops.ActMarkDuplicate:
			var target int64
			var targetDup sql.NullInt64
			err := tx.QueryRowContext(ctx, `select id, duplicate_of from reports where tracking = $1`, strings.ToUpper(act.Target)).Scan(&target, &targetDup)
			switch {
			case act.Target == "":
				v.Add("target", "give the tracking code of the original report")
			case err != nil:
				v.Add("target", "unknown report %q", act.Target)
			case target == r.ID:
				v.Add("target", "a report cannot duplicate itself")
			case targetDup.Valid:
				target = targetDup.Int64 // follow to the original
			}
			sets["duplicate_of"], sets["closed_at"] = target, tx.now
			note = strings.TrimSpace("→ " + strings.ToUpper(act.Target) + " " + act.Note)
		case cityops.ActRequestTransfer:
			id := agencyID("agency")
			v.Check(act.Agency != r.Agency, "agency", "is already the lead agency")
			v.Check(act.Note != "", "note", "give the reason for the transfer")
			sets["transfer_to"] = id
			eventAgency = id
		case cityops.ActApproveTransfer, cityops.ActDenyTransfer:
			if r.TransferTo == "" {
				return cityops.Errorf(cityops.ECONFLICT, "no transfer has been requested")
			}
			if act.Name == cityops.ActApproveTransfer {
				var id int64
				tx.QueryRowContext(ctx, `select id from agencies where code = $1`, r.TransferTo).Scan(&id)
				sets["agency_id"] = id
				eventAgency = id
			}
			sets["transfer_to"] = nil
		case cityops.ActRequestExtension:
			switch {
			case act.Due == nil:
				v.Add("due", "give the new deadline")
			case r.DueAt != nil && !act.Due.After(*r.DueAt):
				v.Add("due", "must be later than the current deadline")
			case !act.Due.After(tx.now):
				v.Add("due", "must be in the future")
			default:
				sets["extension_to"] = act.Due.UTC()
			}
			v.Check(act.Note != "", "note", "give the reason for the extension")
		case cityops.ActApproveExtension, cityops.ActDenyExtension:
			if r.ExtensionTo == nil {
				return cityops.Errorf(cityops.ECONFLICT, "no extension has been requested")
			}
			if act.Name == cityops.ActApproveExtension {
				sets["due_at"] = *r.ExtensionTo
				sets["escalation"], sets["warned_at"] = 0, nil // a new deadline, new warnings
			}
			sets["extension_to"] = nil
		case cityops.ActAddSupport:
			id := agencyID("agency")
			v.Check(act.Agency != r.Agency, "agency", "is the lead agency")
			v.Check(act.Note != "", "note", "describe the supporting agency's task")
			if err := v.Err(); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `insert into report_supports (report_id, agency_id, task, created_at) values ($1, $2, $3, $4)`,
				r.ID, id, act.Note, tx.now)
			if isUnique(err) {
				return cityops.Errorf(cityops.ECONFLICT, "%s already supports this report", act.Agency)
			}
			if err != nil {
				return fmt.Errorf("add support: %w", err)
			}
			eventAgency = id
		case cityops.ActCompleteTask:
			var agency string
			if a := cityops.ActorFromContext(ctx); a != nil && a.User != nil {
				agency = a.User.AgencyCode
			}
			res, err := tx.ExecContext(ctx, `update report_supports set done_at = $1 where report_id = $2 and done_at is null
				and agency_id = (select id from agencies where code = $3)`, tx.now, r.ID, agency)
			if err != nil {
				return fmt.Errorf("complete task: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return cityops.Errorf(cityops.ECONFLICT, "your agency's task on this report is done already")
			}
		case cityops.ActComment:
			v.Check(act.Note != "", "note", "is required")
		case cityops.ActConfirm, cityops.ActAutoClose:
			sets["closed_at"] = tx.now
		case cityops.ActReopen:
			v.Check(act.Note != "", "note", "say what is still wrong")
			if r.ResolvedAt != nil && tx.now.Sub(*r.ResolvedAt) > time.Duration(d.Reports.ReopenDays)*24*time.Hour {
				return cityops.Errorf(cityops.ECONFLICT, "reports can be reopened for %d days after they are resolved", d.Reports.ReopenDays)
			}
			sets["resolved_at"], sets["closed_at"], sets["resolution"] = nil, nil, ""
			if r.Agency == "" {
				to = cityops.StatusReceived
			}
		case cityops.ActRate:
			if r.Rating != nil {
				return cityops.Errorf(cityops.ECONFLICT, "this report has been rated already")
			}
			v.Check(act.Rating >= 1 && act.Rating <= 5, "rating", "must be 1 to 5")
			v.Check(len([]rune(act.Note)) <= 1000, "note", "is longer than 1000 characters")
			sets["rating"], sets["rating_note"] = act.Rating, act.Note
			note = fmt.Sprintf("%d/5 %s", act.Rating, act.Note)
		}
		if err := v.Err(); err != nil {
			return err
		}
		if len([]rune(note)) > cityops.MaxDescription {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"note": "is too long"}}
		}
		sets["status"], sets["updated_at"] = to, tx.now
		var cols []string
		var args []any
		for k, val := range sets {
			args = append(args, val)
			cols = append(cols, fmt.Sprintf("%s = $%d", k, len(args)))
		}
		args = append(args, r.ID)
		if _, err := tx.ExecContext(ctx, `update reports set `+strings.Join(cols, ", ")+fmt.Sprintf(` where id = $%d`, len(args)), args...); err != nil {
			return fmt.Errorf("act %s: %w", act.Name, err)
		}
		internal := internalActions[act.Name]
		if err := addEvent(ctx, tx, r.ID, who, act.Name, r.Status, to, eventAgency, note, internal); err != nil {
			return err
		}
		if err := writeOutbox(ctx, tx, r.ID, "report."+act.Name, note, internal); err != nil {
			return err
		}
		auditActor := actor.AuditName()
		if who == "citizen" {
			auditActor = who
		}
		detail := r.Status + " -> " + to
		if act.Agency != "" {
			detail += " agency=" + act.Agency
		}
		if err := appendAudit(ctx, tx, &cityops.AuditEntry{Actor: auditActor, Source: cityops.SourceFromContext(ctx),
			Action: "report." + act.Name, Object: "report:" + r.Tracking, Outcome: cityops.AuditOK, Detail: detail}); err != nil {
			return err
		}
		r2, err := scanReport(tx.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.id = $1`, r.ID))
		if err != nil {
			return fmt.Errorf("act: %w", err)
		}
		out = r2
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.loadSupporting(ctx, out); err != nil {
		return nil, err
	}
	// The action is done: a reporter that does not open is logged and left
	// out of the answer, not reported as the action's failure.
	out, err = d.redact(ctx, out)
	if err != nil {
		d.Log.Error("reporter data does not open", "report", out.Tracking, "err", err)
	}
	d.auditPersonalView(ctx, out)
	return out, nil
}

// partiesOf returns the workflow parties the actor belongs to for r.
func partiesOf(a *cityops.Actor, r *cityops.Report) []string {
	switch {
	case a == nil:
		return nil
	case a.System:
		return []string{cityops.PartySystem, cityops.PartyCentre, cityops.PartyLead}
	case a.APIKey != nil:
		// An agency's own system acts for that agency.
		var out []string
		if ag := a.APIKey.Agency; ag != "" {
			if ag == r.Agency {
				out = append(out, cityops.PartyLead)
			}
			for _, sp := range r.Supporting {
				if sp.Agency == ag {
					out = append(out, cityops.PartySupport)
				}
			}
		}
		return out
	case a.User == nil || !a.User.Active():
		return nil
	}
	var out []string
	if a.User.Role == cityops.RoleOperator || a.User.Role == cityops.RoleAdmin {
		out = append(out, cityops.PartyCentre)
	}
	if a.User.AgencyCode != "" && a.User.AgencyCode == r.Agency && a.User.Role != cityops.RoleSteering {
		out = append(out, cityops.PartyLead)
	}
	for _, sp := range r.Supporting {
		if a.User.AgencyCode != "" && sp.Agency == a.User.AgencyCode && a.User.Role != cityops.RoleSteering {
			out = append(out, cityops.PartySupport)
		}
	}
	return out
}

// forUpdate locks the selected row in PostgreSQL; SQLite's immediate
// transactions already hold the write lock.
func (d *DB) forUpdate(table string) string {
	if d.dialect == Postgres {
		return " for update of " + table
	}
	return ""
}
