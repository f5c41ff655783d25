package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestAlarmAPI: rules by JSON and CSV with short names, the alarm list and
// its actions, warnings — with the errors a client gets for bad input.
func TestAlarmAPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		// A rule by JSON, names short.
		res, body := ts.do("PUT", "/api/v1/alarm-rules/beds", ts.admin, `{"name":"Giường bệnh","severity":"major","entity_type":"Building",
			"attr":"bedOccupancyRate","kind":"threshold","op":">","value":90,"clear":88,"for_minutes":30,"auto_clear":true,
			"category":"health.service","agency":"SYT","enabled":true}`)
		if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/api/v1/alarm-rules/beds" {
			t.Fatalf("create rule: %d %s", res.StatusCode, body)
		}
		var rule cityops.AlarmRule
		json.Unmarshal([]byte(body), &rule)
		if rule.EntityType != "Building" || rule.Attr != "bedOccupancyRate" || rule.ID == 0 {
			t.Fatalf("rule given back: %s", body)
		}
		stored, _ := db.FindAlarmRule(sysCtx(), "beds")
		if stored.EntityType != "https://uri.etsi.org/ngsi-ld/default-context/Building" {
			t.Fatalf("stored type %q", stored.EntityType)
		}
		res, body = ts.do("PUT", "/api/v1/alarm-rules/beds", ts.admin, `{"name":"Giường bệnh","severity":"huge","entity_type":"Building",
			"kind":"threshold","op":"=","value":90,"enabled":true}`)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "severity") || !strings.Contains(body, `"op"`) || !strings.Contains(body, `"attr"`) {
			t.Fatalf("bad rule: %d %s", res.StatusCode, body)
		}
		// An operator may read rules, not write them.
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		if res, _ := ts.do("GET", "/api/v1/alarm-rules", op, ""); res.StatusCode != http.StatusOK {
			t.Fatalf("operator reading rules: %d", res.StatusCode)
		}
		if res, _ := ts.do("DELETE", "/api/v1/alarm-rules/beds", op, ""); res.StatusCode != http.StatusForbidden {
			t.Fatalf("operator deleting a rule: %d", res.StatusCode)
		}
		// CSV import: all or nothing, errors by line.
		csv := "code,name,severity,entity_type,attr,kind,op,value,category\n" +
			"pm,PM2.5,major,AirQualityObserved,pm25,threshold,>,50,environment.pollution\n" +
			"pm-bad,PM2.5,major,AirQualityObserved,pm25,threshold,>,abc,no.such\n"
		res, body = ts.do("POST", "/api/v1/alarm-rules.csv", ts.admin, csv, "Content-Type", "text/csv")
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "line 3: value") {
			t.Fatalf("bad CSV: %d %s", res.StatusCode, body)
		}
		csv = strings.Replace(csv, "abc,no.such", "60,no.such", 1)
		res, body = ts.do("POST", "/api/v1/alarm-rules.csv", ts.admin, csv, "Content-Type", "text/csv")
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "rules[1] (pm-bad).category") {
			t.Fatalf("CSV with an unknown category: %d %s", res.StatusCode, body)
		}
		if _, err := db.FindAlarmRule(sysCtx(), "pm"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("a failed import saved a rule: %v", err)
		}
		csv = strings.Replace(csv, "60,no.such", "60,environment.pollution", 1)
		res, body = ts.do("POST", "/api/v1/alarm-rules.csv", ts.admin, csv, "Content-Type", "text/csv")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"total":2`) {
			t.Fatalf("CSV import: %d %s", res.StatusCode, body)
		}

		// An alarm, then its list, its page and its actions. The hospital
		// reported its occupancy twice in the last hours.
		for i, v := range []float64{88.5, 93} {
			at := time.Now().UTC().Add(time.Duration(i-2) * time.Hour).Format(time.RFC3339)
			e := &cityops.Entity{ID: "urn:ngsi-ld:Building:hue-bv-trung-uong-hue", Type: stored.EntityType, Attrs: map[string][]cityops.Attr{
				stored.Attr: {{"type": "Property", "value": v, "unitCode": "P1", "observedAt": at}}}}
			if errs, err := db.UpsertEntities(sysCtx(), "", []*cityops.Entity{e}, false); err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
		}
		l, err := db.RaiseAlarm(sysCtx(), &cityops.AlarmRaise{Rule: stored, EntityID: "urn:ngsi-ld:Building:hue-bv-trung-uong-hue",
			EntityType: stored.EntityType, Value: 93, Message: "Công suất giường bệnh 93%", Lat: ptr(16.4607), Lon: ptr(107.5870)})
		if err != nil {
			t.Fatal(err)
		}
		res, body = ts.do("GET", "/api/v1/alarms?open=true&severity=major", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"total":1`) || !strings.Contains(body, `"entity_type":"Building"`) {
			t.Fatalf("alarm list: %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("GET", "/api/v1/alarms?severity=huge", op, ""); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "severity") {
			t.Fatalf("bad severity: %d %s", res.StatusCode, body)
		}
		// The case the alarm opened shows it, with the readings behind it.
		if l.Report == "" {
			t.Fatal("the rule's category opened no case")
		}
		res, body = ts.do("GET", "/staff/reports/"+l.Report, op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`data-readings="/api/v1/alarms/%d/readings?hours=24"`, l.ID)) ||
			!strings.Contains(body, "Công suất giường bệnh 93%") || !strings.Contains(body, "uPlot.iife.min.js") {
			t.Fatalf("case page: %d", res.StatusCode)
		}
		res, body = ts.do("GET", fmt.Sprintf("/api/v1/alarms/%d/readings", l.ID), op, "")
		var rd struct {
			Attr      string       `json:"attr"`
			Unit      string       `json:"unit"`
			Points    [][2]float64 `json:"points"`
			Threshold *float64     `json:"threshold"`
		}
		json.Unmarshal([]byte(body), &rd)
		if res.StatusCode != http.StatusOK || rd.Attr != "bedOccupancyRate" || rd.Unit != "P1" || len(rd.Points) != 2 ||
			rd.Points[0][1] != 88.5 || rd.Points[1][1] != 93 || rd.Threshold == nil || *rd.Threshold != 90 {
			t.Fatalf("readings: %d %s", res.StatusCode, body)
		}
		if res, _ := ts.do("GET", fmt.Sprintf("/api/v1/alarms/%d/readings?hours=0", l.ID), op, ""); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("hours=0: %d", res.StatusCode)
		}
		other := ts.signIn(cityops.RoleAgencyHead, "SXD", "")
		if res, _ := ts.do("GET", fmt.Sprintf("/api/v1/alarms/%d", l.ID), other, ""); res.StatusCode != http.StatusNotFound {
			t.Fatalf("another agency's alarm: %d", res.StatusCode)
		}
		path := fmt.Sprintf("/api/v1/alarms/%d/actions", l.ID)
		if res, body := ts.do("POST", path, op, `{"action":"snooze"}`); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "acknowledge or clear") {
			t.Fatalf("unknown action: %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("POST", path, op, `{"action":"acknowledge","note":"Đã báo Sở Y tế"}`); res.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"acknowledged"`) {
			t.Fatalf("acknowledge: %d %s", res.StatusCode, body)
		}
		if res, _ := ts.do("POST", path, op, `{"action":"acknowledge"}`); res.StatusCode != http.StatusConflict {
			t.Fatalf("acknowledge twice: %d", res.StatusCode)
		}
		if res, body := ts.do("POST", path, op, `{"action":"clear"}`); res.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"cleared"`) {
			t.Fatalf("clear: %d %s", res.StatusCode, body)
		}
		res, body = ts.do("GET", fmt.Sprintf("/api/v1/alarms/%d", l.ID), op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"action":"acknowledge"`) || !strings.Contains(body, `"note":"Đã báo Sở Y tế"`) {
			t.Fatalf("alarm history: %d %s", res.StatusCode, body)
		}

		// Warnings: broadcast by the centre, public while in force.
		res, body = ts.do("POST", "/api/v1/warnings", op, `{"title":"Cảnh báo lũ","body":"Sông Hương vượt báo động II","severity":"major","area":"P08"}`)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("warning: %d %s", res.StatusCode, body)
		}
		res, body = ts.do("GET", "/api/v1/warnings", "", "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Cảnh báo lũ") {
			t.Fatalf("public warnings: %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("GET", "/reports", "", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `class="public-warnings"`) ||
			!strings.Contains(body, "Cảnh báo lũ") {
			t.Fatalf("the public pages do not show the warning: %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/api/v1/warnings?all=true", "", ""); res.StatusCode != http.StatusForbidden {
			t.Fatalf("the public listing past warnings: %d", res.StatusCode)
		}
		if res, body := ts.do("POST", "/api/v1/warnings", op, `{"title":"","body":"x","severity":"major","valid_until":"yesterday"}`); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad warning: %d %s", res.StatusCode, body)
		}
	})
}

func ptr[T any](v T) *T { return &v }
