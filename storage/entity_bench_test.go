package storage_test

import (
	"context"
	"fmt"
	"github.com/cityops/cityops/ngsild/q"
	"github.com/cityops/cityops/storage"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage/storagetest"
)

// BenchmarkUpsertEntities is the NGSI-LD batch upsert path: batches of 100
// updates to 1,000 air-quality stations, each update one new pm25 value
// (kept in history). It reports entity updates per second.
// BenchmarkInsertBaseline inserts the same number of rows of the same
// size, 100 per multi-row INSERT, into a plain table: the database's own
// ceiling, measured in the same run.
func BenchmarkUpsertEntities(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			ctx := context.Background()
			const stations = 1000
			batch := make([]*cityops.Entity, 100)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					id := fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:hue-%04d", n%stations)
					at := t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339)
					batch[i] = &cityops.Entity{ID: id, Type: aqType, Attrs: map[string][]cityops.Attr{
						pm25: {{"type": "Property", "value": float64(n % 90), "unitCode": "GQ", "observedAt": at}}}}
					n++
				}
				errs, err := db.UpsertEntities(ctx, "", batch, false)
				if err != nil || len(errs) > 0 {
					b.Fatal(err, errs)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

func BenchmarkInsertBaseline(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			if _, err := db.SQL().Exec(`create table baseline (entity_id text not null, attr text not null, observed_at text not null, num double precision, value text not null)`); err != nil {
				b.Fatal(err)
			}
			q := `insert into baseline (entity_id, attr, observed_at, num, value) values `
			args := make([]any, 0, 500)
			for i := 0; i < 100; i++ {
				if i > 0 {
					q += ", "
				}
				q += fmt.Sprintf("($%d, $%d, $%d, $%d, $%d)", i*5+1, i*5+2, i*5+3, i*5+4, i*5+5)
			}
			value := `{"type":"Property","value":42,"unitCode":"GQ","observedAt":"2026-01-01T00:00:00Z"}`
			n := 0
			b.ResetTimer()
			for b.Loop() {
				args = args[:0]
				for i := 0; i < 100; i++ {
					args = append(args, fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:hue-%04d", n%1000), pm25, "2026-01-01T00:00:00Z", float64(n%90), value)
					n++
				}
				tx, err := db.SQL().Begin()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Exec(q, args...); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkIngest is the bulk observation path: batches of 10,000
// observations of 1,000 stations (ten readings each, a minute apart),
// kept in history and the roll-ups. BenchmarkIngestBaseline inserts the
// same rows into a table of the same shape and index, plainly, in the
// same batches.
func BenchmarkIngest(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			ctx := context.Background()
			const stations, batchSize = 1000, 50000
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// Each station's ten readings in one entity, in temporal
				// representation, as the bulk path groups them.
				batch := make([]*cityops.Entity, stations)
				for i := range batch {
					id := fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:hue-%04d", i)
					batch[i] = &cityops.Entity{ID: id, Type: aqType, Attrs: map[string][]cityops.Attr{}}
				}
				for i := 0; i < batchSize; i++ {
					at := t0.Add(time.Duration(n/stations) * time.Minute).Format(time.RFC3339)
					e := batch[n%stations]
					e.Attrs[pm25] = append(e.Attrs[pm25], cityops.Attr{"type": "Property", "value": float64(n % 90), "unitCode": "GQ", "observedAt": at})
					n++
				}
				errs, err := db.IngestEntities(ctx, "", batch)
				if err != nil || len(errs) > 0 {
					b.Fatal(err, errs)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "obs/s")
		})
	}
}

func BenchmarkIngestBaseline(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			// The same shape and index as entity_instances.
			for _, q := range []string{
				`create table baseline (id integer primary key, entity_pk bigint not null, attr text not null, dataset_id text not null default '',
					observed_at timestamp not null, num double precision, value text not null)`,
				`create index baseline_attr on baseline (entity_pk, attr, observed_at)`,
			} {
				if dialect == storage.Postgres {
					q = strings.Replace(strings.Replace(q, "id integer primary key", "id bigint generated by default as identity primary key", 1), "timestamp", "timestamptz", 1)
				}
				if _, err := db.SQL().Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			const stations, batchSize, perStmt = 1000, 10000, 500
			ph := func(i int) string {
				if dialect == storage.SQLite {
					return "?"
				}
				return fmt.Sprintf("$%d", i)
			}
			q := `insert into baseline (entity_pk, attr, dataset_id, observed_at, num, value) values `
			for i := 0; i < perStmt; i++ {
				if i > 0 {
					q += ", "
				}
				q += "(" + ph(i*6+1) + ", " + ph(i*6+2) + ", " + ph(i*6+3) + ", " + ph(i*6+4) + ", " + ph(i*6+5) + ", " + ph(i*6+6) + ")"
			}
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			args := make([]any, 0, perStmt*6)
			n := 0
			b.ResetTimer()
			for b.Loop() {
				tx, err := db.SQL().Begin()
				if err != nil {
					b.Fatal(err)
				}
				for s := 0; s < batchSize/perStmt; s++ {
					args = args[:0]
					for i := 0; i < perStmt; i++ {
						at := t0.Add(time.Duration(n/stations) * time.Minute)
						value := `{"observedAt":"` + at.Format(time.RFC3339) + `","type":"Property","unitCode":"GQ","value":` + fmt.Sprint(n%90) + `}`
						args = append(args, n%stations+1, pm25, "", at, float64(n%90), value)
						n++
					}
					if _, err := tx.Exec(q, args...); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkQuery runs q-queries over 100,000 entities of one type, a page
// of 20 as NGSI-LD answers by default, and with count=true.
func BenchmarkQuery(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			ctx := context.Background()
			const n = 100_000
			name := "https://smartdatamodels.org/name"
			for start := 0; start < n; start += 5000 {
				var batch []*cityops.Entity
				for i := start; i < start+5000; i++ {
					batch = append(batch, &cityops.Entity{ID: fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:s%06d", i), Type: aqType, Attrs: map[string][]cityops.Attr{
						pm25: {{"type": "Property", "value": float64((i * 7919) % 1000 / 10), "observedAt": "2026-01-01T00:00:00Z"}},
						no2:  {{"type": "Property", "value": float64((i * 104729) % 500 / 10), "observedAt": "2026-01-01T00:00:00Z"}},
						name: {{"type": "Property", "value": fmt.Sprintf("station %d", i)}},
					}})
				}
				if errs, err := db.IngestEntities(ctx, "", batch); err != nil || len(errs) > 0 {
					b.Fatal(err, errs)
				}
			}
			// PostgreSQL plans by statistics, which autovacuum gathers
			// on a database in service soon after a load like this one;
			// SQLite's planner needs none (cityops never runs ANALYZE).
			if dialect == storage.Postgres {
				if _, err := db.SQL().Exec(`analyze`); err != nil {
					b.Fatal(err)
				}
			}
			expand := func(s string) string {
				switch s {
				case "pm25":
					return pm25
				case "no2":
					return no2
				case "name":
					return name
				}
				return s
			}
			for _, qs := range []string{"pm25>98", "pm25>20", `name=="station 54321"`, "pm25>50;no2<10", "pm25>98|no2>48"} {
				expr, err := q.Parse(qs)
				if err != nil {
					b.Fatal(err)
				}
				for _, count := range []bool{false, true} {
					b.Run(fmt.Sprintf("%s/count=%v", qs, count), func(b *testing.B) {
						for b.Loop() {
							list, _, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{aqType}, Q: expr, Expand: expand, Limit: 20, Count: count})
							if err != nil || len(list) == 0 {
								b.Fatal(err, len(list))
							}
						}
					})
				}
			}
		})
	}
}

// BenchmarkUpsertEntitiesConcurrent is BenchmarkUpsertEntities from 8
// clients at once, as an NGSI-LD broker is used: their batches share
// commits.
func BenchmarkUpsertEntitiesConcurrent(b *testing.B) {
	for _, dialect := range storagetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			ctx := context.Background()
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var n atomic.Int64
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					batch := make([]*cityops.Entity, 100)
					for i := range batch {
						k := n.Add(1)
						id := fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:hue-%05d", k%10000)
						at := t0.Add(time.Duration(k) * time.Second).Format(time.RFC3339)
						batch[i] = &cityops.Entity{ID: id, Type: aqType, Attrs: map[string][]cityops.Attr{
							pm25: {{"type": "Property", "value": float64(k % 90), "unitCode": "GQ", "observedAt": at}}}}
					}
					errs, err := db.UpsertEntities(ctx, "", batch, false)
					if err != nil || len(errs) > 0 {
						b.Error(err, errs)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
