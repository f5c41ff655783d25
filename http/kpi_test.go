package http_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestKPI: the indicators page computes ISO 37120 indicators from the
// stations' history, exports the figures as XLSX and CSV, and the weekly
// report renders for a chosen week.
func TestKPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		ts.Server.Population = 1_000_000
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		core := jsonld.Core()
		now := time.Now().UTC().Truncate(time.Hour)
		// Two stations, one with pm25 20 then 40 (mean 30), the other 10:
		// the city's mean of station means is 20.
		for i, v := range []float64{20, 40} {
			e := airStation("urn:ngsi-ld:AirQualityObserved:a", "Trạm A", v, now.Add(time.Duration(i-3)*time.Hour))
			if errs, err := db.UpsertEntities(sysCtx(), "", []*cityops.Entity{e}, false); err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
		}
		b := airStation("urn:ngsi-ld:AirQualityObserved:b", "=HYPERLINK(\"x\")", 10, now.Add(-2*time.Hour))
		// A hospital with 500 beds: 50 per 100,000 of a million people.
		h := &cityops.Entity{ID: "urn:ngsi-ld:Building:h", Type: core.ExpandTerm("Building"), Attrs: map[string][]cityops.Attr{
			core.ExpandTerm("category"):  {{"type": "Property", "value": []any{"hospital"}}},
			core.ExpandTerm("bedsTotal"): {{"type": "Property", "value": 500.0}},
		}}
		if errs, err := db.UpsertEntities(sysCtx(), "", []*cityops.Entity{b, h}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		res, body := ts.do("GET", "/ioc/kpi?days=7", op, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("kpi page: %d\n%s", res.StatusCode, body)
		}
		row := func(key string) string {
			_, rest, _ := strings.Cut(body, `data-indicator="`+key+`"`)
			r, _, _ := strings.Cut(rest, "</tr>")
			return r
		}
		if r := row("pm25"); !strings.Contains(r, "20.0 µg/m³") || !strings.Contains(r, "2 trạm") {
			t.Errorf("pm25 row: %s", r)
		}
		if r := row("beds"); !strings.Contains(r, "50.0 /100 000") {
			t.Errorf("beds row: %s", r)
		}
		if r := row("so2"); !strings.Contains(r, "Không có dữ liệu") {
			t.Errorf("so2 row (no station measures it): %s", r)
		}
		// Exports.
		res, body = ts.do("GET", "/ioc/kpi.xlsx?days=7", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), ".xlsx") {
			t.Fatalf("xlsx: %d %v", res.StatusCode, res.Header)
		}
		zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		var sheets []string
		for _, f := range zr.File {
			if strings.HasPrefix(f.Name, "xl/worksheets/sheet") {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				sheets = append(sheets, string(b))
			}
		}
		if len(sheets) != 4 || !strings.Contains(sheets[0], "Nồng độ bụi mịn PM2.5") || !strings.Contains(sheets[1], "Hạng") {
			t.Errorf("xlsx sheets: %d", len(sheets))
		}
		res, body = ts.do("GET", "/ioc/kpi.csv?by=sector&days=7", op, "")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(body, "\ufeff") {
			t.Fatalf("csv: %d %q", res.StatusCode, body[:min(len(body), 40)])
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
		if err != nil || len(recs) < 1 || recs[0][0] != "Hạng" {
			t.Fatalf("csv records: %v %v", recs, err)
		}
		if res, body := ts.do("GET", "/ioc/kpi.csv?by=planet", op, ""); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "by") {
			t.Errorf("csv by=planet: %d %s", res.StatusCode, body)
		}
		// The weekly report, and a wrong week.
		res, body = ts.do("GET", "/ioc/weekly?week=2026-W48", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "2026-W48") || !strings.Contains(body, "2026-W47") || !strings.Contains(body, "data-print") {
			t.Errorf("weekly: %d", res.StatusCode)
		}
		for _, bad := range []string{"2026-W54", "48", "2026-48"} {
			if res, _ := ts.do("GET", "/ioc/weekly?week="+bad, op, ""); res.StatusCode != http.StatusBadRequest {
				t.Errorf("week %s: %d", bad, res.StatusCode)
			}
		}
		// Agency officers have no dashboard.
		if res, _ := ts.do("GET", "/ioc/kpi", ts.signIn(cityops.RoleAgencyOfficer, "SXD", ""), ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("officer: %d", res.StatusCode)
		}
	})
}
