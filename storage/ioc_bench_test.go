package storage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// seedIOC fills the reports table with n reports received over the past
// year, one every 365 days / n in id order, shaped like the load test's
// (cmd/cityops-iocload): 2% rejected, 1% duplicates, 12% still open (a
// backlog, most of it past its deadline), the rest resolved 0.5 to 100
// hours after receipt (a quarter after more than 50), closed a week later
// and 30% of them rated; a report whose resolution would lie in the future
// is open too. One in ten is urgent (due in 8 hours instead of 72), 3%
// have no point. seedReports, for the inbox, sets no resolution times and
// puts every report at one point.
func seedIOC(b *testing.B, db *storage.DB, n int) {
	b.Helper()
	ids := func(q string) []int64 {
		rows, err := db.SQL().Query(q)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out = append(out, id)
		}
		return out
	}
	cats, areas, agencies := ids(`select id from categories order by id`), ids(`select id from areas order by id`), ids(`select id from agencies order by id`)
	const cols = 17
	const batch = 20 // statements of hundreds of rows are several times slower in modernc's SQLite
	var sb strings.Builder
	sb.WriteString(`insert into reports (tracking, category_id, description, lat, lon, area_id, channel, urgent, status,
		agency_id, due_at, received_at, updated_at, resolved_at, closed_at, rating, citizen_token) values `)
	for r := range batch {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(")
		for c := range cols {
			if c > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "$%d", r*cols+c+1)
		}
		sb.WriteString(")")
	}
	insert := sb.String()

	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Now().UTC().Truncate(time.Microsecond)
	start := now.Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / time.Duration(n)
	tx, err := db.SQL().Begin()
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, batch*cols)
	for i := range n {
		received := start.Add(time.Duration(i) * step)
		urgent := rng.IntN(10) == 0
		due := received.Add(72 * time.Hour)
		if urgent {
			due = received.Add(8 * time.Hour)
		}
		var lat, lon, resolved, closed, rating any
		if rng.IntN(100) >= 3 {
			lat, lon = 16.3+rng.Float64()*0.3, 107.4+rng.Float64()*0.4
		}
		updated := received
		agency := any(agencies[rng.IntN(len(agencies))])
		u := rng.Float64()
		at := received.Add(time.Duration((0.5 + 99.5*u*u) * float64(time.Hour)))
		var status string
		switch k := rng.IntN(1000); {
		case k < 20:
			status, closed, updated = cityops.StatusRejected, received.Add(time.Hour), received.Add(time.Hour)
		case k < 30:
			status, updated = cityops.StatusDuplicate, received.Add(time.Hour)
		case k < 150 || at.After(now): // the backlog, or not done yet
			status = []string{cityops.StatusReceived, cityops.StatusAssigned, cityops.StatusAccepted, cityops.StatusInProgress}[rng.IntN(4)]
			if status == cityops.StatusReceived {
				agency = nil
			}
		default:
			status, resolved, updated = cityops.StatusResolved, at, at
			if c := at.Add(7 * 24 * time.Hour); c.Before(now) {
				status, closed, updated = cityops.StatusClosed, c, c
			}
			if rng.IntN(10) < 3 {
				rating = 1 + rng.IntN(5)
			}
		}
		args = append(args, fmt.Sprintf("B%08d", i), cats[rng.IntN(len(cats))], "seeded report", lat, lon,
			areas[rng.IntN(len(areas))], "web", urgent, status, agency, due, received, updated, resolved, closed, rating, "x")
		if len(args) == batch*cols || i == n-1 {
			q := insert
			if len(args) < batch*cols { // the last, short batch
				q = insert[:strings.Index(insert, fmt.Sprintf(", ($%d,", len(args)+1))]
			}
			if _, err := tx.Exec(q, args...); err != nil {
				b.Fatalf("seed: %v", err)
			}
			args = args[:0]
		}
		if (i+1)%100_000 == 0 {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			if tx, err = db.SQL().Begin(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	analyze := `analyze`
	if db.Dialect() == storage.Postgres {
		analyze = `vacuum analyze reports` // index-only scans need the visibility map
	}
	if _, err := db.SQL().Exec(analyze); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}

// BenchmarkIOC runs each operations-centre figure over a 30-day period
// among CITYOPS_BENCH_REPORTS reports (default 1,000,000) received over a
// year. It reports the 95th-percentile latency as p95-ms.
func BenchmarkIOC(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("CITYOPS_BENCH_REPORTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, dialect := range storagetest.Dialects() {
		b.Run(fmt.Sprintf("%s/%d", dialect, n), func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			loadDemo(b, db)
			seeded := time.Now()
			seedIOC(b, db, n)
			b.Logf("seeded %d reports in %v", n, time.Since(seeded).Round(time.Second))
			benchIOC(b, db, time.Now())
		})
	}
}

// benchIOC runs the figures over the 30 days before now as sub-benchmarks.
func benchIOC(b *testing.B, db *storage.DB, now time.Time) {
	period := cityops.IOCFilter{Since: now.Add(-30 * 24 * time.Hour), Until: now}
	ward := period
	ward.Area = "P10"
	sector := period
	sector.Sector = "environment"
	centre := sys()
	head := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: &cityops.User{ID: 1,
		Email: "head@hue.gov.vn", Role: cityops.RoleAgencyHead, AgencyCode: "HEPCO"}})
	summary := func(ctx context.Context, f cityops.IOCFilter) func() (int, error) {
		return func() (int, error) {
			s, err := db.HandlingSummary(ctx, f)
			if err != nil {
				return 0, err
			}
			return s.Received, nil
		}
	}
	for _, bm := range []struct {
		name string
		run  func() (int, error)
	}{
		{"summary", summary(centre, period)},
		{"summary/area", summary(centre, ward)},
		{"summary/sector", summary(centre, sector)},
		{"summary/agency-head", summary(head, period)},
		{"breakdown/agency", func() (int, error) {
			r, err := db.HandlingBreakdown(centre, cityops.ByAgency, period)
			return len(r), err
		}},
		{"breakdown/area", func() (int, error) {
			r, err := db.HandlingBreakdown(centre, cityops.ByArea, period)
			return len(r), err
		}},
		{"breakdown/sector", func() (int, error) {
			r, err := db.HandlingBreakdown(centre, cityops.BySector, period)
			return len(r), err
		}},
		{"open-cases", func() (int, error) { c, err := db.OpenCases(centre, period, 0); return len(c), err }},
		{"open-cases/agency-head", func() (int, error) { c, err := db.OpenCases(head, period, 0); return len(c), err }},
		{"heat/0.01", func() (int, error) { h, err := db.ReportHeat(centre, period, 0.01); return len(h), err }},
		{"heat/0.005", func() (int, error) { h, err := db.ReportHeat(centre, period, 0.005); return len(h), err }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			size, err := bm.run()
			if err != nil || size == 0 {
				b.Fatalf("%s = %d, %v", bm.name, size, err)
			}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := bm.run(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(size), "size")
		})
	}
}
