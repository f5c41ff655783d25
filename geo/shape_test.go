package geo

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseShape(t *testing.T) {
	tests := []struct {
		in   string
		want Shape
		dim  int
	}{
		{`{"type":"Point","coordinates":[107.58,16.47,12]}`, Shape{Type: "Point", Points: []Point{{107.58, 16.47}}}, 0},
		{`{"type":"MultiPoint","coordinates":[[1,2],[3,4]]}`, Shape{Type: "MultiPoint", Points: []Point{{1, 2}, {3, 4}}}, 0},
		{`{"type":"LineString","coordinates":[[1,2],[1,2],[3,4]]}`, Shape{Type: "LineString", Lines: []Line{{{1, 2}, {1, 2}, {3, 4}}}}, 1},
		{`{"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[[0,0],[0,1],[0,0]]]}`,
			Shape{Type: "MultiLineString", Lines: []Line{{{1, 2}, {3, 4}}, {{0, 0}, {0, 1}, {0, 0}}}}, 1},
		{`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`,
			Shape{Type: "Polygon", Polygons: MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}}}, 2},
		{`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}`,
			Shape{Type: "MultiPolygon", Polygons: MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}}}, 2},
	}
	for _, tt := range tests {
		got, err := ParseShape([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseShape(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) || got.Dim() != tt.dim {
			t.Errorf("ParseShape(%s) = %+v dim %d; want %+v dim %d", tt.in, got, got.Dim(), tt.want, tt.dim)
		}
		// Entity attributes arrive decoded by encoding/json, as float64.
		var v any
		json.Unmarshal([]byte(tt.in), &v)
		if got, err := ShapeFromValue(v); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ShapeFromValue(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseShapeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"Circle","coordinates":[1,2]}`, `geometry type "Circle" is not supported: want Point, MultiPoint, LineString`},
		{`{"type":"GeometryCollection","geometries":[]}`, `"GeometryCollection" is not supported`},
		{`{"type":"Point"}`, `Point geometry is missing "coordinates"`},
		{`{"type":"Point","coordinates":[16.47,107.58]}`, "Point: latitude 107.58 is outside [-90, 90] (longitude and latitude swapped?"},
		{`{"type":"Point","coordinates":[181,0]}`, "Point: longitude 181 is outside [-180, 180]"},
		{`{"type":"Point","coordinates":[1]}`, "Point: want at least 2 numbers"},
		{`{"type":"Point","coordinates":[1e999,0]}`, "Point: longitude 1e999 is not a finite number"},
		{`{"type":"Point","coordinates":["1",0]}`, "Point: element 0 is a string: want a number"},
		{`{"type":"MultiPoint","coordinates":[]}`, "MultiPoint \"coordinates\" is empty"},
		{`{"type":"MultiPoint","coordinates":[[0,0],[0,91]]}`, "MultiPoint position 1: latitude 91 is outside"},
		{`{"type":"LineString","coordinates":[[0,0]]}`, "LineString has 1 positions: want at least 2"},
		{`{"type":"LineString","coordinates":[[0,0],[0,0]]}`, "LineString has no length: all its positions are [0 0]"},
		{`{"type":"LineString","coordinates":[[0,0],[0,"x"]]}`, "LineString, position 1: element 1 is a string"},
		{`{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],5]}`, "line 1 must be an array of positions, got a number"},
		{`{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2]]]}`, "line 1 has 1 positions: want at least 2"},
		{`{"type":"MultiLineString","coordinates":[]}`, "MultiLineString \"coordinates\" is empty"},
		{`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`, "polygon 0, ring 0 is not closed"},
		{`{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}`, "polygon 0, ring 0 has 3 positions: want at least 4"},
		{`{"type":"Polygon","coordinates":[[[0,0],[1,1],[2,2],[0,0]]]}`, "has zero area"},
		{`{"type":"Point","coordinates":[0,0]} x`, "unexpected data after the geometry object"},
		{``, "invalid JSON: empty input"},
	}
	for _, tt := range tests {
		_, err := ParseShape([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseShape(%s) = %v; want an error with %q", tt.in, err, tt.want)
		}
	}
}

func TestShapeBounds(t *testing.T) {
	s := mustShape(t, `{"type":"MultiLineString","coordinates":[[[107.5,16.4],[107.6,16.5]],[[107.7,16.3],[107.55,16.45]]]}`)
	if got, want := s.Bounds(), (Rect{Point{107.5, 16.3}, Point{107.7, 16.5}}); got != want {
		t.Errorf("Bounds = %v; want %v", got, want)
	}
	if got := (Shape{}).Bounds(); got != (Rect{}) {
		t.Errorf("empty Bounds = %v", got)
	}
}

func mustShape(t *testing.T, s string) Shape {
	t.Helper()
	g, err := ParseShape([]byte(s))
	if err != nil {
		t.Fatalf("ParseShape(%s): %v", s, err)
	}
	return g
}
