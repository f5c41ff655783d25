package http_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage/storagetest"
)

// BenchmarkBatchUpsert is the NGSI-LD batch upsert over HTTP in one
// process: 8 clients send batches of 100 updates (pm25 and no2 of 10,000
// stations, compacted names resolved through the core context) to a real
// server on 127.0.0.1 over SQLite. It reports entity updates per second;
// with -cpuprofile it shows what the HTTP side costs beside storage
// (storage's BenchmarkUpsertEntitiesConcurrent is the same load without
// HTTP).
func BenchmarkBatchUpsert(b *testing.B) {
	db := storagetest.Open(b, storagetest.Dialects()[0])
	ts := newTestServer(b, db)
	key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "bench", Scopes: []string{"data:write"}})
	if err != nil {
		b.Fatal(err)
	}
	const stations, size = 10_000, 100
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.SetParallelism(4) // 8 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for pb.Next() {
			body.Reset()
			body.WriteByte('[')
			for j := range size {
				i := n.Add(1)
				if j > 0 {
					body.WriteByte(',')
				}
				at := t0.Add(time.Duration(i/stations) * time.Minute).Format(time.RFC3339)
				fmt.Fprintf(&body, `{"id":"urn:ngsi-ld:AirQualityObserved:hue-%05d","type":"AirQualityObserved",`+
					`"pm25":{"type":"Property","value":%d.5,"unitCode":"GQ","observedAt":"%s"},`+
					`"no2":{"type":"Property","value":%d,"unitCode":"GQ","observedAt":"%s"}}`, i%stations, i%90, at, i%70, at)
			}
			body.WriteByte(']')
			req, _ := http.NewRequest("POST", ts.url+"/ngsi-ld/v1/entityOperations/upsert", bytes.NewReader(body.Bytes()))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-Key", key)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			out, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode/100 != 2 {
				b.Errorf("upsert: %d %s", res.StatusCode, out)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "updates/s")
}
