package http_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestNGSILDGeoShapes runs every georel over entities located by points,
// a street (a line) and areas (a park, a ward with a lake cut out), on
// both databases, and checks that bad geometries are refused with a
// message that says what is wrong.
func TestNGSILDGeoShapes(t *testing.T) {
	const (
		park     = `[[[107.58,16.46],[107.59,16.46],[107.59,16.47],[107.58,16.47],[107.58,16.46]]]`
		ward     = `[[[107.55,16.44],[107.62,16.44],[107.62,16.5],[107.55,16.5],[107.55,16.44]],[[107.6,16.45],[107.61,16.45],[107.61,16.46],[107.6,16.46],[107.6,16.45]]]`
		street   = `[[107.57,16.46],[107.59,16.46],[107.59,16.48]]`
		centre   = `[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]`
		location = `{"type":"GeoProperty","value":{"type":"%s","coordinates":%s}}`
	)
	loc := func(typ, coords string) string {
		return strings.Replace(strings.Replace(location, "%s", typ, 1), "%s", coords, 1)
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		key, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "geo", Scopes: []string{"data:read", "data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		const base = "/ngsi-ld/v1/"
		for _, e := range []struct{ id, typ, coords string }{
			{"sensor", "Point", "[107.585,16.465]"}, // in the park
			{"kiosk", "Point", "[107.6,16.49]"},     // in the ward
			{"boat", "Point", "[107.605,16.455]"},   // on the lake, a hole of the ward
			{"far", "Point", "[108.05,16.25]"},
			{"street", "LineString", street}, // along the park's south and east sides, then north
			{"park", "Polygon", park},
			{"ward", "Polygon", ward},
		} {
			body := `{"id":"urn:ngsi-ld:Thing:` + e.id + `","type":"Thing","location":` + loc(e.typ, e.coords) + `}`
			if res, body := ts.do("POST", base+"entities", key, body); res.StatusCode != 201 {
				t.Fatalf("create %s = %d %s", e.id, res.StatusCode, body)
			}
		}
		query := func(q string) (int, string) {
			t.Helper()
			res, body := ts.do("GET", base+"entities?"+q, key, "")
			var list []map[string]any
			json.Unmarshal([]byte(body), &list)
			var ids []string
			for _, e := range list {
				s, _ := e["id"].(string)
				ids = append(ids, strings.TrimPrefix(s, "urn:ngsi-ld:Thing:"))
			}
			if res.StatusCode != 200 {
				return res.StatusCode, body
			}
			return res.StatusCode, strings.Join(ids, ",")
		}
		geoQuery := func(rel, typ, coords string) string {
			return "georel=" + url.QueryEscape(rel) + "&geometry=" + typ + "&coordinates=" + url.QueryEscape(coords)
		}
		rotated := `[[[107.55,16.5],[107.55,16.44],[107.62,16.44],[107.62,16.5],[107.55,16.5]],[[107.61,16.46],[107.6,16.46],[107.6,16.45],[107.61,16.45],[107.61,16.46]]]`
		tests := []struct{ rel, typ, coords, want string }{
			{"within", "Polygon", park, "park,sensor"},
			{"within", "Polygon", centre, "boat,kiosk,park,sensor,street,ward"},
			{"within", "Polygon", ward, "kiosk,park,sensor,street,ward"},
			{"within", "MultiPolygon", "[" + park + "]", "park,sensor"},
			{"contains", "Point", "[107.585,16.465]", "park,sensor,ward"},
			{"contains", "Point", "[107.59,16.465]", "street,ward"}, // on the park's edge
			{"contains", "LineString", "[[107.58,16.465],[107.585,16.465]]", "park,ward"},
			{"contains", "Polygon", park, "park,ward"},
			{"contains", "Polygon", centre, ""},
			{"intersects", "Polygon", park, "park,sensor,street,ward"},
			{"intersects", "LineString", "[[107.5,16.455],[107.7,16.455]]", "boat,ward"},
			{"intersects", "MultiPoint", "[[107.6,16.49],[108.05,16.25]]", "far,kiosk,ward"},
			{"disjoint", "Polygon", park, "boat,far,kiosk"},
			{"disjoint", "Polygon", centre, "far"},
			{"equals", "Point", "[107.6,16.49]", "kiosk"},
			{"equals", "LineString", "[[107.59,16.48],[107.59,16.46],[107.57,16.46]]", "street"},
			{"equals", "Polygon", rotated, "ward"},
			{"overlaps", "Polygon", "[[[107.585,16.465],[107.6,16.465],[107.6,16.475],[107.585,16.475],[107.585,16.465]]]", "park"},
			{"overlaps", "LineString", "[[107.58,16.46],[107.6,16.46]]", "street"},
			{"overlaps", "MultiPoint", "[[107.6,16.49],[108,16]]", ""},
			{"near;maxDistance==600", "Point", "[107.585,16.455]", "park,street,ward"}, // 556 m to the park and street
			{"near;minDistance==1000", "Point", "[107.585,16.455]", "boat,far,kiosk,sensor"},
			{"near;maxDistance==400", "Point", "[107.605,16.457]", "boat,ward"}, // on the lake, 333 m from its shore
			{"near;maxDistance==60000;minDistance==1", "Point", "[108.05,16.25]", "boat,kiosk,park,sensor,street,ward"},
			{"near;maxDistance==0", "LineString", "[[107.59,16.475],[107.61,16.475]]", "street,ward"},
		}
		for _, tt := range tests {
			if status, got := query(geoQuery(tt.rel, tt.typ, tt.coords)); status != 200 || got != tt.want {
				t.Errorf("%s %s %s = %d %s; want %s", tt.rel, tt.typ, tt.coords, status, got, tt.want)
			}
		}
		if status, got := query("type=Thing&count=true&limit=2&" + geoQuery("within", "Polygon", centre)); status != 200 || got != "boat,kiosk" {
			t.Errorf("paged = %d %s", status, got)
		}

		// A moved entity is found where it is now (its box is rewritten),
		// by each write path.
		if res, body := ts.do("PATCH", base+"entities/urn:ngsi-ld:Thing:kiosk/attrs", key, `{"location":`+loc("Point", "[108,16.2]")+`}`); res.StatusCode != 204 {
			t.Fatalf("move kiosk = %d %s", res.StatusCode, body)
		}
		if res, body := ts.do("PUT", base+"entities/urn:ngsi-ld:Thing:far", key, `{"type":"Thing","location":`+loc("LineString", street)+`}`); res.StatusCode != 204 {
			t.Fatalf("replace far = %d %s", res.StatusCode, body)
		}
		upsert := `[{"id":"urn:ngsi-ld:Thing:boat","type":"Thing","location":` + loc("Point", "[107.7,16.6]") + `},
			{"id":"urn:ngsi-ld:Thing:new","type":"Thing","location":` + loc("Point", "[107.585,16.465]") + `}]`
		if res, body := ts.do("POST", base+"entityOperations/upsert", key, upsert); res.StatusCode/100 != 2 {
			t.Fatalf("upsert = %d %s", res.StatusCode, body)
		}
		for _, tt := range []struct{ rel, typ, coords, want string }{
			{"within", "Polygon", centre, "far,new,park,sensor,street,ward"},
			{"within", "Polygon", park, "new,park,sensor"},
			{"near;maxDistance==1", "Point", "[107.7,16.6]", "boat"},
			{"equals", "LineString", street, "far,street"},
			{"near;maxDistance==100", "Point", "[108,16.2]", "kiosk"},
		} {
			if status, got := query(geoQuery(tt.rel, tt.typ, tt.coords)); status != 200 || got != tt.want {
				t.Errorf("after moves: %s %s = %d %s; want %s", tt.rel, tt.coords, status, got, tt.want)
			}
		}

		// Bad geometries in bodies and in queries.
		for _, tt := range []struct{ name, method, path, body, want string }{
			{"short line", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("LineString", "[[107,16]]") + `}`,
				"location: LineString has 1 positions: want at least 2"},
			{"flat line", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("LineString", "[[107,16],[107,16]]") + `}`,
				"LineString has no length"},
			{"open ring", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("Polygon", "[[[107,16],[108,16],[108,17],[107,17]]]") + `}`,
				"location: polygon 0, ring 0 is not closed"},
			{"triangle of 3", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("Polygon", "[[[107,16],[108,16],[107,16]]]") + `}`,
				"want at least 4"},
			{"swapped", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("Point", "[16.47,107.58]") + `}`,
				"latitude 107.58 is outside [-90, 90] (longitude and latitude swapped?"},
			{"circle", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("Circle", "[107,16]") + `}`,
				"is not supported: want Point, MultiPoint, LineString, MultiLineString, Polygon or MultiPolygon"},
			{"bad hole", "POST", "entities", `{"id":"urn:x:1","type":"T","location":` + loc("Polygon", `[[[107,16],[108,16],[108,17],[107,16]],[[107.5,16.5],[107.6,16.5],[107.5,16.5]]]`) + `}`,
				"polygon 0, ring 1 has 3 positions"},
			{"sub-attribute", "POST", "entities", `{"id":"urn:x:1","type":"T","p":{"type":"Property","value":1,"at":` + loc("MultiPoint", "[]") + `}}`,
				`MultiPoint "coordinates" is empty`},
			{"batch", "POST", "entityOperations/create", `[{"id":"urn:x:1","type":"T","location":` + loc("MultiLineString", "[[[107,16],[1e3,16]]]") + `}]`,
				"line 0, position 1: longitude 1000 is outside [-180, 180]"},
			{"patch", "PATCH", "entities/urn:ngsi-ld:Thing:park/attrs", `{"location":` + loc("Polygon", "[[[107,16],[107,16],[107,16],[107,16]]]") + `}`,
				"ring 0 (outer ring) has zero area"},
			{"georel", "GET", "entities?georel=crosses&geometry=Point&coordinates=[107,16]", "", "use near, within, contains, intersects, disjoint, equals or overlaps"},
			{"geometry", "GET", "entities?georel=within&geometry=Circle&coordinates=[107,16]", "", "is not supported; use Point, MultiPoint, LineString"},
			{"coordinates", "GET", "entities?georel=within&geometry=Polygon&coordinates=north", "", "coordinates must be a GeoJSON coordinates array"},
			{"query ring", "GET", "entities?georel=within&geometry=Polygon&coordinates=[[[107,16],[108,16],[108,17]]]", "", "coordinates: polygon 0, ring 0 has 3 positions: want at least 4"},
			{"query line", "GET", "entities?georel=intersects&geometry=LineString&coordinates=[[107,16]]", "", "coordinates: LineString has 1 positions"},
			{"query point", "GET", "entities?georel=near%3BmaxDistance==10&geometry=Point&coordinates=[107,95]", "", "latitude 95 is outside [-90, 90]"},
			{"near without distance", "GET", "entities?georel=near&geometry=Point&coordinates=[107,16]", "", "near needs maxDistance==N or minDistance==N"},
		} {
			res, body := ts.do(tt.method, base+tt.path, key, tt.body)
			if tt.name == "batch" {
				// A batch reports per-entity errors in its result.
				if res.StatusCode != 207 || !strings.Contains(body, "BadRequestData") || !strings.Contains(body, tt.want) {
					t.Errorf("%s = %d %s; want 400 BadRequestData with %q", tt.name, res.StatusCode, body, tt.want)
				}
				continue
			}
			var p struct{ Type, Detail string }
			json.Unmarshal([]byte(body), &p)
			if res.StatusCode != 400 || p.Type != "https://uri.etsi.org/ngsi-ld/errors/BadRequestData" || !strings.Contains(p.Detail, tt.want) {
				t.Errorf("%s = %d %s; want 400 BadRequestData with %q", tt.name, res.StatusCode, body, tt.want)
			}
		}
	})
}
