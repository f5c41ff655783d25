package http

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cityops/cityops/ngsild/jsonld"
)

// BenchmarkReadObservations is the parsing half of the bulk path: NDJSON
// lines of one reading each (pm25 and no2 of 1,000 stations) into
// batches, without storage.
func BenchmarkReadObservations(b *testing.B) {
	var body bytes.Buffer
	const lines = 100_000
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&body, `{"id":"urn:ngsi-ld:AirQualityObserved:s%04d","type":"AirQualityObserved","pm25":{"type":"Property","value":%d.5,"unitCode":"GQ","observedAt":"2026-01-01T%02d:%02d:00Z"},"no2":{"type":"Property","value":%d,"unitCode":"GQ","observedAt":"2026-01-01T%02d:%02d:00Z"}}`+"\n",
			i%1000, i%90, i/60000%24, i/1000%60, i%70, i/60000%24, i/1000%60)
	}
	raw := body.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		res := &ingestResult{}
		out := make(chan *ingestBatch, 100)
		done := make(chan struct{})
		go func() {
			for range out {
			}
		}()
		if err := readObservations(bytes.NewReader(raw), jsonld.Core(), "", false, 50_000, res, out, done); err != nil {
			b.Fatal(err)
		}
		close(out)
		if len(res.Rejected) > 0 {
			b.Fatal(res.Rejected[0])
		}
	}
	b.ReportMetric(float64(lines*2*b.N)/b.Elapsed().Seconds(), "obs/s")
}
