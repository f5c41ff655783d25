package geo

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseGeometry(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want MultiPolygon
	}{
		{
			name: "polygon is promoted",
			in:   `{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,16]]]}`,
			want: MultiPolygon{{{{107, 16}, {108, 16}, {108, 17}, {107, 16}}}},
		},
		{
			name: "multipolygon with hole and altitude",
			in: `{"type":"MultiPolygon","coordinates":[
				[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,2],[2,2],[2,1],[1,1]]],
				[[[10,10,5],[11,10,5],[11,11,5],[10,10,5]]]]}`,
			want: MultiPolygon{
				{square(0, 0, 4, 4), {{1, 1}, {1, 2}, {2, 2}, {2, 1}, {1, 1}}},
				{{{10, 10}, {11, 10}, {11, 11}, {10, 10}}},
			},
		},
		{
			name: "extra members and whitespace",
			in:   " {\"bbox\":[0,0,1,1],\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}\n",
			want: MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}},
		},
		{
			name: "limits of range",
			in:   `{"type":"Polygon","coordinates":[[[-180,-90],[180,-90],[180,90],[-180,-90]]]}`,
			want: MultiPolygon{{{{-180, -90}, {180, -90}, {180, 90}, {-180, -90}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGeometry([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseGeometry: %v", err)
			}
			assertSameShape(t, got, tt.want)
		})
	}
}

func TestParseGeometryErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error message
	}{
		{"malformed JSON", `{"type":"Polygon",`, "invalid JSON: unexpected EOF"},
		{"bad JSON token", `{"type":Polygon}`, "invalid JSON: invalid character 'P'"},
		{"empty input", ``, "invalid JSON: empty input"},
		{"trailing data", `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]} x`, "unexpected data after the geometry object"},
		{"not an object", `[1,2]`, "geometry must be a JSON object, got an array"},
		{"no type", `{"coordinates":[]}`, `geometry has no "type" member`},
		{"type not string", `{"type":3}`, `geometry "type" must be a string, got a number`},
		{"point", `{"type":"Point","coordinates":[107,16]}`, `geometry type "Point" is not supported: want Polygon or MultiPolygon`},
		{"lowercase type", `{"type":"polygon","coordinates":[]}`, `geometry type "polygon" is not supported`},
		{"missing coordinates", `{"type":"Polygon"}`, `Polygon geometry is missing "coordinates"`},
		{"null coordinates", `{"type":"MultiPolygon","coordinates":null}`, `MultiPolygon geometry is missing "coordinates"`},
		{"coordinates not array", `{"type":"Polygon","coordinates":"x"}`, `Polygon "coordinates" must be an array, got a string`},
		{"no polygons", `{"type":"MultiPolygon","coordinates":[]}`, "want at least one polygon"},
		{"no rings", `{"type":"Polygon","coordinates":[]}`, "polygon 0 has no rings"},
		{"polygon not array", `{"type":"MultiPolygon","coordinates":[{}]}`, "polygon 0 must be an array of rings, got an object"},
		{"ring not array", `{"type":"Polygon","coordinates":[7]}`, "polygon 0, ring 0 must be an array of positions, got a number"},
		{"short ring", `{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}`, "polygon 0, ring 0 has 3 positions: want at least 4"},
		{
			"unclosed ring",
			`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[107.1,16.2],[107.2,16.2],[107.2,16.3],[107.3,16.4]]]]}`,
			"polygon 1, ring 0 is not closed: first position [107.1 16.2] differs from last [107.3 16.4]",
		},
		{"unclosed hole", `{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[0,0]],[[1,1],[2,1],[2,2],[1,1.5]]]}`, "polygon 0, ring 1 is not closed"},
		{"one-number position", `{"type":"Polygon","coordinates":[[[0,0],[1],[1,1],[0,0]]]}`, "polygon 0, ring 0, position 1: want at least 2 numbers (longitude, latitude), got 1"},
		{"position not array", `{"type":"Polygon","coordinates":[[[0,0],5,[1,1],[0,0]]]}`, "polygon 0, ring 0, position 1: want an array [longitude, latitude], got a number"},
		{"string number", `{"type":"Polygon","coordinates":[[[0,0],[1,"0"],[1,1],[0,0]]]}`, "position 1: element 1 is a string: want a number"},
		{"infinite", `{"type":"Polygon","coordinates":[[[0,0],[1e999,0],[1,1],[0,0]]]}`, "position 1: longitude 1e999 is not a finite number"},
		{"infinite altitude", `{"type":"Polygon","coordinates":[[[0,0,-1e999],[1,0],[1,1],[0,0]]]}`, "position 0: altitude -1e999 is not a finite number"},
		{"longitude range", `{"type":"Polygon","coordinates":[[[0,0],[190,0],[1,1],[0,0]]]}`, "position 1: longitude 190 is outside [-180, 180]"},
		{"latitude range", `{"type":"Polygon","coordinates":[[[0,0],[1,-91],[1,1],[0,0]]]}`, "position 1: latitude -91 is outside [-90, 90]"},
		{"swapped lat/lon", `{"type":"Polygon","coordinates":[[[16.4,107.5],[16.5,107.5],[16.5,107.6],[16.4,107.5]]]}`, "latitude 107.5 is outside [-90, 90] (longitude and latitude swapped?"},
		{"zero area", `{"type":"Polygon","coordinates":[[[0,0],[1,1],[2,2],[0,0]]]}`, "polygon 0, ring 0 (outer ring) has zero area"},
		{"zero area decimals", `{"type":"Polygon","coordinates":[[[107.1,16.1],[107.2,16.2],[107.3,16.3],[107.1,16.1]]]}`, "has zero area"},
		{"repeated point", `{"type":"Polygon","coordinates":[[[5,5],[5,5],[5,5],[5,5]]]}`, "has zero area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGeometry([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseGeometry = %v, want error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMarshalJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    MultiPolygon
		want MultiPolygon // after ParseGeometry(MarshalJSON(m))
	}{
		{
			name: "closed rings with hole",
			m:    MultiPolygon{{square(107.1, 16.1, 107.9, 16.9), square(107.2, 16.2, 107.3, 16.3)}},
			want: MultiPolygon{{square(107.1, 16.1, 107.9, 16.9), square(107.2, 16.2, 107.3, 16.3)}},
		},
		{
			name: "open ring is closed on output",
			m:    MultiPolygon{{{{0.1, 0.2}, {1e-7, 0.3}, {0.3, 1.0 / 3}}}},
			want: MultiPolygon{{{{0.1, 0.2}, {1e-7, 0.3}, {0.3, 1.0 / 3}, {0.1, 0.2}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !strings.HasPrefix(string(data), `{"type":"MultiPolygon","coordinates":[[[[`) {
				t.Errorf("Marshal = %s, want a GeoJSON MultiPolygon object", data)
			}
			got, err := ParseGeometry(data)
			if err != nil {
				t.Fatalf("ParseGeometry(%s): %v", data, err)
			}
			assertSameShape(t, got, tt.want)
		})
	}
}

func TestMarshalJSONEmptyAndNonFinite(t *testing.T) {
	data, err := json.Marshal(MultiPolygon(nil))
	if err != nil {
		t.Fatalf("Marshal(nil): %v", err)
	}
	if got, want := string(data), `{"type":"MultiPolygon","coordinates":[]}`; got != want {
		t.Errorf("Marshal(nil) = %s, want %s", got, want)
	}
	if _, err := json.Marshal(MultiPolygon{{square(0, 0, 1, math.Inf(1))}}); err == nil {
		t.Error("Marshal with +Inf: got nil error, want one")
	}
}

const goodFeature = `{"type":"Feature","properties":{"name":"Phú Hội","code":19969},
	"geometry":{"type":"Polygon","coordinates":[[[107.58,16.46],[107.60,16.46],[107.60,16.48],[107.58,16.46]]]}}`

func TestParseFeatureCollection(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantNames []any
	}{
		{"collection", `{"type":"FeatureCollection","features":[` + goodFeature + `,` + goodFeature + `]}`, []any{"Phú Hội", "Phú Hội"}},
		{"single feature", goodFeature, []any{"Phú Hội"}},
		{"empty collection", `{"type":"FeatureCollection","features":[]}`, []any{}},
		{
			"null properties",
			`{"type":"Feature","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}}`,
			[]any{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := ParseFeatureCollection(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseFeatureCollection: %v", err)
			}
			if got, want := len(fs), len(tt.wantNames); got != want {
				t.Fatalf("got %d features, want %d", got, want)
			}
			for i, f := range fs {
				if got, want := f.Properties["name"], tt.wantNames[i]; got != want {
					t.Errorf("feature %d name = %v, want %v", i, got, want)
				}
				if len(f.Geometry) != 1 || f.Geometry.Area() <= 0 {
					t.Errorf("feature %d geometry = %v, want one polygon with area", i, f.Geometry)
				}
			}
		})
	}
}

func TestParseFeatureCollectionErrors(t *testing.T) {
	unclosed := `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[107.1,16.2],[107.2,16.2],[107.2,16.3],[107.3,16.4]]]}}`
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"malformed", `{"type":"FeatureCollection","features":[`, "invalid JSON"},
		{"empty", "  ", "invalid JSON: empty input"},
		{"not object", `[]`, "GeoJSON must be a JSON object, got array"},
		{"null", `null`, "GeoJSON must be a JSON object, got null"},
		{"no type", `{"features":[]}`, `object has no "type" member`},
		{"bare geometry", `{"type":"Polygon","coordinates":[]}`, `"Polygon" is a bare geometry: want a FeatureCollection or Feature`},
		{"other type", `{"type":"GeometryCollection"}`, `GeoJSON type "GeometryCollection" is not supported`},
		{"no features", `{"type":"FeatureCollection"}`, `FeatureCollection has no "features" member`},
		{"features not array", `{"type":"FeatureCollection","features":{}}`, `"features" must be an array`},
		{
			"index of bad feature",
			`{"type":"FeatureCollection","features":[` + strings.Repeat(goodFeature+",", 3) + unclosed + `]}`,
			"feature 3: polygon 0, ring 0 is not closed: first position [107.1 16.2] differs from last [107.3 16.4]",
		},
		{"single bad feature", unclosed, "feature 0: polygon 0, ring 0 is not closed"},
		{"null geometry", `{"type":"FeatureCollection","features":[` + goodFeature + `,{"type":"Feature","properties":{},"geometry":null}]}`, "feature 1: geometry is null"},
		{"missing geometry", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{}}]}`, `feature 0: feature has no "geometry" member`},
		{"point geometry", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]}}]}`, `feature 0: geometry type "Point" is not supported`},
		{"wrong feature type", `{"type":"FeatureCollection","features":[{"type":"Polygon","coordinates":[]}]}`, `feature 0: type is "Polygon", want "Feature"`},
		{"feature not object", `{"type":"FeatureCollection","features":[` + goodFeature + `,3]}`, "feature 1: must be a JSON object"},
		{"bad properties", `{"type":"Feature","properties":[1],"geometry":null}`, "feature 0: properties must be an object or null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := ParseFeatureCollection(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseFeatureCollection = %v, want error containing %q", fs, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseGeometry(f *testing.F) {
	seeds := []string{
		`{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,16]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,2],[2,2],[2,1],[1,1]]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0,1],[1,0,1],[1,1,1],[0,0,1]]]}`,
		`{"type":"Point","coordinates":[107,16]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[2,2]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1],[1,1],[0,0]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1e999,0],[1,1],[0,0]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,1],[2,2],[0,0]]]}`,
		`{"type":"MultiPolygon","coordinates":[[]]}`,
		`{"type":"Polygon"}`,
		`{"type":"Polygon",`,
		`[]`,
		`null`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseGeometry(data)
		if err != nil {
			if m != nil {
				t.Errorf("ParseGeometry returned %v with error %v, want nil shape", m, err)
			}
			return
		}
		// Whatever parses must survive a round trip unchanged.
		out, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of parsed shape: %v", err)
		}
		back, err := ParseGeometry(out)
		if err != nil {
			t.Fatalf("ParseGeometry(MarshalJSON(m)) = %v for %s", err, out)
		}
		assertSameShape(t, back, m)
		_ = m.Contains(m.Centroid())
		_ = m.Area()
	})
}

// assertSameShape compares shapes coordinate by coordinate.
func assertSameShape(t *testing.T, got, want MultiPolygon) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d polygons, want %d\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("polygon %d: got %d rings, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			g, w := got[i][j], want[i][j]
			if len(g) != len(w) {
				t.Fatalf("polygon %d ring %d: got %d points, want %d", i, j, len(g), len(w))
			}
			for k := range g {
				if g[k] != w[k] {
					t.Fatalf("polygon %d ring %d point %d: got %v, want %v", i, j, k, g[k], w[k])
				}
			}
		}
	}
}
