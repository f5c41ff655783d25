package http_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestTemporalWrites exercises the temporal API's writes (GS CIM 009
// clause 6.18–6.22): create and add to an entity's history, then patch,
// delete instances and attributes, and delete the entity.
func TestTemporalWrites(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gauge", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		const base = "/ngsi-ld/v1/temporal/entities"
		id := "urn:ngsi-ld:FloodMonitoring:hue-phu-oc"
		body := `{"id":"` + id + `","type":"FloodMonitoring","currentLevel":[
			{"type":"Property","value":1.1,"unitCode":"MTR","observedAt":"2026-11-01T00:00:00Z"},
			{"type":"Property","value":1.4,"unitCode":"MTR","observedAt":"2026-11-01T01:00:00Z"}]}`
		res, out := ts.do("POST", base, key, body)
		if res.StatusCode != 201 || res.Header.Get("Location") != base+"/"+id {
			t.Fatalf("temporal create = %d %s %s", res.StatusCode, res.Header.Get("Location"), out)
		}
		// Again, with a later instance: added, 204.
		more := `{"id":"` + id + `","type":"FloodMonitoring","currentLevel":[{"type":"Property","value":2.0,"unitCode":"MTR","observedAt":"2026-11-01T03:00:00Z"}]}`
		if res, out := ts.do("POST", base, key, more); res.StatusCode != 204 {
			t.Fatalf("temporal update = %d %s", res.StatusCode, out)
		}
		// Out of order: kept in history, but the entity shows the newest.
		if res, out := ts.do("POST", base+"/"+id+"/attrs", key, `{"currentLevel":[{"type":"Property","value":1.7,"observedAt":"2026-11-01T02:00:00Z"}]}`); res.StatusCode != 204 {
			t.Fatalf("temporal append = %d %s", res.StatusCode, out)
		}
		_, out = ts.do("GET", "/ngsi-ld/v1/entities/"+id+"?options=keyValues", key, "")
		if !strings.Contains(out, `"currentLevel":2`) {
			t.Errorf("current state = %s, want the newest level 2", out)
		}
		var got struct {
			CurrentLevel []map[string]any `json:"currentLevel"`
		}
		_, out = ts.do("GET", base+"/"+id, key, "")
		json.Unmarshal([]byte(out), &got)
		if len(got.CurrentLevel) != 4 || got.CurrentLevel[2]["value"] != 1.7 || got.CurrentLevel[2]["instanceId"] == nil {
			t.Fatalf("history = %s", out)
		}
		inst := got.CurrentLevel[0]["instanceId"].(string)
		if res, out := ts.do("PATCH", base+"/"+id+"/attrs/currentLevel/"+inst, key, `{"currentLevel":{"type":"Property","value":1.0,"unitCode":"MTR"}}`); res.StatusCode != 204 {
			t.Fatalf("patch instance = %d %s", res.StatusCode, out)
		}
		del := got.CurrentLevel[1]["instanceId"].(string)
		if res, out := ts.do("DELETE", base+"/"+id+"/attrs/currentLevel/"+del, key, ""); res.StatusCode != 204 {
			t.Fatalf("delete instance = %d %s", res.StatusCode, out)
		}
		_, out = ts.do("GET", base+"/"+id+"?options=temporalValues", key, "")
		if !strings.Contains(out, `[[1,"2026-11-01T00:00:00Z"],[1.7,"2026-11-01T02:00:00Z"],[2,"2026-11-01T03:00:00Z"]]`) {
			t.Errorf("after patch and delete = %s", out)
		}
		_, out = ts.do("GET", base+"/"+id+"?timerel=between&timeAt=2026-11-01T00:00:00Z&endTimeAt=2026-11-02T00:00:00Z&aggrMethods=sum,totalCount&aggrPeriodDuration=P1D", key, "")
		var agg struct {
			CurrentLevel struct{ Sum, TotalCount [][]any }
		}
		json.Unmarshal([]byte(out), &agg)
		if s := agg.CurrentLevel.Sum; len(s) != 1 || math.Abs(s[0][0].(float64)-4.7) > 1e-9 || !strings.Contains(out, `"totalCount":[[3,`) {
			t.Errorf("aggregation after edits = %s", out)
		}
		problemType := func(body string) string {
			var p struct{ Type string }
			json.Unmarshal([]byte(body), &p)
			return strings.TrimPrefix(p.Type, "https://uri.etsi.org/ngsi-ld/errors/")
		}
		for _, tt := range []struct {
			name, method, path, body string
			status                   int
			ptype                    string
		}{
			{"deleted instance", "DELETE", "/" + id + "/attrs/currentLevel/" + del, "", 404, "ResourceNotFound"},
			{"unknown instance", "PATCH", "/" + id + "/attrs/currentLevel/urn:x", `{"currentLevel":{"type":"Property","value":1}}`, 404, "ResourceNotFound"},
			{"patch two attributes", "PATCH", "/" + id + "/attrs/currentLevel/" + inst, `{"currentLevel":{"type":"Property","value":1},"x":{"type":"Property","value":1}}`, 400, "BadRequestData"},
			{"append to nothing", "POST", "/urn:x:none/attrs", `{"a":[{"type":"Property","value":1}]}`, 404, "ResourceNotFound"},
			{"bad instance", "POST", "", `{"id":"urn:x:1","type":"T","a":[{"type":"Property"}]}`, 400, "BadRequestData"},
			{"bad json", "POST", "", `{"id":`, 400, "InvalidRequest"},
		} {
			res, out := ts.do(tt.method, base+tt.path, key, tt.body)
			if res.StatusCode != tt.status || problemType(out) != tt.ptype {
				t.Errorf("%s: %d %s, want %d %s", tt.name, res.StatusCode, out, tt.status, tt.ptype)
			}
		}
		if res, out := ts.do("DELETE", base+"/"+id+"/attrs/currentLevel?deleteAll=true", key, ""); res.StatusCode != 204 {
			t.Fatalf("delete attribute history = %d %s", res.StatusCode, out)
		}
		if res, _ := ts.do("DELETE", base+"/"+id+"/attrs/currentLevel?deleteAll=true", key, ""); res.StatusCode != 404 {
			t.Errorf("delete it again = %d, want 404", res.StatusCode)
		}
		if res, _ := ts.do("DELETE", base+"/"+id, key, ""); res.StatusCode != 204 {
			t.Errorf("delete entity = %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", base+"/"+id, key, ""); res.StatusCode != 404 {
			t.Errorf("deleted entity = %d, want 404", res.StatusCode)
		}
	})
}

// TestBulkObservations sends NDJSON with good and bad lines through the
// bulk path, in batches small enough that there are several.
func TestBulkObservations(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gateway", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		reader, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "reader", Scopes: []string{"data:read"}})
		var b strings.Builder
		for i := 0; i < 30; i++ {
			fmt.Fprintf(&b, `{"id":"urn:ngsi-ld:TrafficFlowObserved:hue-%d","type":"TrafficFlowObserved","intensity":{"type":"Property","value":%d,"observedAt":"2026-11-01T08:%02d:00Z"}}`+"\n", i%3, i, i)
			switch i {
			case 4:
				b.WriteString("{not json\n")
			case 9:
				b.WriteString(`{"id":"urn:ngsi-ld:TrafficFlowObserved:hue-0","type":"OffStreetParking","intensity":{"type":"Property","value":1}}` + "\n")
			case 14:
				b.WriteString(`{"id":"no uri","type":"TrafficFlowObserved","intensity":{"type":"Property","value":1}}` + "\n")
			case 19:
				b.WriteString("\n" + `{"type":"TrafficFlowObserved"}` + "\n")
			}
		}
		// A line in temporal representation and one in keyValues would
		// need options=keyValues; this one carries two instances.
		b.WriteString(`{"id":"urn:ngsi-ld:TrafficFlowObserved:hue-9","type":"TrafficFlowObserved","intensity":[{"type":"Property","value":1,"observedAt":"2026-11-01T09:00:00Z"},{"type":"Property","value":2,"observedAt":"2026-11-01T09:01:00Z"}]}`)
		res, out := ts.do("POST", "/api/v1/observations", key, b.String(), "Content-Type", "application/x-ndjson")
		var got struct {
			Accepted, Lines int
			Rejected        []struct {
				Line  int
				Error string
			}
		}
		json.Unmarshal([]byte(out), &got)
		if res.StatusCode != 207 || got.Accepted != 32 || got.Lines != 35 || len(got.Rejected) != 4 {
			t.Fatalf("bulk = %d %s", res.StatusCode, out)
		}
		// Lines 6 (bad JSON), 12 (a second type for hue-0), 18 (bad id)
		// and 25 (no id) — the empty line 24 is skipped.
		for i, want := range []int{6, 12, 18, 25} {
			if got.Rejected[i].Line != want || got.Rejected[i].Error == "" {
				t.Errorf("rejection %d = %+v, want line %d", i, got.Rejected[i], want)
			}
		}
		var hist struct{ Intensity []any }
		_, out = ts.do("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:TrafficFlowObserved:hue-0?lastN=100", key, "")
		json.Unmarshal([]byte(out), &hist)
		if len(hist.Intensity) != 10 {
			t.Errorf("hue-0 history = %s, want 10 instances", out)
		}
		// keyValues lines take the line's observedAt.
		kv := `{"id":"urn:ngsi-ld:OffStreetParking:hue-citadel","type":"OffStreetParking","observedAt":"2026-11-01T10:00:00Z","availableSpotNumber":41}` + "\n"
		res, out = ts.do("POST", "/api/v1/observations?options=keyValues", key, kv, "Content-Type", "application/x-ndjson")
		if res.StatusCode != 200 || !strings.Contains(out, `"accepted":1`) {
			t.Errorf("keyValues bulk = %d %s", res.StatusCode, out)
		}
		for _, tt := range []struct {
			name, auth, ctype, body string
			status                  int
		}{
			{"wrong content type", key, "application/json", kv, 400},
			{"empty", key, "application/x-ndjson", "\n\n", 400},
			{"all bad", key, "application/x-ndjson", "[1]\n", 400},
			{"read-only key", reader, "application/x-ndjson", kv, 403},
			{"no key", "", "application/x-ndjson", kv, 401},
		} {
			if res, out := ts.do("POST", "/api/v1/observations", tt.auth, tt.body, "Content-Type", tt.ctype); res.StatusCode != tt.status {
				t.Errorf("%s = %d %s, want %d", tt.name, res.StatusCode, out, tt.status)
			}
		}
	})
}

func TestRetentionAPI(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "ops", Scopes: []string{"data:read", "data:write"}})
		reader, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "reader", Scopes: []string{"data:read"}})
		if res, out := ts.do("PUT", "/api/v1/retention", key, `{"entity_type":"AirQualityObserved","raw_days":90,"hour_days":730}`); res.StatusCode != 200 {
			t.Fatalf("set = %d %s", res.StatusCode, out)
		}
		res, out := ts.do("GET", "/api/v1/retention", reader, "")
		if res.StatusCode != 200 || !strings.Contains(out, `"entity_type":"AirQualityObserved","raw_days":90,"hour_days":730,"day_days":0`) {
			t.Errorf("list = %d %s", res.StatusCode, out)
		}
		for _, tt := range []struct {
			name, method, path, auth, body string
			status                         int
		}{
			{"hours shorter than raw", "PUT", "/api/v1/retention", key, `{"entity_type":"X","raw_days":90,"hour_days":30}`, 400},
			{"negative", "PUT", "/api/v1/retention", key, `{"entity_type":"X","raw_days":-1}`, 400},
			{"unknown field", "PUT", "/api/v1/retention", key, `{"entity_type":"X","days":1}`, 400},
			{"reader", "PUT", "/api/v1/retention", reader, `{"entity_type":"X","raw_days":1}`, 403},
			{"unknown type", "DELETE", "/api/v1/retention?entity_type=Nothing", key, "", 404},
			{"delete", "DELETE", "/api/v1/retention?entity_type=AirQualityObserved", key, "", 204},
		} {
			if res, out := ts.do(tt.method, tt.path, tt.auth, tt.body); res.StatusCode != tt.status {
				t.Errorf("%s = %d %s, want %d", tt.name, res.StatusCode, out, tt.status)
			}
		}
	})
}
