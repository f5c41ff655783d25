package main

// The dashboard scenario's cases and alarms, written straight into the
// database while cityops is stopped: a few INSERT … SELECT statements
// over a generated sequence, every value a function of the row number (a
// multiplicative hash), so that two runs seed the same history. Only the
// sequence and the timestamp functions differ between the dialects.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/simulate"
	"github.com/cityops/cityops/storage"
)

// seedChunk is how many rows one statement (one transaction) inserts.
const seedChunk = 100_000

// maxOpenAlarms bounds the open alarms among those seeded: an operations
// centre sees tens to hundreds at a time.
const maxOpenAlarms = 200

// dialectSQL is what differs between SQLite and PostgreSQL here.
type dialectSQL struct {
	// seq is the start of a statement that makes rows i = $2+1 … $2+$1
	// available as "seq", before the insert (SQLite) or as a from item
	// (PostgreSQL).
	prefix, from string
	// ts turns unix seconds into a timestamp as cityops stores it.
	ts func(secs string) string
}

func dialectOf(db *storage.DB) dialectSQL {
	if db.Dialect() == storage.Postgres {
		return dialectSQL{
			from: `generate_series(cast($2 as bigint) + 1, cast($2 as bigint) + $1) as seq(i)`,
			ts:   func(x string) string { return "to_timestamp(" + x + ")" },
		}
	}
	// What modernc.org/sqlite writes for a UTC time.Time with
	// _time_format=sqlite, so that text comparisons with the times cityops
	// passes as arguments order correctly.
	return dialectSQL{
		prefix: `with recursive seq(i) as (select $2 + 1 union all select i + 1 from seq where i < $2 + $1) `,
		from:   `seq`,
		ts:     func(x string) string { return "strftime('%Y-%m-%d %H:%M:%S+00:00', " + x + ", 'unixepoch')" },
	}
}

// hash is a well-spread number in [0, 2^20) for row i, one per salt (a
// multiplicative hash: the high bits of i·salt mod 2^32).
func hash(salt uint32) string {
	return fmt.Sprintf("((i * %d) %% 4294967296) / 4096", salt)
}

// pick is an SQL expression choosing one of ids by h mod len(ids).
func pick(h string, ids []int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "case (%s) %% %d", h, len(ids))
	for i, id := range ids {
		fmt.Fprintf(&b, " when %d then %d", i, id)
	}
	b.WriteString(" end")
	return b.String()
}

// idsOf reads one column of integers.
func idsOf(ctx context.Context, db *storage.DB, q string) ([]int64, error) {
	rows, err := db.SQL().QueryContext(ctx, q)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: none (the demo data is missing)", q)
	}
	return out, nil
}

// casesSQL inserts reports $2+1 … $2+$1 of a year's history ending at $3
// (unix seconds), report i received $4·(i-1) seconds before $3. Of them:
// 2% rejected, 1% duplicates, 12% still open (a backlog, most of it past
// its deadline) and the rest resolved after 0.5 to 100 hours (a quarter of
// them after 50), closed a week after resolution, 30% rated 1 to 5; a
// report whose resolution would lie in the future is open too. One in ten
// is urgent (8 working hours instead of 72); 3% have no point; points lie
// in Huế (16.3–16.6 N, 107.4–107.8 E). Category, area and agency are
// drawn from the demo's; received reports have no agency yet. The open
// ones are warned of and escalated as the deadline timers would have
// done (4 hours before, at and a day after the deadline), so that
// cityops starts with no backlog of timer work.
func casesSQL(d dialectSQL, cats, areas, agencies []int64) string {
	ts := d.ts
	// Inner: the row's hashes and age; middle: its state (0 rejected, 1
	// duplicate, 2 open, 3 resolved, 4 closed); outer: the columns.
	inner := fmt.Sprintf(`select i, cast((i - 1) * cast($4 as double precision) as bigint) as age, %s as h1, %s as h2, %s as h3, %s as h4, %s as h5, %s as h6, %s as h7, %s as h8
		from %s`, hash(2654435761), hash(2246822519), hash(3266489917), hash(668265263), hash(374761393), hash(2870177450),
		hash(1181783497), hash(3431928733), d.from)
	middle := `select i, age, h2, h3, h4, h6, h7, h8, (h5 / 1024) % 4 as oi,
			1800 + ((h5 % 1000) * (h5 % 1000) * 36) / 100 as hs,
			case when h6 % 10 = 0 then 28800 else 259200 end as ds,
			case when h1 % 1000 < 20 then 0 when h1 % 1000 < 30 then 1
				when h1 % 1000 < 150 or age < 1800 + ((h5 % 1000) * (h5 % 1000) * 36) / 100 then 2
				when age < 1800 + ((h5 % 1000) * (h5 % 1000) * 36) / 100 + 604800 then 3 else 4 end as st
		from (` + inner + `) as a`
	return d.prefix + `insert into reports (tracking, category_id, description, lat, lon, address, area_id, channel, urgent,
			status, agency_id, due_at, received_at, updated_at, resolved_at, closed_at, rating, citizen_token, warned_at, escalation)
		select 'L' || i, ` + pick("h2", cats) + `, 'seeded report',
			case when (h8 / 40000) % 100 < 3 then null else 16.3 + (h7 % 30000) / 100000.0 end,
			case when (h8 / 40000) % 100 < 3 then null else 107.4 + (h8 % 40000) / 100000.0 end,
			'', ` + pick("h3", areas) + `, 'web', h6 % 10 = 0,
			case st when 0 then 'rejected' when 1 then 'duplicate' when 3 then 'resolved' when 4 then 'closed'
				else case oi when 0 then 'received' when 1 then 'assigned' when 2 then 'accepted' else 'in_progress' end end,
			case when st = 2 and oi = 0 then null else ` + pick("h4", agencies) + ` end,
			` + ts("$3 - age + ds") + `,
			` + ts("$3 - age") + `,
			case st when 0 then ` + ts("$3 - age + 3600") + ` when 1 then ` + ts("$3 - age + 3600") + `
				when 2 then ` + ts("$3 - age") + ` when 3 then ` + ts("$3 - age + hs") + ` else ` + ts("$3 - age + hs + 604800") + ` end,
			case when st >= 3 then ` + ts("$3 - age + hs") + ` end,
			case st when 0 then ` + ts("$3 - age + 3600") + ` when 4 then ` + ts("$3 - age + hs + 604800") + ` end,
			case when st >= 3 and (h6 / 16) % 10 < 3 then 1 + (h6 / 256) % 5 end,
			'x',
			case when st = 2 and age + 14400 >= ds then ` + ts("$3 - age + ds - 14400") + ` end,
			case when st = 2 and age >= ds + 86400 then 2 when st = 2 and age >= ds then 1 else 0 end
		from (` + middle + `) as b`
}

// alarmSite is a sensor an alarm is seeded on.
type alarmSite struct {
	id, typ, sector string
	lat, lon        float64
}

// alarmsSQL inserts alarms $2+1 … $2+$1 raised over the year before $3,
// alarm i $4·(i-1) seconds before; the first $5 (the newest) are open,
// each of its own rule, so that at most one alarm per rule and entity is
// open; the others were cleared after 10 minutes to 10 hours. Each is on
// one of the demo's sensors, with its point.
func alarmsSQL(d dialectSQL, sites []alarmSite) string {
	pickText := func(h string, f func(alarmSite) string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "case (%s) %% %d", h, len(sites))
		for i, s := range sites {
			fmt.Fprintf(&b, " when %d then '%s'", i, strings.ReplaceAll(f(s), "'", "''"))
		}
		b.WriteString(" end")
		return b.String()
	}
	pickNum := func(h string, f func(alarmSite) float64) string {
		var b strings.Builder
		fmt.Fprintf(&b, "case (%s) %% %d", h, len(sites))
		for i, s := range sites {
			fmt.Fprintf(&b, " when %d then %g", i, f(s))
		}
		b.WriteString(" end")
		return b.String()
	}
	h := hash(2654435761)
	ts := d.ts
	return d.prefix + `insert into alarms (rule_code, rule_name, sector, severity, status, entity_id, entity_type, attr, value, message,
			count, lat, lon, raised_at, updated_at, cleared_at, cleared_by)
		select case when i <= $5 then 'seeded-open-' || i else 'seeded-' || (i % 17) end, 'Seeded alarm',
			` + pickText(h, func(s alarmSite) string { return s.sector }) + `,
			case i % 4 when 0 then 'critical' when 1 then 'major' when 2 then 'minor' else 'warning' end,
			case when i <= $5 then 'active' else 'cleared' end,
			` + pickText(h, func(s alarmSite) string { return s.id }) + `,
			` + pickText(h, func(s alarmSite) string { return s.typ }) + `,
			'', 1.5 * (i % 100), 'seeded alarm', 1 + i % 3,
			` + pickNum(h, func(s alarmSite) float64 { return s.lat }) + `,
			` + pickNum(h, func(s alarmSite) float64 { return s.lon }) + `,
			` + ts("$3 - cast((i - 1) * cast($4 as double precision) as bigint)") + `,
			` + ts("$3 - cast((i - 1) * cast($4 as double precision) as bigint) + 600 + (i % 60) * 600") + `,
			case when i <= $5 then null else ` + ts("$3 - cast((i - 1) * cast($4 as double precision) as bigint) + 600 + (i % 60) * 600") + ` end,
			case when i <= $5 then '' else 'system' end
		from ` + d.from
}

// seedStats describes what was seeded.
type seedStats struct {
	cases, open, overdue, resolved, rejected, rated, inPeriod int64
	alarms, openAlarms                                        int64
	took, analyze                                             time.Duration
}

// seed writes cases and alarms into the stopped server's database and
// analyzes the tables, printing progress.
func (s *session) seed(ctx context.Context, cases int64, alarms int) (*seedStats, error) {
	db, err := s.openDB(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	d := dialectOf(db)
	cats, err := idsOf(ctx, db, `select id from categories order by id`)
	if err != nil {
		return nil, err
	}
	areas, err := idsOf(ctx, db, `select id from areas order by id`)
	if err != nil {
		return nil, err
	}
	agencies, err := idsOf(ctx, db, `select id from agencies order by id`)
	if err != nil {
		return nil, err
	}
	st := &seedStats{}
	t0 := time.Now()
	now := t0.Unix()
	year := 365 * 24 * 3600.0
	q := casesSQL(d, cats, areas, agencies)
	for done := int64(0); done < cases; done += seedChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(seedChunk, cases-done)
		if _, err := db.SQL().ExecContext(ctx, q, n, done, now, year/float64(cases)); err != nil {
			return nil, fmt.Errorf("seed cases %d–%d: %w", done+1, done+n, err)
		}
		s.r.progress("dashboard: %s of %s cases seeded", thousands(done+n), thousands(cases))
	}
	if alarms > 0 {
		var sites []alarmSite
		for _, x := range simulate.HueSites() {
			if x.Type != simulate.TypeKeyPerformanceIndicator {
				sites = append(sites, alarmSite{x.EntityID(), jsonld.Core().ExpandTerm(x.Type), x.Sector, x.Lat, x.Lon})
			}
		}
		open := min(maxOpenAlarms, alarms/2)
		q := alarmsSQL(d, sites)
		for done := 0; done < alarms; done += seedChunk {
			n := min(seedChunk, alarms-done)
			if _, err := db.SQL().ExecContext(ctx, q, n, done, now, year/float64(alarms), open); err != nil {
				return nil, fmt.Errorf("seed alarms: %w", err)
			}
		}
	}
	st.took = time.Since(t0)
	s.r.progress("dashboard: analyzing the seeded tables")
	t1 := time.Now()
	analyze := []string{`analyze reports`, `analyze alarms`}
	if db.Dialect() == storage.Postgres {
		analyze = []string{`vacuum analyze reports, alarms`} // index-only scans need the visibility map
	}
	for _, a := range analyze {
		if _, err := db.SQL().ExecContext(ctx, a); err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
	}
	st.analyze = time.Since(t1)

	// What the history looks like, as the dashboard will count it.
	since := time.Unix(now, 0).UTC().Add(-30 * 24 * time.Hour)
	err = db.SQL().QueryRowContext(ctx, `select count(*),
			sum(case when status in ('received', 'assigned', 'accepted', 'in_progress') then 1 else 0 end),
			sum(case when status in ('received', 'assigned', 'accepted', 'in_progress') and due_at < $1 then 1 else 0 end),
			sum(case when status in ('resolved', 'closed') then 1 else 0 end),
			sum(case when status in ('rejected', 'duplicate') then 1 else 0 end),
			count(rating),
			sum(case when received_at >= $2 then 1 else 0 end)
		from reports`, time.Unix(now, 0).UTC(), since).
		Scan(&st.cases, &st.open, &st.overdue, &st.resolved, &st.rejected, &st.rated, &st.inPeriod)
	if err != nil {
		return nil, fmt.Errorf("count the cases: %w", err)
	}
	if err := db.SQL().QueryRowContext(ctx, `select count(*), coalesce(sum(case when status <> 'cleared' then 1 else 0 end), 0) from alarms`).
		Scan(&st.alarms, &st.openAlarms); err != nil {
		return nil, fmt.Errorf("count the alarms: %w", err)
	}
	return st, nil
}
