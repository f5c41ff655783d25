package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/media"
)

const hueContext = "https://hue.example.org/context.jsonld"

// newSubscriptionServer is newTestServer with the notifier running and
// serving subscriptions, and one user context (hueContext) available.
func newSubscriptionServer(t *testing.T, db *storage.DB) (*testServer, *notify.Notifier) {
	t.Helper()
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	contexts := jsonld.NewCache()
	if err := contexts.Add(hueContext, []byte(`{"@context": {"sdm": "https://smartdatamodels.org/dataModel.Environment/",
		"AirQualityObserved": "sdm:AirQualityObserved", "pm25": "sdm:pm25", "no2": "sdm:no2"}}`)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := &notify.Notifier{Store: db, Entities: db, Contexts: contexts, Log: log, Backoff: 10 * time.Millisecond, FlushEvery: 20 * time.Millisecond}
	db.OnEntityChange(n.EntityChanged)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	srv, err := cityhttp.NewServer(cityhttp.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
		Reports: db, Routing: db, Outbox: db, Stats: db, Entities: db, Contexts: contexts, Devices: db, Retention: db, Subscriptions: n},
		cityhttp.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 64 << 10, Media: &media.Store{Dir: t.TempDir()}}, cat, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	ts := &testServer{Server: srv, db: db, url: srv.URL(), t: t}
	ts.admin = ts.signIn(cityops.RoleAdmin, "", "")
	return ts, n
}

// TestNGSISubscriptions exercises /ngsi-ld/v1/subscriptions as clause 5.8
// describes it: create, retrieve, query, update, delete, their errors,
// JSON-LD names, permissions and tenants.
func TestNGSISubscriptions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts, _ := newSubscriptionServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "dashboard", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		reader, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "reader", Scopes: []string{"data:read"}})
		const base = "/ngsi-ld/v1/subscriptions"
		id := "urn:ngsi-ld:Subscription:pm25-hue"
		sub := `{"id":"` + id + `","type":"Subscription","subscriptionName":"PM2.5 in Huế","description":"dust alerts",
			"entities":[{"idPattern":"^urn:ngsi-ld:AirQualityObserved:hue-","type":"AirQualityObserved"}],
			"watchedAttributes":["pm25"],"q":"pm25>35","throttling":30,"expiresAt":"2099-01-01T00:00:00Z",
			"geoQ":{"georel":"within","geometry":"Polygon","coordinates":[[[107.5,16.4],[107.7,16.4],[107.7,16.5],[107.5,16.5],[107.5,16.4]]]},
			"notification":{"attributes":["pm25","location"],"format":"keyValues",
				"endpoint":{"uri":"https://alerts.hue.example.org/ngsi","accept":"application/ld+json",
					"receiverInfo":[{"key":"Authorization","value":"Bearer secret"}]}}}`
		res, body := ts.do("POST", base, key, sub)
		if res.StatusCode != 201 || res.Header.Get("Location") != base+"/"+id {
			t.Fatalf("create = %d %s %s", res.StatusCode, res.Header.Get("Location"), body)
		}
		problem := func(body string) (string, string) {
			var p struct{ Type, Detail string }
			json.Unmarshal([]byte(body), &p)
			return strings.TrimPrefix(p.Type, "https://uri.etsi.org/ngsi-ld/errors/"), p.Detail
		}
		valid := func(change string) string { // a valid body with one member replaced or added
			return `{"type":"Subscription","entities":[{"type":"AirQualityObserved"}],"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}},` + change + `}`
		}
		for _, tt := range []struct {
			name, method, path, auth, body string
			hdr                            []string
			status                         int
			ptype, detail                  string
		}{
			{"duplicate", "POST", "", key, sub, nil, 409, "AlreadyExists", id},
			{"not json", "POST", "", key, `{"type":`, nil, 400, "InvalidRequest", "JSON"},
			{"array", "POST", "", key, `[]`, nil, 400, "BadRequestData", "one JSON object"},
			{"no type", "POST", "", key, `{"entities":[{"type":"T"}],"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}}`, nil, 400, "BadRequestData", "type"},
			{"wrong type", "POST", "", key, valid(`"type":"Entity"`), nil, 400, "BadRequestData", `type: must be "Subscription"`},
			{"no notification", "POST", "", key, `{"type":"Subscription","entities":[{"type":"T"}]}`, nil, 400, "BadRequestData", "notification"},
			{"no endpoint", "POST", "", key, `{"type":"Subscription","entities":[{"type":"T"}],"notification":{"format":"keyValues"}}`, nil, 400, "BadRequestData", "notification.endpoint.uri"},
			{"ftp endpoint", "POST", "", key, valid(`"notification":{"endpoint":{"uri":"ftp://x.org/n"}}`), nil, 400, "BadRequestData", "notification.endpoint.uri: must be an absolute http or https URL"},
			{"relative endpoint", "POST", "", key, valid(`"notification":{"endpoint":{"uri":"/notify"}}`), nil, 400, "BadRequestData", "notification.endpoint.uri"},
			{"bad accept", "POST", "", key, valid(`"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n","accept":"text/plain"}}`), nil, 400, "BadRequestData", "notification.endpoint.accept"},
			{"reserved header", "POST", "", key, valid(`"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n","receiverInfo":[{"key":"Content-Type","value":"x"}]}}`), nil, 400, "BadRequestData", "receiverInfo[0].key"},
			{"bad format", "POST", "", key, valid(`"notification":{"format":"geojson","endpoint":{"uri":"http://127.0.0.1:9/n"}}`), nil, 400, "BadRequestData", "notification.format"},
			{"showChanges", "POST", "", key, valid(`"notification":{"showChanges":true,"endpoint":{"uri":"http://127.0.0.1:9/n"}}`), nil, 400, "BadRequestData", "notification.showChanges: is not supported"},
			{"no entities nor watched", "POST", "", key, `{"type":"Subscription","notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}}`, nil, 400, "BadRequestData", "entities"},
			{"selector without type", "POST", "", key, valid(`"entities":[{"id":"urn:x:1"}]`), nil, 400, "BadRequestData", "entities[0].type: is required"},
			{"bad idPattern", "POST", "", key, valid(`"entities":[{"idPattern":"(","type":"T"}]`), nil, 400, "BadRequestData", "entities[0].idPattern"},
			{"empty watched", "POST", "", key, valid(`"watchedAttributes":[]`), nil, 400, "BadRequestData", "watchedAttributes: must not be empty"},
			{"bad trigger", "POST", "", key, valid(`"notificationTrigger":["whenever"]`), nil, 400, "BadRequestData", "notificationTrigger"},
			{"bad q", "POST", "", key, valid(`"q":"pm25=="`), nil, 400, "BadRequestData", "q:"},
			{"bad geoQ", "POST", "", key, valid(`"geoQ":{"georel":"near","geometry":"Point","coordinates":[107.5,16.4]}`), nil, 400, "BadRequestData", "geoQ"},
			{"geoQ without georel", "POST", "", key, valid(`"geoQ":{"geometry":"Point","coordinates":[107.5,16.4]}`), nil, 400, "BadRequestData", "geoQ.georel: is required"},
			{"past expiry", "POST", "", key, valid(`"expiresAt":"2020-01-01T00:00:00Z"`), nil, 400, "BadRequestData", "expiresAt: is in the past"},
			{"bad expiry", "POST", "", key, valid(`"expiresAt":"tomorrow"`), nil, 400, "BadRequestData", "expiresAt"},
			{"negative throttling", "POST", "", key, valid(`"throttling":-1`), nil, 400, "BadRequestData", "throttling"},
			{"timeInterval with watched", "POST", "", key, valid(`"timeInterval":60,"watchedAttributes":["pm25"]`), nil, 400, "BadRequestData", "watchedAttributes: cannot be given with timeInterval"},
			{"short timeInterval", "POST", "", key, valid(`"timeInterval":0.5`), nil, 400, "BadRequestData", "timeInterval: must be from 1"},
			{"unknown member", "POST", "", key, valid(`"color":"red"`), nil, 400, "BadRequestData", "color: is not a member"},
			{"bad id", "POST", "", key, valid(`"id":"pm25 alerts"`), nil, 400, "BadRequestData", "id: must be a URI"},
			{"unknown context", "POST", "", key, valid(`"jsonldContext":"https://example.org/unknown.jsonld"`), nil, 503, "LdContextNotAvailable", ""},
			{"read-only key", "POST", "", reader, valid(`"id":"urn:x:s"`), nil, 403, "Forbidden", ""},
			{"no key", "GET", "", "", "", nil, 401, "Unauthorized", ""},
			{"missing", "GET", "/urn:ngsi-ld:Subscription:nope", key, "", nil, 404, "ResourceNotFound", ""},
			{"path not a uri", "GET", "/nope", key, "", nil, 400, "BadRequestData", ""},
			{"patch missing", "PATCH", "/urn:ngsi-ld:Subscription:nope", key, `{"isActive":false}`, nil, 404, "ResourceNotFound", ""},
			{"delete missing", "DELETE", "/urn:ngsi-ld:Subscription:nope", key, "", nil, 404, "ResourceNotFound", ""},
			{"other tenant", "GET", "/" + id, key, "", []string{"NGSILD-Tenant", "hoi-an"}, 404, "ResourceNotFound", ""},
			{"patch bad", "PATCH", "/" + id, key, `{"throttling":"often","isActive":"no"}`, nil, 400, "BadRequestData", "isActive: must be true or false; throttling"},
			{"patch id", "PATCH", "/" + id, key, `{"id":"urn:x:other"}`, nil, 400, "BadRequestData", "id"},
			{"patch nothing", "PATCH", "/" + id, key, `{}`, nil, 400, "BadRequestData", "changes nothing"},
			{"patch reader", "PATCH", "/" + id, reader, `{"isActive":false}`, nil, 403, "Forbidden", ""},
		} {
			res, body := ts.do(tt.method, base+tt.path, tt.auth, tt.body, tt.hdr...)
			ptype, detail := problem(body)
			if res.StatusCode != tt.status || ptype != tt.ptype || !strings.Contains(detail, tt.detail) {
				t.Errorf("%s: %d %s; want %d %s %q", tt.name, res.StatusCode, body, tt.status, tt.ptype, tt.detail)
			}
		}

		// Retrieve: names compacted, defaults and status shown.
		var got map[string]any
		res, body = ts.do("GET", base+"/"+id, key, "")
		json.Unmarshal([]byte(body), &got)
		n, _ := got["notification"].(map[string]any)
		ep, _ := n["endpoint"].(map[string]any)
		want := `"entities":[{"idPattern":"^urn:ngsi-ld:AirQualityObserved:hue-","type":"AirQualityObserved"}]`
		if res.StatusCode != 200 || got["type"] != "Subscription" || got["status"] != "active" || got["isActive"] != true || got["q"] != "pm25>35" ||
			got["throttling"] != 30.0 || got["expiresAt"] != "2099-01-01T00:00:00.000000Z" || !strings.Contains(body, want) ||
			!strings.Contains(body, `"watchedAttributes":["pm25"]`) || !strings.Contains(body, `"notificationTrigger":["attributeCreated","attributeUpdated"]`) ||
			!strings.Contains(body, `"attributes":["pm25","location"]`) || n["format"] != "keyValues" || ep["accept"] != "application/ld+json" ||
			!strings.Contains(body, `"receiverInfo":[{"key":"Authorization","value":"Bearer secret"}]`) || !strings.Contains(body, `"georel":"within"`) {
			t.Fatalf("retrieve = %d %s", res.StatusCode, body)
		}
		// Readers see the subscription, not the credentials it sends.
		_, body = ts.do("GET", base+"/"+id, reader, "")
		if strings.Contains(body, "secret") || !strings.Contains(body, `"key":"Authorization"`) {
			t.Errorf("reader sees %s", body)
		}

		// A subscription named with a user @context (ld+json body) keeps
		// expanded names: other contexts see the IRIs.
		ld := `{"@context":["` + hueContext + `"],"type":"Subscription","entities":[{"type":"AirQualityObserved"}],"watchedAttributes":["no2"],
			"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}}`
		res, body = ts.do("POST", base, key, ld, "Content-Type", "application/ld+json")
		if res.StatusCode != 201 || !strings.HasPrefix(res.Header.Get("Location"), base+"/urn:ngsi-ld:Subscription:") {
			t.Fatalf("create ld+json = %d %s", res.StatusCode, body)
		}
		ldPath := strings.TrimPrefix(res.Header.Get("Location"), base)
		_, body = ts.do("GET", base+ldPath, key, "")
		if !strings.Contains(body, `"type":"https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"`) ||
			!strings.Contains(body, `"watchedAttributes":["https://smartdatamodels.org/dataModel.Environment/no2"]`) {
			t.Errorf("core view = %s", body)
		}
		res, body = ts.do("GET", base+ldPath, key, "", "Link", jsonld.LinkHeader(hueContext), "Accept", "application/ld+json")
		if res.Header.Get("Content-Type") != "application/ld+json" || !strings.Contains(body, `"type":"AirQualityObserved"`) ||
			!strings.Contains(body, `"@context":"`+hueContext+`"`) {
			t.Errorf("hue view = %s %s", res.Header.Get("Content-Type"), body)
		}

		// Query: paging, count, tenants.
		var list []map[string]any
		res, body = ts.do("GET", base+"?limit=1&count=true", key, "")
		json.Unmarshal([]byte(body), &list)
		if res.StatusCode != 200 || len(list) != 1 || list[0]["id"] != id || res.Header.Get("NGSILD-Results-Count") != "2" {
			t.Errorf("query = %d %s %s", res.StatusCode, res.Header.Get("NGSILD-Results-Count"), body)
		}
		_, body = ts.do("GET", base+"?offset=1", key, "")
		json.Unmarshal([]byte(body), &list)
		if len(list) != 1 || list[0]["id"] == id {
			t.Errorf("page 2 = %s", body)
		}
		res, body = ts.do("GET", base+"?limit=5000", key, "")
		if res.StatusCode != 400 {
			t.Errorf("limit 5000 = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"?count=true", key, "", "NGSILD-Tenant", "hoi-an")
		if body != "[]\n" {
			t.Errorf("other tenant = %s", body)
		}

		// Update: members replaced, notification members merged, null
		// removes.
		res, body = ts.do("PATCH", base+"/"+id, key, `{"isActive":false,"throttling":5,"expiresAt":null,"q":null,
			"notification":{"format":"concise"},"notificationTrigger":["entityCreated","entityDeleted"]}`)
		if res.StatusCode != 204 {
			t.Fatalf("patch = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"/"+id+"?options=sysAttrs", key, "")
		got = nil
		json.Unmarshal([]byte(body), &got)
		n, _ = got["notification"].(map[string]any)
		ep, _ = n["endpoint"].(map[string]any)
		if got["status"] != "paused" || got["isActive"] != false || got["throttling"] != 5.0 || got["expiresAt"] != nil || got["q"] != nil ||
			n["format"] != "concise" || ep["uri"] != "https://alerts.hue.example.org/ngsi" || got["createdAt"] == nil || got["modifiedAt"] == got["createdAt"] ||
			!strings.Contains(body, `"notificationTrigger":["entityCreated","entityDeleted"]`) {
			t.Errorf("patched = %s", body)
		}

		// Periodic.
		res, body = ts.do("POST", base, key, valid(`"id":"urn:ngsi-ld:Subscription:hourly","timeInterval":3600`))
		if res.StatusCode != 201 {
			t.Fatalf("create periodic = %d %s", res.StatusCode, body)
		}
		_, body = ts.do("GET", base+"/urn:ngsi-ld:Subscription:hourly", key, "")
		if !strings.Contains(body, `"timeInterval":3600`) || strings.Contains(body, "notificationTrigger") {
			t.Errorf("periodic = %s", body)
		}

		// Delete.
		if res, body := ts.do("DELETE", base+"/"+id, key, ""); res.StatusCode != 204 {
			t.Errorf("delete = %d %s", res.StatusCode, body)
		}
		if res, _ := ts.do("GET", base+"/"+id, key, ""); res.StatusCode != 404 {
			t.Errorf("after delete = %d", res.StatusCode)
		}
	})
}

// TestNGSISubscriptionNotifies: a subscription made through the API is
// notified of entities written through the API, compacted with the
// subscription's @context, and its status fields count the deliveries.
func TestNGSISubscriptionNotifies(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts, _ := newSubscriptionServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "gateway", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		var links []string
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, string(b))
			links = append(links, r.Header.Get("Link"))
			mu.Unlock()
		}))
		defer rc.Close()
		link := jsonld.LinkHeader(hueContext)
		sub := `{"type":"Subscription","entities":[{"type":"AirQualityObserved"}],"watchedAttributes":["pm25"],"q":"pm25>35",
			"notification":{"format":"keyValues","attributes":["pm25"],"endpoint":{"uri":"` + rc.URL + `/n"}}}`
		res, body := ts.do("POST", "/ngsi-ld/v1/subscriptions", key, sub, "Link", link)
		if res.StatusCode != 201 {
			t.Fatalf("create = %d %s", res.StatusCode, body)
		}
		loc := res.Header.Get("Location")
		for _, e := range []string{
			`{"id":"urn:ngsi-ld:AirQualityObserved:hue-1","type":"AirQualityObserved","pm25":{"type":"Property","value":12}}`,
			`{"id":"urn:ngsi-ld:AirQualityObserved:hue-2","type":"AirQualityObserved","pm25":{"type":"Property","value":48},"no2":{"type":"Property","value":3}}`,
		} {
			if res, body := ts.do("POST", "/ngsi-ld/v1/entities", key, e, "Link", link); res.StatusCode != 201 {
				t.Fatalf("create entity = %d %s", res.StatusCode, body)
			}
		}
		// Core-context names are other attributes: no match.
		if res, body := ts.do("POST", "/ngsi-ld/v1/entities", key, `{"id":"urn:ngsi-ld:AirQualityObserved:core","type":"AirQualityObserved","pm25":{"type":"Property","value":99}}`); res.StatusCode != 201 {
			t.Fatalf("create entity = %d %s", res.StatusCode, body)
		}
		var stored map[string]any
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body = ts.do("GET", loc, key, "")
			stored = nil
			json.Unmarshal([]byte(body), &stored)
			n, _ := stored["notification"].(map[string]any)
			if n["timesSent"] != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 || links[0] != link {
			t.Fatalf("notifications = %q links %q", got, links)
		}
		var msg struct {
			Type, SubscriptionID string
			Data                 []map[string]any
		}
		json.Unmarshal([]byte(got[0]), &msg)
		b, _ := json.Marshal(msg.Data)
		if msg.Type != "Notification" || loc != "/ngsi-ld/v1/subscriptions/"+msg.SubscriptionID ||
			string(b) != `[{"id":"urn:ngsi-ld:AirQualityObserved:hue-2","pm25":48,"type":"AirQualityObserved"}]` {
			t.Errorf("notification = %s", got[0])
		}
		n, _ := stored["notification"].(map[string]any)
		if n["status"] != "ok" || n["timesSent"] != 1.0 || n["lastNotification"] == nil || n["lastSuccess"] == nil || n["lastFailure"] != nil {
			t.Errorf("status = %v", n)
		}
	})
}
