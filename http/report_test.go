package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestReportsAPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		body := `{"category":"environment.waste","description":"Rác <script>alert(1)</script> ở góc đường","lat":16.474,"lon":107.578,
			"name":"Trần Thị B","phone":"0905 000 111","consent":true}`
		res, out := ts.do("POST", "/api/v1/reports", "", body, "Idempotency-Key", "abc-1")
		if res.StatusCode != 201 {
			t.Fatalf("create = %d %s", res.StatusCode, out)
		}
		var created struct {
			Tracking, Token, Status, Agency, StatusURL string
			ReporterPhone                              string `json:"reporter_phone"`
			Description                                string
		}
		json.Unmarshal([]byte(out), &created)
		if created.Token == "" || created.Agency != "HEPCO" || created.ReporterPhone != "" || !strings.Contains(out, `\u003cscript\u003e`) {
			t.Fatalf("created = %s (want token, HEPCO, no phone, escaped script)", out)
		}
		if res.Header.Get("Location") != "/api/v1/reports/"+created.Tracking {
			t.Errorf("Location = %q", res.Header.Get("Location"))
		}
		// A retry with the same key returns the same report and no second token.
		res, out = ts.do("POST", "/api/v1/reports", "", body, "Idempotency-Key", "abc-1")
		if res.StatusCode != 200 || !strings.Contains(out, created.Tracking) || strings.Contains(out, `"token"`) {
			t.Fatalf("retry = %d %s", res.StatusCode, out)
		}
		for _, tt := range []struct {
			name, body, field string
		}{
			{"unknown category", `{"category":"x.y","description":"a","address":"b"}`, "category"},
			{"outside the city", `{"category":"environment.waste","description":"a","lat":21.03,"lon":105.85}`, "lat"},
			{"too long", `{"category":"environment.waste","description":"` + strings.Repeat("a", 4001) + `","address":"b"}`, "description"},
			{"public hotline", `{"category":"environment.waste","description":"a","address":"b","channel":"hotline"}`, "channel"},
			{"lat as text", `{"category":"environment.waste","description":"a","lat":"16.4","lon":107.5}`, "lat"},
		} {
			res, out := ts.do("POST", "/api/v1/reports", "", tt.body)
			if res.StatusCode != 400 || !strings.Contains(out, `"`+tt.field+`":`) {
				t.Errorf("%s = %d %s; want 400 naming %s", tt.name, res.StatusCode, out, tt.field)
			}
		}
		// Similar open reports nearby: within 50 m, same category, no personal data.
		res, out = ts.do("GET", "/api/v1/reports/nearby?category=environment.waste&lat=16.4742&lon=107.5782", "", "")
		if res.StatusCode != 200 || !strings.Contains(out, created.Tracking) || strings.Contains(out, "0905 000 111") {
			t.Errorf("nearby = %d %s", res.StatusCode, out)
		}
		if _, out := ts.do("GET", "/api/v1/reports/nearby?category=environment.waste&lat=16.4760&lon=107.5782", "", ""); !strings.Contains(out, `"total":0`) {
			t.Errorf("200 m away = %s; want none", out)
		}
		if _, out := ts.do("GET", "/api/v1/reports/nearby?category=health.service&lat=16.4742&lon=107.5782", "", ""); !strings.Contains(out, `"total":0`) {
			t.Errorf("other category = %s; want none", out)
		}
		if res, out := ts.do("GET", "/api/v1/reports/nearby?lat=16.4", "", ""); res.StatusCode != 400 || !strings.Contains(out, `"category"`) {
			t.Errorf("bad nearby = %d %s", res.StatusCode, out)
		}
		// Staff: the operator takes a hotline report; the inbox shows what the agency leads.
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		res, out = ts.do("POST", "/api/v1/reports", op, `{"category":"environment.waste","description":"Gọi điện báo","address":"5 Hùng Vương","channel":"hotline","name":"C","consent":true}`)
		if res.StatusCode != 201 || !strings.Contains(out, `"channel":"hotline"`) || !strings.Contains(out, `"reporter_name":"C"`) {
			t.Fatalf("hotline report = %d %s", res.StatusCode, out)
		}
		hepco := ts.signIn(cityops.RoleAgencyOfficer, "HEPCO", "")
		res, out = ts.do("GET", "/api/v1/reports?status=assigned&sector=environment", hepco, "")
		if res.StatusCode != 200 || !strings.Contains(out, `"total":2`) || !strings.Contains(out, "0905 000 111") {
			t.Fatalf("HEPCO inbox = %d %s", res.StatusCode, out)
		}
		if res, out := ts.do("GET", "/api/v1/reports?status=lost", hepco, ""); res.StatusCode != 400 || !strings.Contains(out, `"status"`) {
			t.Errorf("bad status filter = %d %s", res.StatusCode, out)
		}
		if res, _ := ts.do("GET", "/api/v1/reports", "", ""); res.StatusCode != 401 {
			t.Errorf("public inbox = %d, want 401", res.StatusCode)
		}
		path := "/api/v1/reports/" + created.Tracking
		res, out = ts.do("POST", path+"/actions", hepco, `{"action":"resolve","note":"done"}`)
		if res.StatusCode != 409 || !strings.Contains(out, "allowed:") {
			t.Fatalf("illegal transition = %d %s; want 409 naming the allowed actions", res.StatusCode, out)
		}
		res, out = ts.do("POST", path+"/actions", hepco, `{"action":"fly"}`)
		if res.StatusCode != 400 || !strings.Contains(out, `"action"`) {
			t.Fatalf("unknown action = %d %s", res.StatusCode, out)
		}
		for _, a := range []string{`{"action":"accept"}`, `{"action":"start"}`, `{"action":"resolve","note":"Đã thu gom"}`} {
			if res, out := ts.do("POST", path+"/actions", hepco, a); res.StatusCode != 200 {
				t.Fatalf("%s = %d %s", a, res.StatusCode, out)
			}
		}
		// The citizen confirms and rates with the token, in the body or a header.
		if res, _ := ts.do("POST", path+"/actions", "", `{"action":"confirm","token":"bad"}`); res.StatusCode != 403 {
			t.Errorf("bad token = %d, want 403", res.StatusCode)
		}
		if res, out := ts.do("POST", path+"/actions", "", `{"action":"confirm","token":"`+created.Token+`"}`); res.StatusCode != 200 || strings.Contains(out, "0905 000 111") {
			t.Fatalf("confirm = %d %s", res.StatusCode, out)
		}
		if res, out := ts.do("POST", path+"/actions", "", `{"action":"rate","rating":4,"note":"nhanh"}`, "X-Citizen-Token", created.Token); res.StatusCode != 200 || !strings.Contains(out, `"rating":4`) {
			t.Fatalf("rate = %d %s", res.StatusCode, out)
		}
		// The public view: the timeline without internal notes or names.
		res, out = ts.do("GET", path, "", "")
		if res.StatusCode != 200 || !strings.Contains(out, `"status":"closed"`) || strings.Contains(out, "0905 000 111") || strings.Contains(out, "@hue.gov.vn") {
			t.Fatalf("public view = %d %s", res.StatusCode, out)
		}
		res, out = ts.do("GET", path, hepco, "")
		if !strings.Contains(out, "0905 000 111") || !strings.Contains(out, `"events":[`) {
			t.Errorf("staff view lacks reporter or events: %s", out)
		}
		if res, _ := ts.do("GET", "/api/v1/reports/NOTACODE", "", ""); res.StatusCode != 404 {
			t.Errorf("unknown tracking = %d", res.StatusCode)
		}
		// Routing rules are data.
		res, out = ts.do("POST", "/api/v1/routing-rules", ts.admin, `{"category":"environment.waste","area":"P10","local_agency":true}`)
		if res.StatusCode != 201 {
			t.Fatalf("create rule = %d %s", res.StatusCode, out)
		}
		res, out = ts.do("POST", "/api/v1/reports", "", `{"category":"environment.waste","description":"a","lat":16.474,"lon":107.578}`)
		if !strings.Contains(out, `"agency":"UBND-P10"`) {
			t.Errorf("after a ward rule, report routed: %s", out)
		}
		if res, out := ts.do("POST", "/api/v1/routing-rules", ts.admin, `{"sector":"health","agency":"SYT","local_agency":true}`); res.StatusCode != 400 || !strings.Contains(out, `"agency"`) {
			t.Errorf("bad rule = %d %s", res.StatusCode, out)
		}
	})
}
