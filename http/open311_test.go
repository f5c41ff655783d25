package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// postForm sends an Open311 form post.
func (ts *testServer) postForm(path string, form url.Values) (*http.Response, string) {
	ts.t.Helper()
	res, err := http.PostForm(ts.url+path, form)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestOpen311 checks the GeoReport v2 surface against the specification
// (wiki.open311.org/GeoReport_v2): paths, formats, fields, error codes.
func TestOpen311(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "partner app", Scopes: []string{"open311:write"}})
		if err != nil {
			t.Fatal(err)
		}
		readKey, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "reader", Scopes: []string{"org:read"}})
		const base = "/open311/v2/"

		// Discovery.
		res, body := ts.do("GET", base+"discovery.json", "", "")
		var disc struct {
			Endpoints []struct {
				Specification, URL, Type string
				Formats                  []string
			}
		}
		if err := json.Unmarshal([]byte(body), &disc); err != nil || res.StatusCode != 200 || len(disc.Endpoints) != 1 ||
			disc.Endpoints[0].Specification != "http://wiki.open311.org/GeoReport_v2" || len(disc.Endpoints[0].Formats) != 2 {
			t.Fatalf("discovery.json = %d %s", res.StatusCode, body)
		}
		res, body = ts.do("GET", base+"discovery.xml", "", "")
		if !strings.Contains(body, "<discovery>") || !strings.Contains(body, "<format>text/xml</format>") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/xml") {
			t.Fatalf("discovery.xml = %s", body)
		}

		// Services: one per active category, grouped by sector.
		var services []map[string]any
		_, body = ts.do("GET", base+"services.json?lang=en", "", "")
		if err := json.Unmarshal([]byte(body), &services); err != nil || len(services) != 25 {
			t.Fatalf("services.json: %v, %d services: %s", err, len(services), body)
		}
		for _, k := range []string{"service_code", "service_name", "description", "metadata", "type", "keywords", "group"} {
			if _, ok := services[0][k]; !ok {
				t.Errorf("a service lacks %q", k)
			}
		}
		var sx struct {
			Services []struct {
				Code string `xml:"service_code"`
				Type string `xml:"type"`
			} `xml:"service"`
		}
		_, body = ts.do("GET", base+"services.xml", "", "")
		if err := xml.Unmarshal([]byte(body), &sx); err != nil || len(sx.Services) != 25 || sx.Services[0].Type != "realtime" {
			t.Fatalf("services.xml: %v %s", err, body)
		}
		res, body = ts.do("GET", base+"services/environment.waste.json", "", "")
		if res.StatusCode != 200 || body != "{\"service_code\":\"environment.waste\",\"attributes\":[]}\n" {
			t.Errorf("service definition = %d %q", res.StatusCode, body)
		}
		// A category with questions: metadata true, attributes in the definition.
		if !strings.Contains(string(mustJSON(t, services, "transport.road_damage")), `"metadata":true`) {
			t.Errorf("road damage service does not say metadata true")
		}
		res, body = ts.do("GET", base+"services/transport.road_damage.json?lang=en", "", "")
		if res.StatusCode != 200 || !strings.Contains(body, `"code":"size"`) || !strings.Contains(body, `"datatype":"singlevaluelist"`) ||
			!strings.Contains(body, `"variable":true`) || !strings.Contains(body, `{"key":"large","name":"Large (over 2 m)"}`) {
			t.Errorf("definition with attributes = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"services/transport.road_damage.xml", "", "")
		if !strings.Contains(body, "<attributes><attribute><variable>true</variable><code>size</code>") || !strings.Contains(body, "<values><value><key>small</key>") {
			t.Errorf("definition.xml = %s", body)
		}
		res, body = ts.do("GET", base+"services/nope.xml", "", "")
		if res.StatusCode != 404 || !strings.Contains(body, "<errors><error><code>404</code>") {
			t.Errorf("unknown service.xml = %d %s", res.StatusCode, body)
		}

		// POST requests: form-encoded, api_key required.
		form := url.Values{"service_code": {"environment.waste"}, "lat": {"16.474"}, "long": {"107.578"},
			"description": {"Rác bên đường"}, "email": {"dan@example.vn"}, "first_name": {"Lê"}, "last_name": {"Dân"}}
		for _, tt := range []struct {
			name   string
			key    string
			status int
			want   string
		}{
			{"no key", "", 403, `[{"code":403,`},
			{"bad key", "cok_00000000_nope", 403, `"code":403`},
			{"key without the scope", readKey, 403, `open311:write`},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tt.key != "" {
				f.Set("api_key", tt.key)
			}
			res, body := ts.postForm(base+"requests.json", f)
			if res.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%s = %d %s", tt.name, res.StatusCode, body)
			}
		}
		for _, tt := range []struct {
			name, field, value, want string
		}{
			{"no service_code", "service_code", "", "service_code"},
			{"unknown service", "service_code", "nope", "service_code"},
			{"outside the city", "lat", "21.0", "lat"},
			{"lat not a number", "lat", "north", "lat"},
		} {
			f := url.Values{"api_key": {key}}
			for k, v := range form {
				f[k] = v
			}
			f.Set(tt.field, tt.value)
			res, body := ts.postForm(base+"requests.json", f)
			if res.StatusCode != 400 || !strings.Contains(body, `"code":400`) || !strings.Contains(body, tt.want) {
				t.Errorf("%s = %d %s", tt.name, res.StatusCode, body)
			}
		}
		form.Set("api_key", key)
		res, body = ts.postForm(base+"requests.json", form)
		var created []struct {
			ID     string `json:"service_request_id"`
			Notice string `json:"service_notice"`
		}
		if err := json.Unmarshal([]byte(body), &created); err != nil || res.StatusCode != 201 || len(created) != 1 || created[0].ID == "" {
			t.Fatalf("POST requests.json = %d %s", res.StatusCode, body)
		}
		id := created[0].ID
		res, body = ts.postForm(base+"requests.xml", form)
		if res.StatusCode != 201 || !regexp.MustCompile(`<service_requests><request><service_request_id>[0-9A-Z]{8}</service_request_id>`).MatchString(body) {
			t.Fatalf("POST requests.xml = %d %s", res.StatusCode, body)
		}
		// The report is a real one in the workflow, routed to HEPCO.
		rep, err := db.FindReportByTracking(sysCtx(), id)
		if err != nil || rep.Channel != cityops.ChannelOpen311 || rep.Agency != "HEPCO" || rep.ReporterEmail != "dan@example.vn" {
			t.Fatalf("stored = %+v, %v", rep, err)
		}

		// media_url: an outside link is kept (not fetched); one of our photos is attached.
		ext := url.Values{"api_key": {key}, "service_code": {"environment.waste"}, "address_string": {"Lê Lợi"}, "description": {"rác"},
			"media_url": {"https://partner.example/photos/1.jpg"}}
		_, body = ts.postForm(base+"requests.json", ext)
		extID := regexp.MustCompile(`"service_request_id":"([0-9A-Z]+)"`).FindStringSubmatch(body)[1]
		if _, body := ts.do("GET", base+"requests/"+extID+".json", "", ""); !strings.Contains(body, `"media_url":"https://partner.example/photos/1.jpg"`) {
			t.Errorf("external media_url not kept: %s", body)
		}
		ext.Set("media_url", "javascript:alert(1)")
		if res, body := ts.postForm(base+"requests.json", ext); res.StatusCode != 400 || !strings.Contains(body, "media_url") {
			t.Errorf("bad media_url = %d %s", res.StatusCode, body)
		}
		upReq, _ := http.NewRequest("POST", ts.url+"/api/v1/photos", bytes.NewReader(pngBytes(t, 40, 30)))
		upReq.Header.Set("Content-Type", "image/png")
		upRes, err := http.DefaultClient.Do(upReq)
		if err != nil {
			t.Fatal(err)
		}
		upRes.Body.Close()
		own := ts.url + upRes.Header.Get("Location")
		ext.Set("media_url", own)
		_, body = ts.postForm(base+"requests.json", ext)
		ownID := regexp.MustCompile(`"service_request_id":"([0-9A-Z]+)"`).FindStringSubmatch(body)[1]
		if _, body := ts.do("GET", base+"requests.json?service_request_id="+ownID, "", ""); !strings.Contains(body, `"media_url":"`+own+`"`) {
			t.Errorf("own photo's media_url = %s; want %s", body, own)
		}
		// attribute[code] on POST.
		road := url.Values{"api_key": {key}, "service_code": {"transport.road_damage"}, "address_string": {"Lê Lợi"}, "description": {"ổ gà"}}
		res, body = ts.postForm(base+"requests.json", road)
		if res.StatusCode != 400 || !strings.Contains(body, "attribute[size]") {
			t.Errorf("road damage without size = %d %s", res.StatusCode, body)
		}
		road.Set("attribute[size]", "large")
		if res, body := ts.postForm(base+"requests.json", road); res.StatusCode != 201 {
			t.Errorf("road damage with size = %d %s", res.StatusCode, body)
		}
		tree := url.Values{"api_key": {key}, "service_code": {"environment.fallen_tree"}, "address_string": {"Lê Lợi"}, "description": {"cây đổ"},
			"attribute[blocking][]": {"road", "pavement"}}
		if res, body := ts.postForm(base+"requests.json", tree); res.StatusCode != 201 {
			t.Errorf("multi-value attribute = %d %s", res.StatusCode, body)
		}
		// GET requests: public, without personal data, with the spec's fields.
		_, body = ts.do("GET", base+"requests.json?service_request_id="+id, "", "")
		var reqs []map[string]any
		if err := json.Unmarshal([]byte(body), &reqs); err != nil || len(reqs) != 1 {
			t.Fatalf("requests.json by id: %v %s", err, body)
		}
		r0 := reqs[0]
		if r0["status"] != "open" || r0["extended_status"] != "assigned" || r0["service_code"] != "environment.waste" ||
			r0["lat"] != 16.474 || r0["long"] != 107.578 || !strings.HasSuffix(r0["requested_datetime"].(string), "+07:00") ||
			r0["agency_responsible"] == "" || r0["expected_datetime"] == nil {
			t.Errorf("request = %v", r0)
		}
		if strings.Contains(body, "dan@example.vn") || strings.Contains(body, "Dân") {
			t.Errorf("public request shows personal data: %s", body)
		}
		for q, want := range map[string]int{
			"":                                   6,
			"?service_code=environment.waste":    4,
			"?service_code=health.service":       0,
			"?status=closed":                     0,
			"?status=open":                       6,
			"?page_size=1":                       1,
			"?page_size=1&page=7":                0,
			"?page_size=1&page=6":                1,
			"?lat=16.474&long=107.578&radius=50": 2,
			"?service_code=environment.waste,environment.fallen_tree":        5,
			"?lat=16.30&long=107.17&radius=500":                              0,
			"?start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z": 0,
		} {
			_, body := ts.do("GET", base+"requests.json"+q, "", "")
			var got []any
			if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != want {
				t.Errorf("requests.json%s = %d requests (%v); want %d", q, len(got), err, want)
			}
		}
		for _, q := range []string{"?status=pending", "?start_date=yesterday", "?page_size=5000", "?lat=16.4"} {
			res, body := ts.do("GET", base+"requests.json"+q, "", "")
			if res.StatusCode != 400 || !strings.HasPrefix(body, `[{"code":400`) {
				t.Errorf("requests.json%s = %d %s", q, res.StatusCode, body)
			}
		}
		_, body = ts.do("GET", base+"requests.xml?service_request_id="+id, "", "")
		var rx struct {
			XMLName  xml.Name `xml:"service_requests"`
			Requests []struct {
				ID     string  `xml:"service_request_id"`
				Status string  `xml:"status"`
				Lat    float64 `xml:"lat"`
			} `xml:"request"`
		}
		if err := xml.Unmarshal([]byte(body), &rx); err != nil || len(rx.Requests) != 1 || rx.Requests[0].ID != id || rx.Requests[0].Lat != 16.474 {
			t.Errorf("requests.xml: %v %s", err, body)
		}
		res, body = ts.do("GET", base+"requests/"+id+".json", "", "")
		if res.StatusCode != 200 || !strings.HasPrefix(body, `[{"service_request_id":"`+id+`"`) {
			t.Errorf("requests/{id}.json = %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("GET", base+"requests/ZZZZZZZZ.json", "", ""); res.StatusCode != 404 || !strings.Contains(body, `"code":404`) {
			t.Errorf("unknown request = %d %s", res.StatusCode, body)
		}
		res, body = ts.do("GET", base+"tokens/"+id+".json", "", "")
		if res.StatusCode != 200 || body != `[{"service_request_id":"`+id+`","token":"`+id+`"}]`+"\n" {
			t.Errorf("tokens = %d %q", res.StatusCode, body)
		}

		// Status changes flow out as updates; a resolved report is closed.
		hepco := staff(ts, cityops.RoleAgencyOfficer, "HEPCO")
		for _, a := range []string{`{"action":"accept"}`, `{"action":"resolve","note":"Đã thu gom"}`} {
			if res, out := ts.do("POST", "/api/v1/reports/"+id+"/actions", hepco, a); res.StatusCode != 200 {
				t.Fatalf("%s = %d %s", a, res.StatusCode, out)
			}
		}
		_, body = ts.do("GET", base+"requests/"+id+".json", "", "")
		if !strings.Contains(body, `"status":"closed"`) || !strings.Contains(body, `"status_notes":"Đã thu gom"`) {
			t.Errorf("resolved request = %s", body)
		}
		_, body = ts.do("GET", base+"servicerequestupdates.json", "", "")
		var upd struct {
			Updates []struct {
				ID     string `json:"service_request_id"`
				Status string `json:"status"`
			} `json:"service_request_updates"`
		}
		if err := json.Unmarshal([]byte(body), &upd); err != nil || len(upd.Updates) < 3 || upd.Updates[len(upd.Updates)-1].Status != "closed" {
			t.Errorf("servicerequestupdates = %v %s", err, body)
		}
		if strings.Contains(body, "@hue.gov.vn") {
			t.Errorf("updates name staff: %s", body)
		}
	})
}

// TestOpen311PostUpdates: an agency's own system works a report and
// cityops follows (FixMyStreet's POST servicerequestupdates).
func TestOpen311PostUpdates(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		hepcoKey, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "HEPCO dispatch", Scopes: []string{"open311:write"}, Agency: "HEPCO"})
		if err != nil {
			t.Fatal(err)
		}
		sytKey, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "SYT", Scopes: []string{"open311:write"}, Agency: "SYT"})
		if _, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "x", Scopes: []string{"open311:write"}, Agency: "NOPE"}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("key for an unknown agency: %v", err)
		}
		lat, lon := 16.474, 107.578
		r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: &lat, Lon: &lon})
		if err != nil {
			t.Fatal(err)
		}
		post := func(key string, form url.Values) (*http.Response, string) {
			form.Set("api_key", key)
			form.Set("service_request_id", r.Tracking)
			return ts.postForm("/open311/v2/servicerequestupdates.json", form)
		}
		if res, body := post(sytKey, url.Values{"status": {"in_progress"}}); res.StatusCode != 403 {
			t.Errorf("another agency's update = %d %s", res.StatusCode, body)
		}
		res, body := post(hepcoKey, url.Values{"status": {"IN_PROGRESS"}, "description": {"Đã điều xe"}})
		if res.StatusCode != 200 || !strings.Contains(body, `"extended_status":"in_progress"`) {
			t.Fatalf("in_progress = %d %s", res.StatusCode, body)
		}
		if res, body := post(hepcoKey, url.Values{"status": {"in_progress"}}); res.StatusCode != 200 || !strings.Contains(body, `"extended_status":"in_progress"`) {
			t.Errorf("repeated update = %d %s", res.StatusCode, body)
		}
		if res, body := post(hepcoKey, url.Values{"status": {"fixed"}}); res.StatusCode != 400 || !strings.Contains(body, "description") {
			t.Errorf("fixed without a description = %d %s", res.StatusCode, body)
		}
		if res, body := post(hepcoKey, url.Values{"status": {"teleported"}}); res.StatusCode != 400 || !strings.Contains(body, "status") {
			t.Errorf("unknown status = %d %s", res.StatusCode, body)
		}
		res, body = post(hepcoKey, url.Values{"status": {"fixed"}, "description": {"Đã thu gom"}})
		if res.StatusCode != 200 || !strings.Contains(body, `"status":"closed"`) || !strings.Contains(body, `"extended_status":"resolved"`) {
			t.Fatalf("fixed = %d %s", res.StatusCode, body)
		}
		got, _ := db.FindReportByTracking(sysCtx(), r.Tracking)
		if got.Resolution != "Đã thu gom" {
			t.Errorf("resolution = %q", got.Resolution)
		}
		events, _ := db.ReportEvents(sysCtx(), r.Tracking)
		var acts []string
		for _, e := range events {
			acts = append(acts, e.Action)
		}
		if strings.Join(acts, ",") != "receive,assign,accept,start,resolve" {
			t.Errorf("timeline = %v", acts)
		}
		if res, _ := ts.postForm("/open311/v2/servicerequestupdates.json", url.Values{"status": {"fixed"}}); res.StatusCode != 403 {
			t.Errorf("no key = %d", res.StatusCode)
		}
	})
}

// mustJSON returns the service with the code from a decoded list.
func mustJSON(t *testing.T, list []map[string]any, code string) []byte {
	t.Helper()
	for _, s := range list {
		if s["service_code"] == code {
			b, _ := json.Marshal(s)
			return b
		}
	}
	t.Fatalf("no service %s", code)
	return nil
}

// staff signs in a new user of the role and agency.
func staff(ts *testServer, role, agency string) string {
	return ts.signIn(role, agency, "")
}
