package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

//go:embed query/*.sql
var queries embed.FS

// query returns an embedded report query with its dialect parts filled in.
func (d *DB) query(name string, parts map[string]string) string {
	b, err := queries.ReadFile("query/" + name + ".sql")
	if err != nil {
		panic(err) // embedded at build time: a missing file is a bug
	}
	s := string(b)
	for k, v := range parts {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

// hoursBetween is the SQL for the hours from a to b.
func (d *DB) hoursBetween(a, b string) string {
	if d.dialect == Postgres {
		return fmt.Sprintf("extract(epoch from (%s - %s)) / 3600.0", b, a)
	}
	return fmt.Sprintf("(julianday(%s) - julianday(%s)) * 24.0", b, a)
}

var _ cityops.StatsService = (*DB)(nil)

// HandlingStats implements cityops.StatsService.
func (d *DB) HandlingStats(ctx context.Context, by string, since, until time.Time) ([]*cityops.HandlingStat, error) {
	group := map[string]string{cityops.ByAgency: "coalesce(g.code, '')", cityops.ByArea: "coalesce(a.code, '')", cityops.BySector: "s.code"}[by]
	if group == "" {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"by": "must be agency, area or sector"}}
	}
	if !until.After(since) {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"until": "must be after since"}}
	}
	q := d.query("handling_stats", map[string]string{"group": group, "hours": d.hoursBetween("r.received_at", "r.resolved_at")})
	rows, err := d.db.QueryContext(ctx, q, since.UTC(), until.UTC(), d.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("handling stats: %w", err)
	}
	defer rows.Close()
	out := []*cityops.HandlingStat{}
	for rows.Next() {
		var s cityops.HandlingStat
		var hours, rating sql.NullFloat64
		if err := rows.Scan(&s.Key, &s.Received, &s.Resolved, &s.OnTime, &s.Overdue, &hours, &rating, &s.Ratings); err != nil {
			return nil, fmt.Errorf("handling stats: %w", err)
		}
		s.AvgHours, s.AvgRating = hours.Float64, rating.Float64
		out = append(out, &s)
	}
	return out, rows.Err()
}
