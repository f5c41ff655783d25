package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestPersonalDataAPI: administrators export one person's reports, with
// photo URLs; nobody else may.
func TestPersonalDataAPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		k, err := keyring.Parse([]byte(keyring.NewLine(db.Now())))
		if err != nil {
			t.Fatal(err)
		}
		db.Keys = k
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		lat, lon := 16.474, 107.578
		r, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon,
			Phone: "0905 000 111", Email: "b@example.vn", Consent: true, Photos: []cityops.Photo{{Hash: "abc", Thumb: "def"}}})
		if err != nil {
			t.Fatal(err)
		}
		res, out := ts.do("GET", "/api/v1/personal-data?phone=%2B84905000111", ts.admin, "")
		var got cityops.PersonalData
		if err := json.Unmarshal([]byte(out), &got); err != nil || res.StatusCode != 200 || len(got.Reports) != 1 {
			t.Fatalf("export = %d %s", res.StatusCode, out)
		}
		if p := got.Reports[0]; p.Tracking != r.Tracking || p.ReporterEmail != "b@example.vn" || len(p.PhotoURLs) != 1 ||
			!strings.HasPrefix(p.PhotoURLs[0], "http://") || !strings.HasSuffix(p.PhotoURLs[0], "/media/abc.jpg") {
			t.Errorf("exported = %+v", p)
		}
		if res, _ := ts.do("GET", "/api/v1/personal-data?email=b@example.vn", ts.signIn(cityops.RoleOperator, "IOC", ""), ""); res.StatusCode != 403 {
			t.Errorf("operator export = %d, want 403", res.StatusCode)
		}
		if res, out := ts.do("GET", "/api/v1/personal-data", ts.admin, ""); res.StatusCode != 400 || !strings.Contains(out, `"email"`) {
			t.Errorf("export without a query = %d %s", res.StatusCode, out)
		}
	})
}
