package storage_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// seedReports fills the reports table with n reports spread over the
// demo's agencies, areas, categories and statuses and over the past year,
// in a few large INSERT … SELECT statements (one per dialect's way of
// counting).
func seedReports(b *testing.B, db *storage.DB, n int) {
	b.Helper()
	prefix, from := `with recursive seq(i) as (select 1 union all select i + 1 from seq where i < $1) `, `seq`
	if db.Dialect() == storage.Postgres {
		prefix, from = ``, `generate_series(1, $1) as seq(i)`
	}
	q := prefix + `insert into reports (tracking, category_id, description, lat, lon, address, area_id, channel, urgent,
			status, agency_id, due_at, received_at, updated_at, citizen_token)
		select 'S' || (i + $4), (select min(id) from categories) + i % (select count(*) from categories), 'seeded report',
			16.47, 107.58, '', (select min(id) from areas) + i % 41, 'web', false,
			case i % 7 when 0 then 'received' when 1 then 'assigned' when 2 then 'accepted' when 3 then 'in_progress'
				when 4 then 'resolved' else 'closed' end,
			(select min(id) from agencies) + i % (select count(*) from agencies), $2, $3, $3, 'x'
		from ` + from
	const chunk = 100_000
	now := time.Now().UTC()
	for done := 0; done < n; done += chunk {
		// Each chunk a day earlier, so received_at spreads over the past.
		at := now.Add(-time.Duration(done/chunk) * 24 * time.Hour)
		if _, err := db.SQL().Exec(q, min(chunk, n-done), at.Add(72*time.Hour), at, done); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if _, err := db.SQL().Exec(`analyze`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}

// BenchmarkInbox is one agency's inbox page (open reports, newest first,
// with the total) among CITYOPS_BENCH_REPORTS reports (default 1,000,000).
// It reports the 95th-percentile latency as p95-ms.
func BenchmarkInbox(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("CITYOPS_BENCH_REPORTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, dialect := range storagetest.Dialects() {
		b.Run(fmt.Sprintf("%s/%d", dialect, n), func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			loadDemo(b, db)
			seedReports(b, db, n)
			hepco := "HEPCO"
			f := cityops.ReportFilter{Agency: &hepco, Limit: 50,
				Status: []string{cityops.StatusReceived, cityops.StatusAssigned, cityops.StatusAccepted, cityops.StatusInProgress}}
			ctx := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
			list, total, err := db.FindReports(ctx, f)
			if err != nil || len(list) != 50 || total < 1000 {
				b.Fatalf("inbox = %d of %d, %v", len(list), total, err)
			}
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, _, err := db.FindReports(ctx, f); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(total), "open-reports")
		})
	}
}
