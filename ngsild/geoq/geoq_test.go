package geoq

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/geo"
)

func entity(t *testing.T, id, geometry string) *cityops.Entity {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(geometry), &v); err != nil {
		t.Fatal(err)
	}
	return &cityops.Entity{ID: id, Attrs: map[string][]cityops.Attr{
		cityops.LocationAttr: {{"type": "GeoProperty", "value": v}},
	}}
}

func TestParseErrors(t *testing.T) {
	sq := `[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]`
	tests := []struct{ rel, geometry, coords, want string }{
		{"", "Point", "[1,2]", "geometry and coordinates need georel"},
		{"inside", "Polygon", sq, `georel "inside": use near, within, contains, intersects, disjoint, equals or overlaps`},
		{"near", "Point", "[1,2]", "near needs maxDistance==N or minDistance==N"},
		{"near;maxDistance=10", "Point", "[1,2]", "only near takes maxDistance==N"},
		{"near;maxDistance==-1", "Point", "[1,2]", "only near takes"},
		{"near;maxDistance==ten", "Point", "[1,2]", "only near takes"},
		{"near;radius==10", "Point", "[1,2]", `unknown modifier "radius"`},
		{"within;maxDistance==10", "Polygon", sq, "only near takes"},
		{"near;maxDistance==10;minDistance==20", "Point", "[1,2]", "minDistance is greater than maxDistance"},
		{"within", "", "", "georel needs geometry and coordinates"},
		{"within", "Circle", "[1,2]", `geometry "Circle" is not supported; use Point, MultiPoint, LineString`},
		{"within", "Polygon", "north", "coordinates must be a GeoJSON coordinates array"},
		{"within", "Polygon", `[[[107,16],[108,16],[108,17]]]`, "coordinates: polygon 0, ring 0 has 3 positions: want at least 4"},
		{"within", "Polygon", `[[[107,16],[108,16],[108,17],[107,17]]]`, "coordinates: polygon 0, ring 0 is not closed"},
		{"near;maxDistance==10", "Point", `[16.47,107.58]`, "coordinates: Point: latitude 107.58 is outside [-90, 90] (longitude and latitude swapped?"},
		{"intersects", "LineString", `[[107,16]]`, "coordinates: LineString has 1 positions: want at least 2"},
		{"equals", "MultiPoint", `[]`, `coordinates: MultiPoint "coordinates" is empty`},
		{"equals", "Point", `[1,2]}, {"x":1`, "coordinates must be a GeoJSON coordinates array"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.rel, tt.geometry, tt.coords, "")
		if cityops.ErrorCode(err) != cityops.EINVALID || !strings.Contains(cityops.ErrorMessage(err), tt.want) {
			t.Errorf("Parse(%q, %q, %q) = %v; want EINVALID with %q", tt.rel, tt.geometry, tt.coords, err, tt.want)
		}
	}
	if g, err := Parse("", "", "", ""); g != nil || err != nil {
		t.Errorf("no geo-query = %v, %v", g, err)
	}
}

// TestMatch runs every georel over a sensor (a point), a street (a line)
// and a park and a ward (areas) in Huế.
func TestMatch(t *testing.T) {
	all := []*cityops.Entity{
		entity(t, "sensor", `{"type":"Point","coordinates":[107.585,16.465]}`),
		entity(t, "street", `{"type":"LineString","coordinates":[[107.57,16.46],[107.59,16.46],[107.59,16.48]]}`),
		entity(t, "park", `{"type":"Polygon","coordinates":[[[107.58,16.46],[107.59,16.46],[107.59,16.47],[107.58,16.47],[107.58,16.46]]]}`),
		entity(t, "ward", `{"type":"Polygon","coordinates":[[[107.55,16.44],[107.62,16.44],[107.62,16.5],[107.55,16.5],[107.55,16.44]]]}`),
		entity(t, "bad", `{"type":"Point","coordinates":[200,16]}`),
		{ID: "none", Attrs: map[string][]cityops.Attr{}},
	}
	park := `[[[107.58,16.46],[107.59,16.46],[107.59,16.47],[107.58,16.47],[107.58,16.46]]]`
	tests := []struct{ rel, geometry, coords, want string }{
		{"near;maxDistance==10", "Point", "[107.585,16.465]", "sensor,park,ward"},
		{"near;maxDistance==600", "Point", "[107.585,16.455]", "street,park,ward"}, // 556 m to the street and park
		{"near;maxDistance==500", "Point", "[107.585,16.455]", "ward"},
		{"near;minDistance==1000", "Point", "[107.585,16.455]", "sensor"}, // 1112 m
		{"near;minDistance==1", "Point", "[107.585,16.465]", "street"},
		{"near;maxDistance==2000;minDistance==1000", "Point", "[107.6,16.3]", ""},
		{"near;maxDistance==0", "Point", "[107.59,16.465]", "street,park,ward"},
		{"within", "Polygon", park, "sensor,park"},
		{"within", "MultiPoint", "[[107.585,16.465],[1,1]]", "sensor"},
		{"contains", "Point", "[107.585,16.465]", "sensor,park,ward"},
		{"contains", "Point", "[107.59,16.465]", "street,ward"}, // on the park's edge
		{"contains", "LineString", "[[107.58,16.465],[107.585,16.465]]", "park,ward"},
		{"contains", "Polygon", park, "park,ward"},
		{"intersects", "Polygon", park, "sensor,street,park,ward"},
		{"intersects", "LineString", "[[107.5,16.455],[107.6,16.455]]", "ward"},
		{"disjoint", "Polygon", park, ""},
		{"disjoint", "LineString", "[[107.5,16.455],[107.6,16.455]]", "sensor,street,park"},
		{"equals", "Point", "[107.585,16.465]", "sensor"},
		{"equals", "LineString", "[[107.59,16.48],[107.59,16.46],[107.57,16.46]]", "street"},
		{"equals", "MultiPolygon", "[" + park + "]", "park"},
		{"overlaps", "Polygon", `[[[107.585,16.465],[107.6,16.465],[107.6,16.475],[107.585,16.475],[107.585,16.465]]]`, "park"},
		{"overlaps", "LineString", "[[107.58,16.46],[107.6,16.46]]", "street"},
		{"overlaps", "MultiPoint", "[[107.585,16.465],[1,1]]", ""},
	}
	for _, tt := range tests {
		g, err := Parse(tt.rel, tt.geometry, tt.coords, "")
		if err != nil {
			t.Errorf("Parse(%s %s %s): %v", tt.rel, tt.geometry, tt.coords, err)
			continue
		}
		var got []string
		for _, e := range all {
			if g.Match(e) {
				got = append(got, e.ID)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s %s %s = %s; want %s", tt.rel, tt.geometry, tt.coords, strings.Join(got, ","), tt.want)
		}
	}
}

func TestGeoproperty(t *testing.T) {
	e := entity(t, "x", `{"type":"Point","coordinates":[107.585,16.465]}`)
	e.Attrs["https://example.org/origin"] = e.Attrs[cityops.LocationAttr]
	delete(e.Attrs, cityops.LocationAttr)
	g, err := Parse("near;maxDistance==5", "Point", "[107.585,16.465]", "https://example.org/origin")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Match(e) || g.Property() != "https://example.org/origin" || g.Box() != nil {
		t.Errorf("on origin: match %v property %s box %v; want true, origin, nil", g.Match(e), g.Property(), g.Box())
	}
	g, _ = Parse("near;maxDistance==5", "Point", "[107.585,16.465]", "")
	if g.Match(e) {
		t.Error("location matched an entity without one")
	}
}

func TestBox(t *testing.T) {
	tests := []struct {
		rel, geometry, coords string
		want                  *[4]float64 // nil: no box; else compared to 1e-6
	}{
		{"within", "LineString", "[[107.5,16.4],[107.7,16.45]]", &[4]float64{16.4, 107.5, 16.45, 107.7}},
		{"contains", "Point", "[107.5,16.4]", &[4]float64{16.4, 107.5, 16.4, 107.5}},
		{"disjoint", "Point", "[107.5,16.4]", nil},
		{"near;minDistance==10", "Point", "[107.5,16.4]", nil},
		{"near;maxDistance==1000", "Point", "[0,0]", &[4]float64{-1000 / geo.MetresPerDegree, -1000 / geo.MetresPerDegree, 1000 / geo.MetresPerDegree, 1000 / geo.MetresPerDegree}},
		{"near;maxDistance==1000", "Point", "[179.995,60]", &[4]float64{60 - 1000/geo.MetresPerDegree, -180, 60 + 1000/geo.MetresPerDegree, 180}},
		{"near;maxDistance==100000", "Point", "[10,89.5]", &[4]float64{89.5 - 100000/geo.MetresPerDegree, -180, 90, 180}},
	}
	for _, tt := range tests {
		g, err := Parse(tt.rel, tt.geometry, tt.coords, "")
		if err != nil {
			t.Fatal(err)
		}
		got := g.Box()
		if (got == nil) != (tt.want == nil) {
			t.Errorf("%s %s: box %v; want %v", tt.rel, tt.coords, got, tt.want)
			continue
		}
		for i := 0; got != nil && i < 4; i++ {
			if math.Abs(got[i]-tt.want[i]) > 1e-6 {
				t.Errorf("%s %s: box %v; want %v", tt.rel, tt.coords, *got, *tt.want)
				break
			}
		}
	}
}

// TestBoxIsSafe checks on random shapes that the storage prefilter never
// drops a true match: every entity a query matches has a bounding box
// that intersects the query's Box.
func TestBoxIsSafe(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pos := func() string { return fmt.Sprintf("[%.4f,%.4f]", 107.5+r.Float64()*0.1, 16.4+r.Float64()*0.1) }
	shape := func() (string, string) {
		switch r.IntN(4) {
		case 0:
			return "Point", pos()
		case 1:
			return "LineString", "[" + pos() + "," + pos() + "," + pos() + "]"
		case 2:
			return "MultiPoint", "[" + pos() + "," + pos() + "]"
		}
		x, y, w, h := 107.5+r.Float64()*0.1, 16.4+r.Float64()*0.1, 0.001+r.Float64()*0.05, 0.001+r.Float64()*0.05
		return "Polygon", fmt.Sprintf("[[[%.4f,%.4f],[%.4f,%.4f],[%.4f,%.4f],[%.4f,%.4f],[%.4f,%.4f]]]", x, y, x+w, y, x+w, y+h, x, y+h, x, y)
	}
	var entities []*cityops.Entity
	var boxes []geo.Rect
	for i := range 150 {
		typ, coords := shape()
		e := entity(t, fmt.Sprint(i), `{"type":"`+typ+`","coordinates":`+coords+`}`)
		s, err := geo.ShapeFromValue(e.Attrs[cityops.LocationAttr][0]["value"])
		if err != nil {
			t.Fatal(err)
		}
		entities = append(entities, e)
		boxes = append(boxes, s.Bounds())
	}
	matched := map[string]int{}
	for range 60 {
		typ, coords := shape()
		for _, rel := range []string{"near;maxDistance==800", "near;maxDistance==0", "within", "contains", "intersects", "equals", "overlaps"} {
			g, err := Parse(rel, typ, coords, "")
			if err != nil {
				t.Fatal(err)
			}
			box := g.Box()
			for i, e := range entities {
				if !g.Match(e) {
					continue
				}
				matched[rel]++
				b := boxes[i]
				if box == nil || b.Max.Lat < box[0] || b.Min.Lat > box[2] || b.Max.Lon < box[1] || b.Min.Lon > box[3] {
					t.Fatalf("%s %s %s matches entity %s (box %v) outside the box %v", rel, typ, coords, e.ID, b, box)
				}
			}
		}
	}
	t.Logf("matches: %v", matched)
}
