package http_test

import (
	"encoding/json"
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

// TestIOCPage: the operations centre's dashboard is for those who hold
// ioc:view, and shows each of them what they may do.
func TestIOCPage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		res, body := ts.do("GET", "/ioc", op, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("operator /ioc = %d\n%s", res.StatusCode, body)
		}
		for _, want := range []string{
			`id="ioc-map"`, `data-geojson="/api/v1/areas.geojson"`, `id="ioc-live"`, `aria-live="polite"`,
			`id="sector-environment"`, `id="sector-transport"`, `id="sector-tourism"`, `id="sector-health"`, `id="sector-education"`,
			`data-chart="air"`, `data-chart="attendance"`, `data-figure="pm25_avg"`, "PM2.5 trung bình",
			`id="ioc-rank-agency"`, `id="ioc-rank-area"`, `id="ioc-rank-sector"`, `id="ioc-alarm-list"`,
			`id="ioc-warning-form"`, `href="/staff/reports?overdue=on"`, `href="/ioc"`, "Trung tâm điều hành",
			"uPlot.iife.min.js", "ioc.js", "ioc.css", `<script type="application/json" id="ioc-config">`, `"can_act":true`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("operator /ioc lacks %s", want)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
			t.Error("/ioc has inline script or style, which the CSP forbids")
		}
		// The script's settings are JSON it can parse.
		_, cfgJSON, _ := strings.Cut(body, `id="ioc-config">`)
		cfgJSON, _, _ = strings.Cut(cfgJSON, "</script>")
		var cfg struct {
			T     map[string]string `json:"t"`
			Names map[string]string `json:"names"`
			Days  int               `json:"days"`
		}
		if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil || cfg.Days != 30 || cfg.T["ioc.alarm.acknowledge"] != "Xác nhận" || cfg.Names["w:P10"] == "" {
			t.Errorf("config = %v %+v\n%s", err, cfg, cfgJSON)
		}
		// Other pages do not load the dashboard's script.
		if _, body := ts.do("GET", "/staff", op, ""); strings.Contains(body, "ioc.js") || !strings.Contains(body, `href="/ioc"`) {
			t.Error("/staff loads ioc.js or lacks the link to /ioc")
		}

		// The filter, the wall, English.
		res, body = ts.do("GET", "/ioc?sector=health&area=P10&days=7&wall=1&rotate=30&lang=en", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "ioc ioc-wall") || !strings.Contains(body, "Operations centre") ||
			!strings.Contains(body, `id="sector-health"`) || strings.Contains(body, `id="sector-environment"`) ||
			!strings.Contains(body, `href="/staff/reports?area=P10&amp;overdue=on&amp;sector=health"`) || !strings.Contains(body, "every 30 seconds") {
			t.Errorf("filtered wall /ioc = %d\n%s", res.StatusCode, body)
		}
		for _, bad := range []string{"days=0", "rotate=1", "sector=not%20a%20code"} {
			if res, _ := ts.do("GET", "/ioc?"+bad, op, ""); res.StatusCode != http.StatusBadRequest {
				t.Errorf("/ioc?%s = %d, want 400", bad, res.StatusCode)
			}
		}

		// The steering board watches: no actions, no broadcasts.
		steer := ts.signIn(cityops.RoleSteering, "", "")
		res, body = ts.do("GET", "/ioc", steer, "")
		if res.StatusCode != http.StatusOK || strings.Contains(body, `id="ioc-warning-form"`) || !strings.Contains(body, `"can_act":false`) {
			t.Errorf("steering /ioc = %d (want no warning form, no alarm actions)", res.StatusCode)
		}
		// An agency officer may not; nobody anonymous either.
		officer := ts.signIn(cityops.RoleAgencyOfficer, "SXD", "")
		if res, _ := ts.do("GET", "/ioc", officer, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("agency officer /ioc = %d, want 403", res.StatusCode)
		}
		if _, body := ts.do("GET", "/staff", officer, ""); strings.Contains(body, `href="/ioc"`) {
			t.Error("an agency officer is shown the link to /ioc")
		}
		res, _ = ts.do("GET", "/ioc", "", "")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fioc" {
			t.Errorf("anonymous /ioc = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// airStation is an AirQualityObserved entity as the simulator writes it.
func airStation(id, name string, pm25 float64, at time.Time) *cityops.Entity {
	core := jsonld.Core()
	return &cityops.Entity{ID: id, Type: core.ExpandTerm("AirQualityObserved"), Attrs: map[string][]cityops.Attr{
		core.ExpandTerm("name"): {{"type": "Property", "value": name}},
		core.ExpandTerm("pm25"): {{"type": "Property", "value": pm25, "observedAt": at.UTC().Format(time.RFC3339), "unitCode": "GQ"}},
		cityops.LocationAttr:    {{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{107.5886, 16.4733}}}},
	}}
}

// TestIOCAPI: the dashboard's endpoints answer with the city's real data.
func TestIOCAPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		getJSON := func(path string, v any) {
			t.Helper()
			res, body := ts.do("GET", path, op, "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d %s", path, res.StatusCode, body)
			}
			if err := json.Unmarshal([]byte(body), v); err != nil {
				t.Fatalf("GET %s: %v\n%s", path, err, body)
			}
		}

		// Three reports: two today, one ten days ago and overdue now.
		mk := func(cat string, lat, lon float64) string {
			r, _, err := db.CreateReport(sysCtx(), &cityops.ReportInput{Category: cat, Description: "Phản ánh thử " + cat, Lat: &lat, Lon: &lon})
			if err != nil {
				t.Fatal(err)
			}
			return r.Tracking
		}
		mk("environment.waste", 16.4740, 107.5780)
		mk("transport.encroachment", 16.4630, 107.5950)
		db.Now = func() time.Time { return time.Now().Add(-10 * 24 * time.Hour) }
		old := mk("environment.waste", 16.4560, 107.6010)
		db.Now = time.Now

		var sum struct {
			ReceivedToday int            `json:"received_today"`
			OpenNow       int            `json:"open_now"`
			OverdueNow    int            `json:"overdue_now"`
			Received      int            `json:"received"`
			Alarms        map[string]int `json:"alarms"`
		}
		getJSON("/api/v1/ioc/summary", &sum)
		if sum.ReceivedToday != 2 || sum.Received != 3 || sum.OpenNow != 3 || sum.OverdueNow != 1 || len(sum.Alarms) != 4 {
			t.Errorf("summary = %+v; want 2 today, 3 received and open, 1 overdue, 4 severities", sum)
		}
		getJSON("/api/v1/ioc/summary?sector=environment&days=7", &sum)
		if sum.Received != 1 || sum.OpenNow != 2 {
			t.Errorf("environment, 7 days = %+v; want 1 received in the week, 2 open", sum)
		}
		var rank struct {
			Items []struct {
				Key      string `json:"key"`
				Name     string `json:"name"`
				Received int    `json:"received"`
			} `json:"items"`
		}
		getJSON("/api/v1/ioc/breakdown?by=sector", &rank)
		got := map[string]int{}
		for _, r := range rank.Items {
			got[r.Key] = r.Received
			if r.Name == "" {
				t.Errorf("breakdown row %q has no name", r.Key)
			}
		}
		if got["environment"] != 2 || got["transport"] != 1 {
			t.Errorf("by sector = %v", got)
		}
		var cases struct {
			Type     string `json:"type"`
			Features []struct {
				Properties struct {
					Tracking string `json:"tracking"`
					Overdue  bool   `json:"overdue"`
				} `json:"properties"`
			} `json:"features"`
		}
		getJSON("/api/v1/ioc/cases.geojson", &cases)
		overdue := ""
		for _, f := range cases.Features {
			if f.Properties.Overdue {
				overdue = f.Properties.Tracking
			}
		}
		if cases.Type != "FeatureCollection" || len(cases.Features) != 3 || overdue != old {
			t.Errorf("open cases: %d features, overdue %q; want 3 and %s", len(cases.Features), overdue, old)
		}
		var heat struct {
			Items []struct{ Count int } `json:"items"`
		}
		getJSON("/api/v1/ioc/heat?cell=0.01", &heat)
		n := 0
		for _, c := range heat.Items {
			n += c.Count
		}
		if n != 3 {
			t.Errorf("heat counts %d reports, want 3", n)
		}

		// A station with three hours of history.
		const id = "urn:ngsi-ld:AirQualityObserved:hue-test-dong-ba"
		now := time.Now()
		var hist []*cityops.Entity
		for h := 3; h >= 1; h-- {
			hist = append(hist, airStation(id, "Trạm thử Đông Ba", 20+float64(h), now.Add(-time.Duration(h)*time.Hour)))
		}
		if errs, err := db.IngestEntities(sysCtx(), "", hist); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		if errs, err := db.UpsertEntities(sysCtx(), "", []*cityops.Entity{airStation(id, "Trạm thử Đông Ba", 31.5, now)}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		type sensors struct {
			Features []struct {
				Geometry struct {
					Coordinates []float64 `json:"coordinates"`
				} `json:"geometry"`
				Properties struct {
					ID     string   `json:"id"`
					Name   string   `json:"name"`
					Sector string   `json:"sector"`
					Value  *float64 `json:"value"`
					Level  string   `json:"level"`
				} `json:"properties"`
			} `json:"features"`
		}
		var sn sensors
		getJSON("/api/v1/ioc/sensors.geojson", &sn)
		if len(sn.Features) != 1 {
			t.Fatalf("sensors = %+v, want the station", sn)
		}
		p := sn.Features[0].Properties
		if p.ID != id || p.Name != "Trạm thử Đông Ba" || p.Sector != "environment" || p.Value == nil || *p.Value != 31.5 || p.Level != "normal" ||
			sn.Features[0].Geometry.Coordinates[1] != 16.4733 {
			t.Errorf("sensor = %+v", sn.Features[0])
		}
		if getJSON("/api/v1/ioc/sensors.geojson?sector=health", &sn); len(sn.Features) != 0 {
			t.Errorf("health sensors = %d, want none", len(sn.Features))
		}

		// An alarm on the station colours it by the alarm's severity.
		core := jsonld.Core()
		rule := &cityops.AlarmRule{Code: "pm25-test", Name: "PM2.5 vượt ngưỡng", Sector: cityops.SectorEnvironment, Severity: cityops.SeverityMajor,
			EntityType: core.ExpandTerm("AirQualityObserved"), Attr: core.ExpandTerm("pm25"), Kind: cityops.RuleThreshold, Op: ">", Value: 30, Enabled: true}
		if err := db.SaveAlarmRule(sysCtx(), rule); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RaiseAlarm(sysCtx(), &cityops.AlarmRaise{Rule: rule, EntityID: id, EntityType: rule.EntityType, Value: 31.5,
			Message: "PM2.5 31,5 µg/m³ tại Đông Ba", Lat: ptr(16.4733), Lon: ptr(107.5886)}); err != nil {
			t.Fatal(err)
		}
		var sn2 sensors
		getJSON("/api/v1/ioc/sensors.geojson?sector=environment", &sn2)
		if len(sn2.Features) != 1 || sn2.Features[0].Properties.Level != cityops.SeverityMajor {
			t.Errorf("sensor after the alarm = %+v, want level major", sn2.Features)
		}
		getJSON("/api/v1/ioc/summary", &sum)
		if sum.Alarms[cityops.SeverityMajor] != 1 {
			t.Errorf("summary alarms = %v, want one major", sum.Alarms)
		}

		// The environment panel: its figures from the latest readings.
		var sectors struct {
			Items []struct {
				Sector  string `json:"sector"`
				Name    string `json:"name"`
				Alarms  int    `json:"alarms"`
				Figures []struct {
					Key   string   `json:"key"`
					Label string   `json:"label"`
					Value *float64 `json:"value"`
					Count int      `json:"count"`
				} `json:"figures"`
				Charts []struct {
					Key string `json:"key"`
				} `json:"charts"`
			} `json:"items"`
		}
		getJSON("/api/v1/ioc/sectors", &sectors)
		if len(sectors.Items) != 5 {
			t.Fatalf("sectors = %d, want 5", len(sectors.Items))
		}
		env := sectors.Items[0]
		if env.Sector != "environment" || env.Alarms != 1 || len(env.Charts) != 2 || env.Figures[0].Key != "pm25_avg" ||
			env.Figures[0].Label != "PM2.5 trung bình" || env.Figures[0].Value == nil || *env.Figures[0].Value != 31.5 || env.Figures[0].Count != 1 {
			t.Errorf("environment panel = %+v", env)
		}

		// The air chart: a line for the station with its history.
		var series struct {
			Chart struct {
				Key  string `json:"key"`
				Unit string `json:"unit"`
			} `json:"chart"`
			Items []struct {
				ID     string       `json:"id"`
				Name   string       `json:"name"`
				Points [][2]float64 `json:"points"`
			} `json:"items"`
		}
		getJSON("/api/v1/ioc/series?chart=air&hours=6", &series)
		if len(series.Items) != 1 || series.Items[0].ID != id || series.Items[0].Name != "Trạm thử Đông Ba" || len(series.Items[0].Points) < 4 {
			t.Fatalf("air series = %+v; want the station with 4 hourly points", series)
		}
		pts := series.Items[0].Points
		if pts[0][1] != 23 || pts[len(pts)-1][1] != 31.5 || pts[0][0] >= pts[1][0] {
			t.Errorf("air points = %v; want 23 first, 31.5 last, in time order", pts)
		}

		// Bad input is refused with the field named; so are those without
		// ioc:view.
		for _, tt := range []struct{ path, want string }{
			{"/api/v1/ioc/series?chart=nope", `"chart"`},
			{"/api/v1/ioc/series?chart=air&hours=0", `"hours"`},
			{"/api/v1/ioc/summary?days=0", `"days"`},
			{"/api/v1/ioc/breakdown?by=colour", `"by"`},
			{"/api/v1/ioc/heat?cell=lots", `"cell"`},
		} {
			res, body := ts.do("GET", tt.path, op, "")
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("GET %s = %d %s; want 400 naming %s", tt.path, res.StatusCode, body, tt.want)
			}
		}
		officer := ts.signIn(cityops.RoleAgencyOfficer, "SXD", "")
		if res, _ := ts.do("GET", "/api/v1/ioc/summary", officer, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("agency officer summary = %d, want 403", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/api/v1/ioc/sensors.geojson", "", ""); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous sensors = %d, want 401", res.StatusCode)
		}
	})
}
