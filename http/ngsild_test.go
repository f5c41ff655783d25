package http_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestNGSILD exercises the NGSI-LD entity API as GS CIM 009 describes it:
// statuses, ProblemDetails types, JSON-LD expansion and compaction,
// options, batch results, tenants.
func TestNGSILD(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gateway", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		reader, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "reader", Scopes: []string{"data:read"}})
		const base = "/ngsi-ld/v1/"
		id := "urn:ngsi-ld:AirQualityObserved:hue-dong-ba"
		entity := `{"id":"` + id + `","type":"AirQualityObserved",
			"pm25":{"type":"Property","value":38.2,"unitCode":"GQ","observedAt":"2026-05-01T07:55:00Z"},
			"name":{"type":"Property","value":"Chợ Đông Ba"},
			"refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:aq-1"},
			"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[107.588,16.472]}}}`
		res, body := ts.do("POST", base+"entities", key, entity)
		if res.StatusCode != 201 || res.Header.Get("Location") != base+"entities/"+id {
			t.Fatalf("create = %d %s %s", res.StatusCode, res.Header.Get("Location"), body)
		}
		problemType := func(body string) string {
			var p struct{ Type string }
			json.Unmarshal([]byte(body), &p)
			return strings.TrimPrefix(p.Type, "https://uri.etsi.org/ngsi-ld/errors/")
		}
		for _, tt := range []struct {
			name, method, path, auth, body string
			hdr                            []string
			status                         int
			ptype                          string
		}{
			{"exists", "POST", "entities", key, entity, nil, 409, "AlreadyExists"},
			{"bad json", "POST", "entities", key, `{"id":`, nil, 400, "InvalidRequest"},
			{"no type", "POST", "entities", key, `{"id":"urn:x:1"}`, nil, 400, "BadRequestData"},
			{"bad id", "POST", "entities", key, `{"id":"not a uri","type":"T"}`, nil, 400, "BadRequestData"},
			{"bad attribute", "POST", "entities", key, `{"id":"urn:x:1","type":"T","a":{"type":"Relationship"}}`, nil, 400, "BadRequestData"},
			{"attribute not an object", "POST", "entities", key, `{"id":"urn:x:1","type":"T","a":5}`, nil, 400, "BadRequestData"},
			{"read-only key", "POST", "entities", reader, `{"id":"urn:x:1","type":"T"}`, nil, 403, "Forbidden"},
			{"no key", "GET", "entities/" + id, "", "", nil, 401, "Unauthorized"},
			{"missing", "GET", "entities/urn:x:nope", key, "", nil, 404, "ResourceNotFound"},
			{"query without filter", "GET", "entities", key, "", nil, 400, "BadRequestData"},
			{"bad q", "GET", "entities?type=AirQualityObserved&q=pm25%3D%3D", key, "", nil, 400, "BadRequestData"},
			{"bad tenant", "GET", "entities/" + id, key, "", []string{"NGSILD-Tenant", "../x"}, 400, "BadRequestData"},
			{"unknown context", "GET", "entities/" + id, key, "", []string{"Link", `<https://example.org/unknown.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`}, 503, "LdContextNotAvailable"},
			{"unknown batch", "POST", "entityOperations/merge", key, `[]`, nil, 404, "ResourceNotFound"},
		} {
			res, body := ts.do(tt.method, base+tt.path, tt.auth, tt.body, tt.hdr...)
			if res.StatusCode != tt.status || problemType(body) != tt.ptype || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %d %s %s; want %d %s", tt.name, res.StatusCode, res.Header.Get("Content-Type"), body, tt.status, tt.ptype)
			}
		}

		// Retrieve: short names come back with the core context in a Link.
		res, body = ts.do("GET", base+"entities/"+id, key, "")
		var got map[string]any
		json.Unmarshal([]byte(body), &got)
		pm, _ := got["pm25"].(map[string]any)
		if res.StatusCode != 200 || got["type"] != "AirQualityObserved" || pm["value"] != 38.2 || pm["unitCode"] != "GQ" ||
			!strings.Contains(res.Header.Get("Link"), "json-ld#context") {
			t.Fatalf("retrieve = %d %s link %q", res.StatusCode, body, res.Header.Get("Link"))
		}
		_, body = ts.do("GET", base+"entities/"+id+"?options=keyValues&attrs=pm25,refDevice", key, "")
		if body != `{"id":"`+id+`","pm25":38.2,"refDevice":"urn:ngsi-ld:Device:aq-1","type":"AirQualityObserved"}`+"\n" {
			t.Errorf("keyValues = %s", body)
		}
		res, body = ts.do("GET", base+"entities/"+id+"?options=sysAttrs", key, "", "Accept", "application/ld+json")
		if res.Header.Get("Content-Type") != "application/ld+json" || !strings.Contains(body, `"@context"`) || !strings.Contains(body, `"createdAt"`) {
			t.Errorf("ld+json with sysAttrs = %s %s", res.Header.Get("Content-Type"), body)
		}

		// Update and append.
		if res, body := ts.do("PATCH", base+"entities/"+id+"/attrs", key, `{"pm25":{"type":"Property","value":55.1,"observedAt":"2026-05-01T08:00:00Z"}}`); res.StatusCode != 204 {
			t.Errorf("update = %d %s", res.StatusCode, body)
		}
		res, body = ts.do("PATCH", base+"entities/"+id+"/attrs", key, `{"pm10":{"type":"Property","value":80}}`)
		if res.StatusCode != 207 || !strings.Contains(body, `"notUpdated":[{"attributeName":"pm10"`) {
			t.Errorf("update unknown = %d %s", res.StatusCode, body)
		}
		res, body = ts.do("POST", base+"entities/"+id+"/attrs?options=noOverwrite", key, `{"pm25":{"type":"Property","value":1},"pm10":{"type":"Property","value":80}}`)
		if res.StatusCode != 207 || !strings.Contains(body, `"updated":["pm10"]`) {
			t.Errorf("append noOverwrite = %d %s", res.StatusCode, body)
		}

		// Query: type, q, count, paging.
		batch := `[{"id":"urn:ngsi-ld:AirQualityObserved:hue-2","type":"AirQualityObserved","pm25":{"type":"Property","value":12}},
			{"id":"urn:ngsi-ld:AirQualityObserved:hue-3","type":"AirQualityObserved","pm25":{"type":"Property","value":70}},
			{"id":"bad","type":"AirQualityObserved"}]`
		res, body = ts.do("POST", base+"entityOperations/upsert", key, batch)
		if res.StatusCode != 207 || !strings.Contains(body, `"success":["urn:ngsi-ld:AirQualityObserved:hue-2","urn:ngsi-ld:AirQualityObserved:hue-3"]`) ||
			!strings.Contains(body, `"entityId":"bad"`) {
			t.Fatalf("batch upsert = %d %s", res.StatusCode, body)
		}
		res, body = ts.do("GET", base+"entities?type=AirQualityObserved&q=pm25%3E30&count=true", key, "")
		var list []map[string]any
		json.Unmarshal([]byte(body), &list)
		if res.StatusCode != 200 || len(list) != 2 || res.Header.Get("NGSILD-Results-Count") != "2" {
			t.Errorf("q pm25>30 = %d %d %s", res.StatusCode, len(list), res.Header.Get("NGSILD-Results-Count"))
		}
		_, body = ts.do("GET", base+"entities?type=AirQualityObserved&limit=1&offset=1&count=true", key, "")
		json.Unmarshal([]byte(body), &list)
		if len(list) != 1 || list[0]["id"] != "urn:ngsi-ld:AirQualityObserved:hue-3" { // ids sort: hue-2, hue-3, hue-dong-ba
			t.Errorf("page 2 = %s", body)
		}
		_, body = ts.do("GET", base+"entities?idPattern=hue-%5B23%5D%24&attrs=pm25", key, "")
		json.Unmarshal([]byte(body), &list)
		if len(list) != 2 {
			t.Errorf("idPattern = %s", body)
		}
		_, body = ts.do("GET", base+"types", key, "")
		if !strings.Contains(body, `"typeList":["AirQualityObserved"]`) {
			t.Errorf("types = %s", body)
		}
		_, body = ts.do("GET", base+"attributes", reader, "")
		if !strings.Contains(body, `"pm25"`) || !strings.Contains(body, `"location"`) {
			t.Errorf("attributes = %s", body)
		}

		// A user context in an ld+json body expands pm25 elsewhere.
		ld := `{"@context":[{"pm25":"https://smartdatamodels.org/dataModel.Environment/pm25"}],"id":"urn:x:sdm","type":"AirQualityObserved",
			"pm25":{"type":"Property","value":9}}`
		if res, body := ts.do("POST", base+"entities", key, ld, "Content-Type", "application/ld+json"); res.StatusCode != 201 {
			t.Fatalf("ld+json create = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"entities/urn:x:sdm", key, "")
		if !strings.Contains(body, `"https://smartdatamodels.org/dataModel.Environment/pm25"`) {
			t.Errorf("without the user context the SDM term stays expanded: %s", body)
		}

		// Tenants are separate.
		if res, _ := ts.do("GET", base+"entities/"+id, key, "", "NGSILD-Tenant", "hoian"); res.StatusCode != 404 {
			t.Errorf("another tenant = %d", res.StatusCode)
		}
		// Delete an attribute, then the entity.
		if res, body := ts.do("DELETE", base+"entities/"+id+"/attrs/pm10", key, ""); res.StatusCode != 204 {
			t.Errorf("delete attr = %d %s", res.StatusCode, body)
		}
		if res, _ := ts.do("DELETE", base+"entities/"+id, key, ""); res.StatusCode != 204 {
			t.Errorf("delete = %d", res.StatusCode)
		}
		if res, body := ts.do("GET", base+"entities/"+id, key, ""); res.StatusCode != 404 || problemType(body) != "ResourceNotFound" {
			t.Errorf("after delete = %d %s", res.StatusCode, body)
		}
	})
}

func TestNGSILDTemporal(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gauge", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		const base = "/ngsi-ld/v1/"
		id := "urn:ngsi-ld:FloodMonitoring:hue-kim-long"
		level := func(v float64, at string) string {
			return `{"currentLevel":{"type":"Property","value":` + strconv.FormatFloat(v, 'f', -1, 64) + `,"unitCode":"MTR","observedAt":"` + at + `"}}`
		}
		if res, body := ts.do("POST", base+"entities", key, `{"id":"`+id+`","type":"FloodMonitoring","currentLevel":{"type":"Property","value":1.2,"unitCode":"MTR","observedAt":"2026-11-01T00:00:00Z"}}`); res.StatusCode != 201 {
			t.Fatalf("create = %d %s", res.StatusCode, body)
		}
		for i, v := range []float64{1.8, 2.6, 3.7} {
			at := "2026-11-01T0" + strconv.Itoa(i+1) + ":00:00Z"
			if res, body := ts.do("PATCH", base+"entities/"+id+"/attrs", key, level(v, at)); res.StatusCode != 204 {
				t.Fatalf("update = %d %s", res.StatusCode, body)
			}
		}
		var got map[string]any
		res, body := ts.do("GET", base+"temporal/entities/"+id+"?attrs=currentLevel", key, "")
		json.Unmarshal([]byte(body), &got)
		list, _ := got["currentLevel"].([]any)
		if res.StatusCode != 200 || len(list) != 4 {
			t.Fatalf("temporal = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"temporal/entities/"+id+"?attrs=currentLevel&lastN=2&options=temporalValues", key, "")
		if !strings.Contains(body, `"values":[[2.6,"2026-11-01T02:00:00Z"],[3.7,"2026-11-01T03:00:00Z"]]`) {
			t.Errorf("lastN=2 temporalValues = %s", body)
		}
		_, body = ts.do("GET", base+"temporal/entities/"+id+"?timerel=between&timeAt=2026-11-01T00:30:00Z&endTimeAt=2026-11-01T02:30:00Z&options=temporalValues", key, "")
		if !strings.Contains(body, `[[1.8,"2026-11-01T01:00:00Z"],[2.6,"2026-11-01T02:00:00Z"]]`) {
			t.Errorf("between = %s", body)
		}
		_, body = ts.do("GET", base+"temporal/entities?type=FloodMonitoring&timerel=after&timeAt=2026-11-01T02:30:00Z&options=temporalValues", key, "")
		if !strings.Contains(body, `[[3.7,"2026-11-01T03:00:00Z"]]`) {
			t.Errorf("temporal query = %s", body)
		}
		// q selects by the current state.
		for qs, want := range map[string]bool{"currentLevel>3": true, "currentLevel<3": false} {
			_, body = ts.do("GET", base+"temporal/entities?type=FloodMonitoring&q="+qs+"&timerel=after&timeAt=2026-11-01T02:30:00Z&options=temporalValues", key, "")
			if strings.Contains(body, id) != want {
				t.Errorf("temporal query q=%s = %s", qs, body)
			}
		}
		// Aggregations over two-hour periods.
		res, body = ts.do("GET", base+"temporal/entities/"+id+"?attrs=currentLevel&timerel=between&timeAt=2026-11-01T00:00:00Z&endTimeAt=2026-11-01T04:00:00Z&aggrMethods=avg,max,totalCount&aggrPeriodDuration=PT2H", key, "")
		for _, want := range []string{`"avg":[[1.5,"2026-11-01T00:00:00Z","2026-11-01T02:00:00Z"],[3.1500000000000004,"2026-11-01T02:00:00Z","2026-11-01T04:00:00Z"]]`,
			`"max":[[1.8,"2026-11-01T00:00:00Z","2026-11-01T02:00:00Z"],[3.7,`, `"totalCount":[[2,`} {
			if res.StatusCode != 200 || !strings.Contains(body, want) {
				t.Errorf("aggregation = %d %s; want %s", res.StatusCode, body, want)
			}
		}
		for _, q := range []string{"temporal/entities/" + id + "?aggrMethods=median&timerel=between&timeAt=2026-11-01T00:00:00Z&endTimeAt=2026-11-02T00:00:00Z",
			"temporal/entities/" + id + "?aggrMethods=avg",
			"temporal/entities/" + id + "?aggrMethods=avg&aggrPeriodDuration=P1M&timerel=between&timeAt=2026-11-01T00:00:00Z&endTimeAt=2026-11-02T00:00:00Z",
			"temporal/entities/" + id + "?aggrMethods=avg&aggrPeriodDuration=PT1S&timerel=between&timeAt=2026-01-01T00:00:00Z&endTimeAt=2026-11-02T00:00:00Z",
			"temporal/entities/" + id + "?timerel=during&timeAt=2026-11-01T00:00:00Z",
			"temporal/entities/" + id + "?timerel=after&timeAt=yesterday",
			"temporal/entities/" + id + "?timerel=between&timeAt=2026-11-02T00:00:00Z&endTimeAt=2026-11-01T00:00:00Z",
			"temporal/entities/" + id + "?lastN=0",
			"temporal/entities?type=FloodMonitoring"} {
			if res, body := ts.do("GET", base+q, key, ""); res.StatusCode != 400 || !strings.Contains(body, "BadRequestData") {
				t.Errorf("%s = %d %s", q, res.StatusCode, body)
			}
		}
	})
}

func TestNGSILDGeo(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "geo", Scopes: []string{"data:read", "data:write"}})
	if err != nil {
		t.Fatal(err)
	}
	const base = "/ngsi-ld/v1/"
	batch := `[`
	for i, p := range []struct{ name, lon, lat string }{{"dong-ba", "107.588", "16.472"}, {"kim-long", "107.556", "16.466"}, {"lang-co", "108.05", "16.25"}} {
		if i > 0 {
			batch += ","
		}
		batch += `{"id":"urn:ngsi-ld:AirQualityObserved:` + p.name + `","type":"AirQualityObserved","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[` + p.lon + `,` + p.lat + `]}}}`
	}
	if res, body := ts.do("POST", base+"entityOperations/create", key, batch+`]`); res.StatusCode != 201 {
		t.Fatalf("create = %d %s", res.StatusCode, body)
	}
	ids := func(body string) string {
		var list []map[string]any
		json.Unmarshal([]byte(body), &list)
		var out []string
		for _, e := range list {
			s, _ := e["id"].(string)
			out = append(out, strings.TrimPrefix(s, "urn:ngsi-ld:AirQualityObserved:"))
		}
		return strings.Join(out, ",")
	}
	centre := `[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]`
	for _, tt := range []struct{ q, want string }{
		{"georel=near;maxDistance==2000&geometry=Point&coordinates=[107.585,16.47]", "dong-ba"},
		{"georel=near;minDistance==50000&geometry=Point&coordinates=[107.585,16.47]", "lang-co"},
		{"georel=within&geometry=Polygon&coordinates=" + centre, "dong-ba,kim-long"},
		{"georel=intersects&geometry=Polygon&coordinates=" + centre, "dong-ba,kim-long"},
		{"georel=disjoint&geometry=Polygon&coordinates=" + centre, "lang-co"},
		{"georel=equals&geometry=Point&coordinates=[107.556,16.466]", "kim-long"},
		{"type=AirQualityObserved&georel=near;maxDistance==5000&geometry=Point&coordinates=[107.57,16.47]", "dong-ba,kim-long"},
		{"georel=contains&geometry=Polygon&coordinates=" + centre, ""},
		{"georel=within&geometry=LineString&coordinates=[[107.5,16.472],[107.6,16.472]]", "dong-ba"}, // on the line
	} {
		res, body := ts.do("GET", base+"entities?"+strings.ReplaceAll(tt.q, ";", "%3B"), key, "")
		if res.StatusCode != 200 || ids(body) != tt.want {
			t.Errorf("%s = %d %s; want %s", tt.q, res.StatusCode, ids(body), tt.want)
		}
	}
	for _, q := range []string{
		"georel=near&geometry=Point&coordinates=[107,16]",
		"georel=near;maxDistance==10&geometry=Point&coordinates=north",
		"georel=within&geometry=Polygon&coordinates=[[[107,16],[108,16],[108,17]]]",
		"geometry=Point&coordinates=[107,16]",
	} {
		if res, body := ts.do("GET", base+"entities?"+strings.ReplaceAll(q, ";", "%3B"), key, ""); res.StatusCode != 400 || !strings.Contains(body, "BadRequestData") {
			t.Errorf("%s = %d %s", q, res.StatusCode, body)
		}
	}
}

func TestDevicesAPI(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	key, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gw", Scopes: []string{"data:read", "data:write"}})
	dev := `{"id":"gauge-1","key":"hue","entity_id":"urn:ngsi-ld:FloodMonitoring:hue-kim-long","entity_type":"FloodMonitoring",
		"attrs":[{"object_id":"l","name":"currentLevel","unit_code":"MTR"}]}`
	if res, body := ts.do("POST", "/api/v1/devices", key, dev); res.StatusCode != 201 {
		t.Fatalf("create device = %d %s", res.StatusCode, body)
	}
	if res, _ := ts.do("POST", "/api/v1/devices", key, dev); res.StatusCode != 409 {
		t.Errorf("duplicate device = %d", res.StatusCode)
	}
	if res, body := ts.do("POST", "/api/v1/devices", key, `{"id":"bad id/x","key":"hue","entity_id":"nope","attrs":[]}`); res.StatusCode != 400 ||
		!strings.Contains(body, `"entity_id"`) || !strings.Contains(body, `"attrs"`) {
		t.Errorf("bad device = %d %s", res.StatusCode, body)
	}
	if res, body := ts.do("POST", "/api/v1/devices/hue/gauge-1/attrs", key, `{"l":2.4,"TimeInstant":"2026-11-28T02:00:00Z"}`); res.StatusCode != 204 {
		t.Fatalf("measure = %d %s", res.StatusCode, body)
	}
	_, body := ts.do("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:FloodMonitoring:hue-kim-long?options=keyValues", key, "")
	if !strings.Contains(body, `"currentLevel":2.4`) {
		t.Errorf("entity after a measurement = %s", body)
	}
	// The device's names are NGSI-LD's: queries with short names find them.
	_, body = ts.do("GET", "/ngsi-ld/v1/entities?type=FloodMonitoring&q=currentLevel>2&options=keyValues", key, "")
	if !strings.Contains(body, `"currentLevel":2.4`) {
		t.Errorf("query after a measurement = %s", body)
	}
	_, body = ts.do("GET", "/api/v1/devices", key, "")
	if !strings.Contains(body, `"entity_type":"FloodMonitoring"`) || !strings.Contains(body, `"name":"currentLevel"`) {
		t.Errorf("devices = %s", body)
	}
	for path, want := range map[string]int{"/api/v1/devices/hue/ghost/attrs": 404, "/api/v1/devices/hue/gauge-1/attrs": 400} {
		if res, _ := ts.do("POST", path, key, `{"zz":1}`); res.StatusCode != want {
			t.Errorf("POST %s = %d, want %d", path, res.StatusCode, want)
		}
	}
	if res, _ := ts.do("DELETE", "/api/v1/devices/hue/gauge-1", key, ""); res.StatusCode != 204 {
		t.Errorf("delete device = %d", res.StatusCode)
	}
}
