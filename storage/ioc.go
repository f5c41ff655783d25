package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.IOCService = (*DB)(nil)

// IOC limits.
const (
	iocDefaultPeriod = 30 * 24 * time.Hour
	iocDefaultCases  = 2000
	iocMaxCases      = 5000
	iocMaxCells      = 10_000
	iocMinCell       = 0.0005
	iocMaxCell       = 1.0
)

// scope is conditions on reports r, each with '?' for its arguments.
type scope []struct {
	cond string
	args []any
}

func (s *scope) add(cond string, args ...any) {
	*s = append(*s, struct {
		cond string
		args []any
	}{cond, args})
}

// where returns the conditions numbered after fixed, a query's own first
// arguments ($1 … $len(fixed)).
func (s scope) where(fixed ...any) *where {
	w := &where{args: fixed}
	for _, c := range s {
		w.add(c.cond, c.args...)
	}
	return w
}

// iocScope checks that the actor in ctx may see the operations centre's
// figures and returns the conditions on reports r that every figure
// shares: the actor's scope and the filter's sector and area.
//
// Agency staff and agency API keys see the reports their agency leads.
// Unlike the inbox, the reports an agency supports do not count: these are
// handling figures, and a report is handled by its lead agency (counting
// it for its supporters too would count it twice in a breakdown). Ward
// officers without an agency see their area and the areas below it.
func (d *DB) iocScope(ctx context.Context, f cityops.IOCFilter) (scope, error) {
	if err := authorize(ctx, cityops.PermIOC); err != nil {
		return nil, err
	}
	var w scope
	var agency, area *string
	a := cityops.ActorFromContext(ctx)
	switch {
	case a.APIKey != nil && a.APIKey.Agency != "":
		agency = &a.APIKey.Agency
	case a.User != nil:
		switch a.User.Role {
		case cityops.RoleAgencyOfficer, cityops.RoleAgencyHead:
			agency = &a.User.AgencyCode
		case cityops.RoleWardOfficer:
			if a.User.AgencyCode != "" {
				agency = &a.User.AgencyCode
			} else {
				area = &a.User.AreaCode
			}
		}
	}
	if agency != nil {
		var id int64 // 0 for an unknown agency: no report matches
		err := d.db.QueryRowContext(ctx, `select id from agencies where code = $1`, *agency).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("ioc scope: %w", err)
		}
		w.add("r.agency_id = ?", id)
	}
	if area != nil {
		ids, _, err := d.areaSubtree(ctx, *area)
		if err != nil {
			return nil, err
		}
		w.in("r.area_id", ids)
	}
	if f.Sector != "" {
		var sector int64
		err := d.db.QueryRowContext(ctx, `select id from sectors where code = $1`, f.Sector).Scan(&sector)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"sector": fmt.Sprintf("unknown sector %q", f.Sector)}}
		}
		if err != nil {
			return nil, fmt.Errorf("ioc sector: %w", err)
		}
		// The sector's categories, so that no report needs a join.
		ids, err := d.ids(ctx, `select id from categories where sector_id = $1 order by id`, sector)
		if err != nil {
			return nil, fmt.Errorf("ioc sector: %w", err)
		}
		w.in("r.category_id", ids)
	}
	if f.Area != "" {
		ids, found, err := d.areaSubtree(ctx, f.Area)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"area": fmt.Sprintf("unknown area %q", f.Area)}}
		}
		w.in("r.area_id", ids)
	}
	return w, nil
}

// areaSubtree returns the ids of the area with the code and of every area
// below it; found is false for an unknown code.
func (d *DB) areaSubtree(ctx context.Context, code string) (ids []int64, found bool, err error) {
	ids, err = d.ids(ctx, `with recursive sub(id) as (select id from areas where code = $1
		union all select a2.id from areas a2 join sub on a2.parent_id = sub.id) select id from sub order by id`, code)
	if err != nil {
		return nil, false, fmt.Errorf("area %s: %w", code, err)
	}
	return ids, len(ids) > 0, nil
}

// ids runs a query of one integer column.
func (d *DB) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// in adds "col in (...)"; an empty list matches nothing.
func (w *scope) in(col string, ids []int64) {
	if len(ids) == 0 {
		w.add("1 = 0")
		return
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = "?", id
	}
	w.add(col+" in ("+strings.Join(ph, ", ")+")", args...)
}

// and returns w's conditions as " and …" to append to a query's own.
func and(w *where) string {
	if len(w.conds) == 0 {
		return ""
	}
	return " and " + strings.Join(w.conds, " and ")
}

// iocPeriod returns the filter's period: [Since, Until), Until now and
// Since 30 days before Until when zero.
func (d *DB) iocPeriod(f cityops.IOCFilter, now time.Time) (since, until time.Time, err error) {
	until, since = f.Until, f.Since
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		since = until.Add(-iocDefaultPeriod)
	}
	if !until.After(since) {
		return since, until, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"until": "must be after since"}}
	}
	return since.UTC(), until.UTC(), nil
}

// today returns the bounds of the local day of now in the city's zone.
func (d *DB) today(now time.Time) (start, end time.Time) {
	l := now.In(d.Reports.Zone)
	start = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, d.Reports.Zone)
	end = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, d.Reports.Zone)
	return start.UTC(), end.UTC()
}

// handling accumulates one group's figures; tenths is the histogram of
// resolution times in tenths of an hour.
type handling struct {
	cityops.HandlingSummary
	ratingSum int64
	tenths    map[int64]int
}

func (h *handling) finish() {
	if h.Resolved > 0 {
		h.OnTimeRate = float64(h.OnTime) / float64(h.Resolved)
		h.MedianHours = medianTenths(h.tenths, h.Resolved) / 10
	}
	if h.Ratings > 0 {
		h.AvgRating = float64(h.ratingSum) / float64(h.Ratings)
	}
}

// medianTenths returns the median of n values given as a histogram of
// whole tenths, rounded to a whole tenth.
func medianTenths(hist map[int64]int, n int) float64 {
	keys := make([]int64, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	// The values at 1-based positions lo and hi: the same one when n is odd.
	lo, hi := (n+1)/2, n/2+1
	var vlo, vhi int64
	seen := 0
	for _, k := range keys {
		before := seen
		seen += hist[k]
		if before < lo && lo <= seen {
			vlo = k
		}
		if before < hi && hi <= seen {
			vhi = k
			break
		}
	}
	return math.Round(float64(vlo+vhi) / 2)
}

// handlingBy computes the handling figures grouped by key, an SQL
// expression over reports r (and categories c when join adds them); "0"
// gives one group, 0.
func (d *DB) handlingBy(ctx context.Context, f cityops.IOCFilter, key, join string) (map[int64]*handling, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	now := d.Now().UTC()
	since, until, err := d.iocPeriod(f, now)
	if err != nil {
		return nil, err
	}
	out := map[int64]*handling{}
	group := func(k sql.NullInt64) *handling {
		h := out[k.Int64]
		if h == nil {
			h = &handling{tenths: map[int64]int{}}
			out[k.Int64] = h
		}
		return h
	}

	w := sc.where(since, until)
	q := d.query("ioc_handling", map[string]string{"key": key, "join": join, "scope": and(w),
		"hours": d.hoursBetween("r.received_at", "r.resolved_at")})
	rows, err := d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("handling: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, tenths sql.NullInt64
		var n, onTime, ratings int
		var ratingSum int64
		if err := rows.Scan(&k, &tenths, &n, &onTime, &ratingSum, &ratings); err != nil {
			return nil, fmt.Errorf("handling: %w", err)
		}
		h := group(k)
		h.Received += n
		h.OnTime += onTime
		h.ratingSum += ratingSum
		h.Ratings += ratings
		if tenths.Valid {
			h.Resolved += n
			h.tenths[tenths.Int64] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("handling: %w", err)
	}
	rows.Close()

	start, end := d.today(now)
	w = sc.where(start, end, now)
	q = d.query("ioc_now", map[string]string{"key": key, "join": join, "scope": and(w)})
	rows, err = d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("handling today: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var part string
		var k sql.NullInt64
		var n, overdue int
		if err := rows.Scan(&part, &k, &n, &overdue); err != nil {
			return nil, fmt.Errorf("handling today: %w", err)
		}
		h := group(k)
		switch part {
		case "received":
			h.ReceivedToday = n
		case "resolved":
			h.ResolvedToday = n
		case "open":
			h.OpenNow, h.OverdueNow = n, overdue
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("handling today: %w", err)
	}
	for _, h := range out {
		h.finish()
	}
	return out, nil
}

// HandlingSummary implements cityops.IOCService.
func (d *DB) HandlingSummary(ctx context.Context, f cityops.IOCFilter) (*cityops.HandlingSummary, error) {
	groups, err := d.handlingBy(ctx, f, "0", "")
	if err != nil {
		return nil, err
	}
	if h := groups[0]; h != nil {
		return &h.HandlingSummary, nil
	}
	return &cityops.HandlingSummary{}, nil
}

// HandlingBreakdown implements cityops.IOCService. Rows are ranked by
// on-time rate, then median hours, then the number resolved; rows equal
// on all three share a rank (1, 2, 2, 4), and rows with nothing resolved
// come last with rank 0, the busiest first.
func (d *DB) HandlingBreakdown(ctx context.Context, by string, f cityops.IOCFilter) ([]*cityops.HandlingRow, error) {
	if err := authorize(ctx, cityops.PermIOC); err != nil {
		return nil, err
	}
	var key, join, codes string
	switch by {
	case cityops.ByAgency:
		key, codes = "r.agency_id", `select id, code from agencies`
	case cityops.ByArea:
		key, codes = "r.area_id", `select id, code from areas`
	case cityops.BySector:
		key, join, codes = "c.sector_id", " join categories c on c.id = r.category_id", `select id, code from sectors`
	default:
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"by": "must be agency, area or sector"}}
	}
	groups, err := d.handlingBy(ctx, f, key, join)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	rows, err := d.db.QueryContext(ctx, codes)
	if err != nil {
		return nil, fmt.Errorf("handling breakdown: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var code string
		if err := rows.Scan(&id, &code); err != nil {
			return nil, fmt.Errorf("handling breakdown: %w", err)
		}
		names[id] = code
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("handling breakdown: %w", err)
	}
	out := make([]*cityops.HandlingRow, 0, len(groups))
	for id, h := range groups {
		out = append(out, &cityops.HandlingRow{Key: names[id], HandlingSummary: h.HandlingSummary})
	}
	better := func(a, b *cityops.HandlingRow) int { // < 0 when a ranks above b
		switch {
		case a.OnTimeRate != b.OnTimeRate:
			return cmpDesc(a.OnTimeRate, b.OnTimeRate)
		case a.MedianHours != b.MedianHours:
			return -cmpDesc(a.MedianHours, b.MedianHours)
		}
		return cmpDesc(float64(a.Resolved), float64(b.Resolved))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Resolved > 0) != (b.Resolved > 0) {
			return a.Resolved > 0
		}
		if a.Resolved > 0 {
			if c := better(a, b); c != 0 {
				return c < 0
			}
		} else if a.Received != b.Received {
			return a.Received > b.Received
		}
		return a.Key < b.Key
	})
	for i, r := range out {
		switch {
		case r.Resolved == 0:
		case i > 0 && better(out[i-1], r) == 0:
			r.Rank = out[i-1].Rank
		default:
			r.Rank = i + 1
		}
	}
	return out, nil
}

// cmpDesc orders a before b when a is larger.
func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// OpenCases implements cityops.IOCService. The filter's period does not
// apply: these are the cases open now. A limit of 0 means 2,000; more
// than 5,000 is EINVALID.
func (d *DB) OpenCases(ctx context.Context, f cityops.IOCFilter, limit int) ([]*cityops.CasePoint, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = iocDefaultCases
	}
	if limit < 0 || limit > iocMaxCases {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"limit": fmt.Sprintf("must be 1 to %d", iocMaxCases)}}
	}
	now := d.Now().UTC()
	w := sc.where()
	q := d.query("ioc_open_cases", map[string]string{"scope": and(w), "limit": strconv.Itoa(limit)})
	rows, err := d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("open cases: %w", err)
	}
	defer rows.Close()
	out := []*cityops.CasePoint{}
	for rows.Next() {
		var c cityops.CasePoint
		var due sql.Null[time.Time]
		if err := rows.Scan(&c.Tracking, &c.Lat, &c.Lon, &c.Status, &c.Category, &c.Sector, &c.Agency, &c.Urgent,
			&due, &c.ReceivedAt); err != nil {
			return nil, fmt.Errorf("open cases: %w", err)
		}
		c.DueAt, c.ReceivedAt = nullTime(due), c.ReceivedAt.UTC()
		c.Overdue = c.DueAt != nil && c.DueAt.Before(now)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// ReportHeat implements cityops.IOCService: at most 10,000 cells, the
// busiest first. A cell must be 0.0005 to 1 degree (EINVALID otherwise).
func (d *DB) ReportHeat(ctx context.Context, f cityops.IOCFilter, cell float64) ([]cityops.HeatCell, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	if !(cell >= iocMinCell && cell <= iocMaxCell) { // also refuses NaN
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"cell": fmt.Sprintf("must be %g to %g degrees", iocMinCell, iocMaxCell)}}
	}
	since, until, err := d.iocPeriod(f, d.Now().UTC())
	if err != nil {
		return nil, err
	}
	w := sc.where(since, until, cell)
	q := d.query("ioc_heat", map[string]string{"scope": and(w), "limit": strconv.Itoa(iocMaxCells)})
	rows, err := d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("report heat: %w", err)
	}
	defer rows.Close()
	out := []cityops.HeatCell{}
	for rows.Next() {
		var y, x float64
		var n int
		if err := rows.Scan(&y, &x, &n); err != nil {
			return nil, fmt.Errorf("report heat: %w", err)
		}
		out = append(out, cityops.HeatCell{Lat: (y + 0.5) * cell, Lon: (x + 0.5) * cell, Count: n})
	}
	return out, rows.Err()
}
