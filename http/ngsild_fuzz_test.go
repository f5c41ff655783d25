package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// fuzzContexts is an offline cache with a few contexts the fuzzers can
// name by URL; any other URL is not available (503), as on a server
// without network access.
func fuzzContexts(t testing.TB) *jsonld.Cache {
	c := jsonld.NewCache()
	for u, doc := range map[string]string{
		"https://ctx.example/sdm.jsonld": `{"@context": ["` + jsonld.CoreURL + `", {"sdm": "https://smartdatamodels.org/",
			"AirQualityObserved": "sdm:dataModel.Environment/AirQualityObserved", "pm25": "sdm:pm25", "temperature": "sdm:temperature",
			"refDevice": {"@id": "sdm:refDevice", "@type": "@id"}}]}`,
		"https://ctx.example/vocab.jsonld":   `{"@context": {"@vocab": "https://v.example/", "ex": "https://example.org/"}}`,
		"https://ctx.example/novocab.jsonld": `{"@context": {"@vocab": null, "t": "https://example.org/t"}}`,
		"https://ctx.example/bad.jsonld":     `{"@context": 5}`,
	} {
		if err := c.Add(u, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// ngsiProblem reports whether err is an NGSI-LD problem of one of the
// kinds a client's mistake may cause, and never an internal error.
func ngsiProblem(err error, kinds ...ngsiError) bool {
	var pe *ngsiProblemErr
	if !errors.As(err, &pe) || pe.detail == "" {
		return false
	}
	for _, k := range kinds {
		if pe.kind == k {
			return true
		}
	}
	return false
}

// FuzzNGSIBody decodes NGSI-LD request bodies (application/json with a
// Link header, or application/ld+json with an @context) as the entity,
// batch and temporal paths do, and turns each object into an entity. Every
// refusal is a client-side NGSI-LD problem; every entity that validates
// is rendered with the request's context and reads back to itself.
func FuzzNGSIBody(f *testing.F) {
	link := jsonld.LinkHeader
	for _, s := range []struct {
		ld         bool
		link, body string
	}{
		{false, "", `{"id": "urn:ngsi-ld:AirQualityObserved:hue-1", "type": "AirQualityObserved",
			"pm25": {"type": "Property", "value": 41.5, "unitCode": "GQ", "observedAt": "2026-11-28T01:00:00Z"},
			"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [107.58, 16.46]}}}`},
		{false, link("https://ctx.example/sdm.jsonld"), `[{"id": "urn:ngsi-ld:AirQualityObserved:hue-2", "type": "AirQualityObserved",
			"refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:aq-1"},
			"temperature": [{"type": "Property", "value": 30, "datasetId": "urn:ngsi-ld:Dataset:a"}, {"type": "Property", "value": 31}]}]`},
		{true, "", `{"@context": "https://ctx.example/vocab.jsonld", "id": "urn:x:1", "type": "ex:T",
			"name": {"type": "LanguageProperty", "languageMap": {"vi": "Huế", "en": "Hue"}},
			"pm25": {"type": "Property", "value": {"a": [1, 2]}, "accuracy": {"type": "Property", "value": 0.5}}}`},
		{true, "", `[{"@context": ["https://ctx.example/novocab.jsonld"], "id": "urn:x:1", "type": "t", "u": {"type": "Property", "value": 1}}]`},
		{true, "", `{"@context": "https://ctx.example/novocab.jsonld", "id": "urn:x:1", "type": "t",
			"t": {"type": "Property", "value": 1, "unmapped": {"type": "Property", "value": 2}}}`},
		{true, link(jsonld.CoreURL), `{"@context": {}, "id": "urn:x:1", "type": "T"}`},
		{true, "", `{"id": "urn:x:1", "type": "T"}`},
		{false, link("https://ctx.example/missing.jsonld"), `{"id": "urn:x:1", "type": "T"}`},
		{false, link("https://ctx.example/bad.jsonld"), `{"id": "urn:x:1", "type": "T"}`},
		{false, `<https://ctx.example/sdm.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="text/plain"`, `{}`},
		{false, "", `{"id": "urn:x:1", "type": "T", "scope": "/a"}`},
		{false, "", `{"id": "urn:x:1", "type": "T", "a": 5}`},
		{false, "", `{"id": "urn:x:1", "type": "T", "a": [5]}`},
		{false, "", `{"id": "urn:x:1", "type": "T", "a": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 0]}}}`},
		{false, "", `{"id": "not a uri", "type": "T"}`},
		{false, "", `{"id": "urn:x:1", "type": "T", "createdAt": "2026-01-01T00:00:00Z", "@id": {"type": "Property", "value": 1}}`},
		{false, "", `["urn:x:1", 5, null, {}]`},
		{false, "", `{"id": "urn:x:1", "type": "T"} trailing`},
		{false, "", ``},
	} {
		f.Add(s.ld, s.link, []byte(s.body))
	}
	s := &Server{Services: Services{Contexts: fuzzContexts(f)}}
	f.Fuzz(func(t *testing.T, ld bool, link string, body []byte) {
		r := httptest.NewRequest("POST", "/ngsi-ld/v1/entityOperations/upsert", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if ld {
			r.Header.Set("Content-Type", "application/ld+json")
		}
		if link != "" {
			r.Header["Link"] = []string{link}
		}
		v, c, _, err := s.decodeNGSI(r)
		if err != nil {
			if !ngsiProblem(err, errInvalidRequest, errBadRequestData, errLdContextNotAvail) {
				t.Fatalf("decodeNGSI: %v; want an InvalidRequest, BadRequestData or LdContextNotAvailable problem", err)
			}
			return
		}
		// The same body as a fragment of attributes (POST and PATCH
		// …/attrs), as far as storage would take it.
		r = httptest.NewRequest("PATCH", "/ngsi-ld/v1/entities/urn:x:1/attrs", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if ld {
			r.Header.Set("Content-Type", "application/ld+json")
		}
		if link != "" {
			r.Header["Link"] = []string{link}
		}
		if attrs, _, err := s.attrsFromBody(r); err != nil {
			if !ngsiProblem(err, errInvalidRequest, errBadRequestData) {
				t.Fatalf("attrsFromBody: %v; want an InvalidRequest or BadRequestData problem", err)
			}
		} else {
			e := &cityops.Entity{ID: "urn:x:1", Type: "https://e.example/T", Attrs: attrs}
			if err := e.Validate(); err != nil && cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("Validate: %v; want EINVALID", err)
			}
		}
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		for _, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				continue
			}
			checkEntityRoundTrip(t, obj, c)
		}
	})
}

// checkEntityRoundTrip turns obj into an entity; one that validates must
// render with c (normalized, keyValues and concise) and read back the same.
func checkEntityRoundTrip(t *testing.T, obj map[string]any, c *jsonld.Context) {
	t.Helper()
	e, err := entityFromJSON(obj, c, "t1")
	if err != nil {
		if !ngsiProblem(err, errBadRequestData) {
			t.Fatalf("entityFromJSON: %v; want a BadRequestData problem", err)
		}
		return
	}
	if err := e.ValidateTemporal(); err != nil {
		if cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("ValidateTemporal: %v; want EINVALID", err)
		}
		return
	}
	for name, list := range e.Attrs {
		if name == "" || name[0] == '@' {
			t.Fatalf("attribute %q of %v is a JSON-LD keyword", name, obj)
		}
		for _, a := range list {
			checkSubAttrNames(t, a)
		}
	}
	out := entityJSON(e, c, false, false)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("rendering %+v: %v", e, err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	e2, err := entityFromJSON(back, c, "t1")
	if err != nil {
		t.Fatalf("entity %+v renders as %s, which reads as %v", e, b, err)
	}
	if e2.ID != e.ID || e2.Type != e.Type {
		t.Fatalf("entity %s (%s) reads back as %s (%s) from %s", e.ID, e.Type, e2.ID, e2.Type, b)
	}
	if want := jsonValue(t, e.Attrs); !reflect.DeepEqual(jsonValue(t, e2.Attrs), want) {
		t.Fatalf("attributes %s read back as %s\nfrom %s", jsonText(t, e.Attrs), jsonText(t, e2.Attrs), b)
	}
	if _, err := json.Marshal(entityJSON(e, c, true, true)); err != nil {
		t.Fatalf("keyValues: %v", err)
	}
	for _, list := range e.Attrs {
		for _, a := range list {
			if _, err := json.Marshal(compactAttr(a, c, false)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkSubAttrNames fails when a sub-attribute of a has an empty name or
// a keyword for one.
func checkSubAttrNames(t *testing.T, a map[string]any) {
	t.Helper()
	for k, v := range a {
		if cityops.AttrMembers[k] {
			continue
		}
		if k == "" || k[0] == '@' {
			t.Fatalf("sub-attribute %q accepted in %v", k, a)
		}
		if sub, ok := v.(map[string]any); ok {
			checkSubAttrNames(t, sub)
		}
	}
}

func jsonValue(t *testing.T, v any) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(jsonText(t, v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzSubscription applies subscription bodies as POST and PATCH do. A
// refusal is EINVALID (or an @context problem); a subscription that
// validates renders as JSON that creates the same subscription again.
func FuzzSubscription(f *testing.F) {
	for _, s := range []string{
		`{"type": "Subscription", "entities": [{"type": "AirQualityObserved", "idPattern": "^urn:ngsi-ld:AirQualityObserved:hue-"}],
			"watchedAttributes": ["pm25"], "q": "pm25>50;location.city==\"Huế\"", "throttling": 60,
			"notification": {"attributes": ["pm25", "location"], "format": "keyValues",
				"endpoint": {"uri": "https://hook.example/notify", "accept": "application/json", "timeout": 5000,
					"receiverInfo": [{"key": "Authorization", "value": "Bearer x"}]}}}`,
		`{"id": "urn:ngsi-ld:Subscription:flood", "type": "Subscription", "subscriptionName": "Lũ", "description": "mực nước",
			"entities": [{"id": "urn:ngsi-ld:WaterLevel:1", "type": "https://smartdatamodels.org/WaterObserved"}],
			"geoQ": {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [107.58, 16.46]},
			"expiresAt": "2030-01-01T00:00:00.123456789+07:00", "isActive": false, "lang": "vi",
			"notificationTrigger": ["entityCreated", "attributeUpdated"],
			"notification": {"endpoint": {"uri": "http://10.0.0.5:8080/n"}, "sysAttrs": true}}`,
		`{"type": "Subscription", "entities": [{"type": "T"}], "timeInterval": 600,
			"geoQ": {"georel": "within", "geometry": "Polygon", "coordinates": "[[[107.5,16.4],[107.7,16.4],[107.7,16.5],[107.5,16.4]]]"},
			"notification": {"endpoint": {"uri": "https://h.example/"}}}`,
		`{"type": "Subscription", "watchedAttributes": [], "notification": {"endpoint": {"uri": "ftp://x"}}}`,
		`{"type": "Subscription", "entities": [{"type": "T", "color": 1}], "csf": "x", "notification": {"showChanges": true, "endpoint": {"cooldown": 1}}}`,
		`{"type": "Subscription", "watchedAttributes": ["a"], "jsonldContext": "https://ctx.example/sdm.jsonld", "notification": {"endpoint": {"uri": "https://h.example/"}}}`,
		`{"type": "Subscription", "watchedAttributes": ["a"], "jsonldContext": "https://offline.example/c.jsonld", "notification": {"endpoint": {"uri": "https://h.example/"}}}`,
		`{"q": null, "geoQ": null, "throttling": null, "notification": {"attributes": null, "format": null}, "id": null}`,
		`{"throttling": -1, "timeInterval": 0.5, "expiresAt": "tomorrow", "isActive": "yes", "notification": {"endpoint": {"timeout": 1.5}}}`,
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	s := &Server{Services: Services{Contexts: fuzzContexts(f)}}
	c := jsonld.Core()
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, create bool, body []byte) {
		var obj map[string]any
		if json.Unmarshal(body, &obj) != nil || obj == nil {
			return
		}
		sub := &cityops.Subscription{Active: true}
		if !create {
			sub = &cityops.Subscription{ID: "urn:ngsi-ld:Subscription:old", Active: true, WatchedAttributes: []string{"https://e.example/a"},
				Notification: cityops.NotificationParams{Endpoint: cityops.Endpoint{URI: "https://old.example/"}}}
		}
		if err := s.applySubscription(sub, obj, c, create); err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID && !ngsiProblem(err, errInvalidRequest, errLdContextNotAvail) {
				t.Fatalf("applySubscription: %v; want EINVALID or an @context problem", err)
			}
			return
		}
		if sub.ID == "" {
			sub.ID = "urn:ngsi-ld:Subscription:new"
		}
		if err := sub.Validate(); err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("Validate: %v; want EINVALID", err)
			}
			return
		}
		// What a client reads back, it can send again.
		first := subscriptionJSON(sub, c, now, false, false)
		b, err := json.Marshal(first)
		if err != nil {
			t.Fatalf("rendering %+v: %v", sub, err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again := &cityops.Subscription{Active: true}
		if err := s.applySubscription(again, back, c, true); err != nil {
			t.Fatalf("subscription %s does not apply again: %v", b, err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("subscription %s does not validate again: %v", b, err)
		}
		b2, err := json.Marshal(subscriptionJSON(again, c, now, false, false))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) && !sameJSON(t, b, b2) {
			t.Fatalf("subscription renders as\n%s\nand, sent again, as\n%s", b, b2)
		}
	})
}

// sameJSON compares two JSON texts as values, ignoring the spelling of
// numbers and the layout of a geoQ's coordinates.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzTimeWindow reads the temporal query parameters timerel, timeAt,
// endTimeAt and lastN, and aggrMethods as the aggregation reads it.
func FuzzTimeWindow(f *testing.F) {
	for _, s := range [][5]string{
		{"between", "2026-11-01T00:00:00Z", "2026-11-28T00:00:00+07:00", "", "avg,max"},
		{"before", "2026-11-28T00:00:00.5Z", "", "10", "totalCount"},
		{"after", "2026-11-28T00:00:00Z", "", "1000", ""},
		{"between", "2026-11-28T00:00:00Z", "2026-11-28T00:00:00Z", "", "sum, min"},
		{"between", "2026-11-28T00:00:00Z", "2026-11-27T00:00:00Z", "", ""},
		{"", "2026-11-28T00:00:00Z", "", "", ""},
		{"during", "2026-11-28T00:00:00Z", "", "", "median"},
		{"after", "yesterday", "", "0", ""},
		{"before", "9999-12-31T23:59:59Z", "", "-1", ""},
		{"after", "2026-11-28T00:00:00Z", "", "1001", ""},
		{"after", "2026-11-28T00:00:00Z", "", "1e3", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, timerel, timeAt, endTimeAt, lastN, methods string) {
		q := url.Values{}
		for k, v := range map[string]string{"timerel": timerel, "timeAt": timeAt, "endTimeAt": endTimeAt, "lastN": lastN, "aggrMethods": methods} {
			if v != "" {
				q.Set(k, v)
			}
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/ngsi-ld/v1/temporal/entities", RawQuery: q.Encode()}}
		from, to, limit, isLastN, err := timeWindow(r)
		if err != nil {
			if !ngsiProblem(err, errBadRequestData) {
				t.Fatalf("timeWindow: %v; want a BadRequestData problem", err)
			}
			return
		}
		if limit < 1 || limit > maxInstances {
			t.Fatalf("limit %d", limit)
		}
		if isLastN != (lastN != "") {
			t.Fatalf("lastN %q read as %v", lastN, isLastN)
		}
		switch timerel {
		case "between":
			if !to.After(from) {
				t.Fatalf("window [%v, %v) is empty", from, to)
			}
			fallthrough
		case "after":
			if want, _ := time.Parse(time.RFC3339Nano, timeAt); !from.Equal(want) {
				t.Fatalf("from %v; want timeAt %q", from, timeAt)
			}
		case "before":
			if want, _ := time.Parse(time.RFC3339Nano, timeAt); !to.Equal(want) {
				t.Fatalf("to %v; want timeAt %q", to, timeAt)
			}
		case "":
			if timeAt != "" {
				t.Fatal("timeAt accepted without timerel")
			}
		default:
			t.Fatalf("timerel %q accepted", timerel)
		}
		for _, m := range splitList(methods) {
			if aggrMethodNames[m] {
				continue
			}
			if strings.TrimSpace(m) == "" || m != strings.TrimSpace(m) {
				t.Fatalf("splitList gave %q", m)
			}
		}
	})
}

// FuzzParseISODuration checks aggrPeriodDuration: an accepted duration is
// exactly what it says (to the nanosecond, seconds rounded down), never
// negative and never wrapped around, and reads the same when respelled in
// seconds.
func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT1H", "P1D", "P2W", "PT15M", "PT0.5S", "P1DT12H30M15.25S", "PT0S", "P", "PT", "P1M", "P1Y",
		"PT1.S", "PT.5S", "-PT1H", "pt1h", "P1W2D", "PT9223372036S", "PT9223372037S", "P15250W", "P15251W", "P106751D", "P106752D",
		"PT2562047H", "PT2562048H", "P99999999999999999999W", "PT0.000000001S", "PT0.0000000009S", "P1DT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseISODuration(s)
		want, exact := isoDurationExact(s)
		if err != nil {
			if exact != nil && exact.Cmp(big.NewInt(math.MaxInt64)) <= 0 {
				t.Fatalf("parseISODuration(%q): %v; want %v", s, err, want)
			}
			return
		}
		if exact == nil {
			t.Fatalf("parseISODuration(%q) = %v; want an error", s, d)
		}
		if exact.Cmp(big.NewInt(math.MaxInt64)) > 0 {
			t.Fatalf("parseISODuration(%q) = %v; want an error: it is longer than %v", s, d, time.Duration(math.MaxInt64))
		}
		if d < 0 || d != want {
			t.Fatalf("parseISODuration(%q) = %d ns; want %d", s, d, want)
		}
		respelled := fmt.Sprintf("PT%d.%09dS", d/time.Second, d%time.Second)
		if d2, err := parseISODuration(respelled); err != nil || d2 != d {
			t.Fatalf("%q = %v, respelled %q = %v, %v", s, d, respelled, d2, err)
		}
	})
}

// isoDurationExact computes a duration of isoDurationRE exactly, in whole
// nanoseconds rounded down; nil when s is not one.
func isoDurationExact(s string) (time.Duration, *big.Int) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, nil
	}
	total := new(big.Rat)
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, ok := new(big.Rat).SetString(m[i+1])
		if !ok {
			return 0, nil
		}
		total.Add(total, n.Mul(n, new(big.Rat).SetInt64(int64(unit))))
	}
	ns := new(big.Int).Quo(total.Num(), total.Denom())
	if !ns.IsInt64() {
		return 0, ns
	}
	return time.Duration(ns.Int64()), ns
}
