package storage

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.KPIService = (*DB)(nil)

// UrgentResponse implements cityops.KPIService: the minutes from receipt
// to the first acceptance of each urgent report received in the period.
// Urgent reports are few (a city's emergencies), so the minutes are read
// and their quantiles taken here.
func (d *DB) UrgentResponse(ctx context.Context, f cityops.IOCFilter) (*cityops.ResponseTime, error) {
	if err := authorize(ctx, cityops.PermIOC); err != nil {
		return nil, err
	}
	if f.Until.IsZero() {
		f.Until = d.Now()
	}
	if f.Since.IsZero() {
		f.Since = f.Until.AddDate(0, 0, -30)
	}
	var w where
	w.add("r.urgent = ?", true)
	w.add("r.received_at >= ? and r.received_at < ?", f.Since.UTC(), f.Until.UTC())
	w.add("r.status not in ('rejected', 'duplicate')")
	if f.Sector != "" {
		w.add("r.category_id in (select c.id from categories c join sectors s on s.id = c.sector_id where s.code = ?)", f.Sector)
	}
	if f.Area != "" {
		w.add(`r.area_id in (`+areaSubtreeSQL+`)`, f.Area)
	}
	if a := cityops.ActorFromContext(ctx); a != nil && a.User != nil && a.User.Role == cityops.RoleAgencyHead {
		w.add("r.agency_id = (select id from agencies where code = ?)", a.User.AgencyCode)
	}
	// Every acceptance, the first per report kept here: an aggregate over
	// a time column loses its type on SQLite.
	q := `select r.id, r.received_at, e.at from reports r join report_events e on e.report_id = r.id and e.action = 'accept'` +
		w.String() + ` order by r.id, e.at`
	rows, err := d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("urgent response: %w", err)
	}
	defer rows.Close()
	var mins []float64
	var last int64
	for rows.Next() {
		var id int64
		var received, accepted time.Time
		if err := rows.Scan(&id, &received, &accepted); err != nil {
			return nil, fmt.Errorf("urgent response: %w", err)
		}
		if id != last {
			mins = append(mins, accepted.Sub(received).Minutes())
			last = id
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("urgent response: %w", err)
	}
	out := &cityops.ResponseTime{Reports: len(mins)}
	if len(mins) > 0 {
		sort.Float64s(mins)
		q := func(p float64) float64 {
			return math.Round(mins[int(math.Ceil(p*float64(len(mins))))-1]*10) / 10
		}
		out.MedianMinutes, out.P90Minutes = q(0.5), q(0.9)
	}
	return out, nil
}
