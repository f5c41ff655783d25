package storage_test

import (
	"context"
	"fmt"
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
