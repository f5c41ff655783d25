package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Line is a GeoJSON LineString: at least two positions, joined by straight
// segments in lon/lat. A line whose last position repeats its first is
// closed (a ring road) and, as in OGC simple features, has no end points.
type Line []Point

// Shape is any GeoJSON geometry except GeometryCollection, because an
// NGSI-LD entity may be located by a point (a sensor), a line (a street)
// or an area (a park, a ward), and a geo-query may use any of them. Only
// the member that Type names is set.
type Shape struct {
	// Type is the GeoJSON type: Point, MultiPoint, LineString,
	// MultiLineString, Polygon or MultiPolygon.
	Type     string
	Points   []Point      // Point (one) and MultiPoint
	Lines    []Line       // LineString (one) and MultiLineString
	Polygons MultiPolygon // Polygon (one) and MultiPolygon
}

// ShapeTypes lists the GeoJSON types a Shape can be, for messages.
const ShapeTypes = "Point, MultiPoint, LineString, MultiLineString, Polygon or MultiPolygon"

// Dim is the topological dimension of s: 0 for points, 1 for lines and 2
// for areas. Overlaps only relates shapes of the same dimension.
func (s Shape) Dim() int {
	switch {
	case s.Polygons != nil:
		return 2
	case s.Lines != nil:
		return 1
	}
	return 0
}

// Bounds returns the smallest Rect holding s, so that storage can
// prefilter geo-queries by comparing boxes. It returns the zero Rect for
// the zero Shape.
func (s Shape) Bounds() Rect {
	r := Rect{Min: Point{math.Inf(1), math.Inf(1)}, Max: Point{math.Inf(-1), math.Inf(-1)}}
	empty := true
	s.eachVertex(func(p Point) {
		empty = false
		r.Min.Lon = min(r.Min.Lon, p.Lon)
		r.Min.Lat = min(r.Min.Lat, p.Lat)
		r.Max.Lon = max(r.Max.Lon, p.Lon)
		r.Max.Lat = max(r.Max.Lat, p.Lat)
	})
	if empty {
		return Rect{}
	}
	return r
}

// eachVertex calls fn with every position of s.
func (s Shape) eachVertex(fn func(Point)) {
	for _, p := range s.Points {
		fn(p)
	}
	for _, l := range s.Lines {
		for _, p := range l {
			fn(p)
		}
	}
	for _, poly := range s.Polygons {
		for _, ring := range poly {
			for _, p := range ring {
				fn(p)
			}
		}
	}
}

// ParseShape reads a GeoJSON geometry object of any type but
// GeometryCollection. It checks what ParseGeometry checks (finite
// coordinates in range, closed rings of at least 4 positions, outer rings
// with an area) and that lines have at least two positions and a length,
// with errors that name the part at fault for the person who sent it.
// Positions are [longitude, latitude]; altitudes are ignored.
func ParseShape(data []byte) (Shape, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return Shape{}, errors.New("invalid JSON: empty input")
		}
		return Shape{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Shape{}, errors.New("invalid JSON: unexpected data after the geometry object")
	}
	return ShapeFromValue(v)
}

// ShapeFromValue is ParseShape for a geometry already decoded by
// encoding/json into an any (numbers as float64 or json.Number), as
// NGSI-LD GeoProperty values are.
func ShapeFromValue(v any) (Shape, error) {
	typ, arr, err := geometryMembers(v, ShapeTypes,
		"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
	if err != nil {
		return Shape{}, err
	}
	s := Shape{Type: typ}
	switch typ {
	case "Point":
		p, err := positionFromValue(arr)
		if err != nil {
			return Shape{}, fmt.Errorf("Point: %w", err)
		}
		s.Points = []Point{p}
	case "MultiPoint":
		if len(arr) == 0 {
			return Shape{}, errors.New(`MultiPoint "coordinates" is empty: want at least one position`)
		}
		for i, pv := range arr {
			p, err := positionFromValue(pv)
			if err != nil {
				return Shape{}, fmt.Errorf("MultiPoint position %d: %w", i, err)
			}
			s.Points = append(s.Points, p)
		}
	case "LineString":
		l, err := lineFromValue("LineString", arr)
		if err != nil {
			return Shape{}, err
		}
		s.Lines = []Line{l}
	case "MultiLineString":
		if len(arr) == 0 {
			return Shape{}, errors.New(`MultiLineString "coordinates" is empty: want at least one line`)
		}
		for i, lv := range arr {
			positions, ok := lv.([]any)
			if !ok {
				return Shape{}, fmt.Errorf("line %d must be an array of positions, got %s", i, jsonKind(lv))
			}
			l, err := lineFromValue(fmt.Sprintf("line %d", i), positions)
			if err != nil {
				return Shape{}, err
			}
			s.Lines = append(s.Lines, l)
		}
	default:
		m, err := polygonsFromValue(typ, arr)
		if err != nil {
			return Shape{}, err
		}
		s.Polygons = m
	}
	return s, nil
}

// lineFromValue reads the positions of a line; name says which in errors.
func lineFromValue(name string, positions []any) (Line, error) {
	l := make(Line, 0, len(positions))
	for k, pv := range positions {
		p, err := positionFromValue(pv)
		if err != nil {
			return nil, fmt.Errorf("%s, position %d: %w", name, k, err)
		}
		l = append(l, p)
	}
	if len(l) < 2 {
		return nil, fmt.Errorf("%s has %d positions: want at least 2", name, len(l))
	}
	for _, p := range l[1:] {
		if p != l[0] {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%s has no length: all its positions are %s", name, formatPosition(l[0]))
}
