package geoq

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/geo"
)

// FuzzParse reads geo-query parameters (georel, geometry, coordinates) and
// matches the query against an entity located by any value: a refusal is
// EINVALID; an accepted query's Box never drops an entity the query
// matches, since storage prefilters by it.
func FuzzParse(f *testing.F) {
	sq := `[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]`
	for _, s := range [][4]string{
		{"near;maxDistance==2000", "Point", "[107.58,16.46]", `{"type":"Point","coordinates":[107.59,16.47]}`},
		{"near;minDistance==10;maxDistance==800", "LineString", "[[107.5,16.4],[107.7,16.45]]", `{"type":"Point","coordinates":[107.6,16.43]}`},
		{"near;maxDistance==100000", "Point", "[179.995,89.5]", `{"type":"Point","coordinates":[-179.99,89.6]}`},
		{"within", "Polygon", sq, `{"type":"LineString","coordinates":[[107.55,16.45],[107.6,16.5]]}`},
		{"contains", "Point", "[107.6,16.5]", `{"type":"Polygon","coordinates":` + sq + `}`},
		{"intersects", "MultiPoint", "[[107.5,16.4],[0,0]]", `{"type":"MultiPolygon","coordinates":[` + sq + `]}`},
		{"disjoint", "MultiLineString", "[[[0,0],[1,1]],[[2,2],[3,3]]]", `{"type":"Point","coordinates":[0.5,0.5]}`},
		{"equals", "Polygon", sq, `{"type":"Polygon","coordinates":[[[107.7,16.55],[107.5,16.55],[107.5,16.4],[107.7,16.4],[107.7,16.55]]]}`},
		{"overlaps", "Polygon", sq, `{"type":"Polygon","coordinates":[[[107.6,16.5],[107.8,16.5],[107.8,16.6],[107.6,16.6],[107.6,16.5]]]}`},
		{"near", "Point", "[0,0]", `null`},
		{"near;maxDistance==-1", "Point", "[0,0]", `5`},
		{"within;maxDistance==1", "Point", "[0,0]", `{}`},
		{"near;minDistance==5;maxDistance==1", "Point", "[0,0]", `[]`},
		{"inside", "Circle", "[0,0]", `"x"`},
		{"within", "Point", "[0,0] x", `{"type":"Point"}`},
		{"within", "Point", "[1e400,0]", `{"type":"Point","coordinates":[1e400,0]}`},
		{"", "Point", "[0,0]", `{"type":"Point","coordinates":[0,0]}`},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, rel, geometry, coords, located string) {
		g, err := Parse(rel, geometry, coords, "")
		if err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID || g != nil {
				t.Fatalf("Parse: %v, %v; want EINVALID and no query", g, err)
			}
			return
		}
		if g == nil {
			if rel != "" {
				t.Fatalf("georel %q: no query and no error", rel)
			}
			return
		}
		var v any
		if json.Unmarshal([]byte(located), &v) != nil {
			v = located
		}
		e := &cityops.Entity{ID: "urn:x:1", Attrs: map[string][]cityops.Attr{cityops.LocationAttr: {{"type": "GeoProperty", "value": v}}}}
		box := g.Box()
		if box != nil {
			for _, x := range box {
				if math.IsNaN(x) {
					t.Fatalf("box %v", *box)
				}
			}
			if box[0] > box[2] || box[1] > box[3] || box[0] < -90 || box[2] > 90 {
				t.Fatalf("box %v is not [minLat, minLon, maxLat, maxLon]", *box)
			}
		}
		if !g.Match(e) {
			return
		}
		s, err := geo.ShapeFromValue(v)
		if err != nil {
			t.Fatalf("%s matched, but is not a geometry: %v", located, err)
		}
		if box == nil {
			return
		}
		b := s.Bounds()
		if b.Max.Lat < box[0] || b.Min.Lat > box[2] || b.Max.Lon < box[1] || b.Min.Lon > box[3] {
			t.Fatalf("georel %s %s %s matches %s (bounds %v) outside the box %v", rel, geometry, coords, located, b, *box)
		}
	})
}
