package geo

import (
	"bytes"
	"math"
	"testing"
)

// FuzzParseShape reads GeoJSON geometries of every type, as NGSI-LD
// GeoProperty values and geo-queries give them: an accepted shape has
// finite positions in range, the member its type names, a polygon reads
// as ParseGeometry reads it, and it is equal to, intersects and lies at no
// distance from itself.
func FuzzParseShape(f *testing.F) {
	for _, s := range []string{
		`{"type":"Point","coordinates":[107.58,16.46]}`,
		`{"type":"Point","coordinates":[107.58,16.46,12.5]}`,
		`{"type":"MultiPoint","coordinates":[[107.58,16.46],[107.59,16.47],[107.58,16.46]]}`,
		`{"type":"LineString","coordinates":[[107.5,16.4],[107.7,16.45],[107.5,16.4]]}`,
		`{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[1,1],[2,0]]]}`,
		`{"type":"Polygon","coordinates":[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]],[[107.55,16.45],[107.6,16.45],[107.6,16.5],[107.55,16.45]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}`,
		`{"type":"LineString","coordinates":[[1,1],[1,1]]}`,
		`{"type":"LineString","coordinates":[[1,1]]}`,
		`{"type":"MultiPoint","coordinates":[]}`,
		`{"type":"Point","coordinates":[16.46,107.58]}`,
		`{"type":"Point","coordinates":[1e999,0]}`,
		`{"type":"Point","coordinates":["1",0]}`,
		`{"type":"GeometryCollection","geometries":[]}`,
		`{"type":"Point","coordinates":[0,0]} {}`,
		`{"type":"Point"}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseShape(data)
		if err != nil {
			if s.Type != "" || s.Points != nil || s.Lines != nil || s.Polygons != nil || err.Error() == "" {
				t.Fatalf("ParseShape = %+v with error %v; want the zero Shape", s, err)
			}
			return
		}
		n := 0
		s.eachVertex(func(p Point) {
			n++
			if math.IsNaN(p.Lon) || math.IsNaN(p.Lat) || math.Abs(p.Lon) > 180 || math.Abs(p.Lat) > 90 {
				t.Fatalf("position %v accepted", p)
			}
		})
		if n == 0 {
			t.Fatalf("%s: a %s without positions", data, s.Type)
		}
		wantDim := map[string]int{"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1, "Polygon": 2, "MultiPolygon": 2}
		if d, ok := wantDim[s.Type]; !ok || d != s.Dim() {
			t.Fatalf("type %q of dimension %d", s.Type, s.Dim())
		}
		if (s.Points != nil) != (s.Dim() == 0) || (s.Lines != nil) != (s.Dim() == 1) || (s.Polygons != nil) != (s.Dim() == 2) {
			t.Fatalf("%s sets the wrong members: %+v", s.Type, s)
		}
		if (s.Type == "Point" && len(s.Points) != 1) || (s.Type == "LineString" && len(s.Lines) != 1) || (s.Type == "Polygon" && len(s.Polygons) != 1) {
			t.Fatalf("a %s of %d parts", s.Type, len(s.Points)+len(s.Lines)+len(s.Polygons))
		}
		if s.Dim() == 2 {
			m, err := ParseGeometry(data)
			if err != nil {
				t.Fatalf("ParseShape accepts %s, ParseGeometry does not: %v", data, err)
			}
			assertSameShape(t, s.Polygons, m)
		}
		b := s.Bounds()
		if b.Min.Lon > b.Max.Lon || b.Min.Lat > b.Max.Lat {
			t.Fatalf("bounds %v", b)
		}
		if bytes.Count(data, []byte("[")) > 200 {
			return // keep the relations below quick
		}
		if !s.Intersects(s) || s.Disjoint(s) {
			t.Fatalf("%s does not intersect itself", data)
		}
		if d := s.Distance(s); d != 0 {
			t.Fatalf("%s lies %v m from itself", data, d)
		}
		if !s.Equals(s) {
			t.Fatalf("%s does not equal itself", data)
		}
	})
}

// FuzzParseFeatureCollection reads GeoJSON files as cityops areas import
// does: an accepted file's features have Polygon or MultiPolygon
// geometries that write out and read back the same.
func FuzzParseFeatureCollection(f *testing.F) {
	for _, s := range []string{
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"P10","name":"Phú Xuân","kind":"ward","parent":"HUE","approximate":true},
			"geometry":{"type":"Polygon","coordinates":[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]}},
			{"type":"Feature","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]]]]}}]}`,
		`{"type":"Feature","properties":{"code":"X"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`,
		`{"type":"FeatureCollection","features":[]}`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null}]}`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":[],"geometry":{"type":"Point","coordinates":[0,0]}}]}`,
		`{"type":"FeatureCollection","features":{}}`,
		`{"type":"FeatureCollection"}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`,
		`{"type":5}`, `[]`, `null`, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseFeatureCollection(bytes.NewReader(data))
		if err != nil {
			if fs != nil || err.Error() == "" {
				t.Fatalf("ParseFeatureCollection = %v with error %v", fs, err)
			}
			return
		}
		for i, ft := range fs {
			if len(ft.Geometry) == 0 {
				t.Fatalf("feature %d has no polygon", i)
			}
			out, err := ft.Geometry.MarshalJSON()
			if err != nil {
				t.Fatalf("feature %d: %v", i, err)
			}
			back, err := ParseGeometry(out)
			if err != nil {
				t.Fatalf("feature %d writes %s, which does not read: %v", i, out, err)
			}
			assertSameShape(t, back, ft.Geometry)
		}
	})
}
