// Package geo is the planar geometry cityops needs for administrative
// areas: GeoJSON polygons in and out with validation messages meant for
// the people importing them, a point-in-polygon Index that finds the
// innermost area for a report, and Voronoi cells for demo data. For
// NGSI-LD geo-queries it also reads any GeoJSON geometry (Shape) and
// relates two of them as OGC simple features do (Within, Overlaps,
// Distance, …).
//
// Coordinates are WGS84 longitude/latitude in degrees, used directly as
// planar x/y. At city scale the distortion does not change which area a
// point falls in, and it keeps coordinates identical to what GeoJSON files
// and web maps use.
package geo

import "math"

// Point is a WGS84 position in degrees. Lon is x and Lat is y, the order
// GeoJSON uses, so positions never need reordering on the way in or out.
type Point struct{ Lon, Lat float64 }

// Ring is a boundary line of a polygon. As in GeoJSON, rings produced by
// this package repeat their first point at the end; every function here
// also accepts rings that omit the repeat and treats them as closed, so
// hand-built shapes in code and tests stay short.
type Ring []Point

// Polygon is an area with optional holes: ring 0 is the outer boundary,
// further rings are holes. It mirrors GeoJSON so imported files map one to
// one onto it.
type Polygon []Ring

// MultiPolygon is a set of polygons treated as one area, because wards
// with islands or exclaves must still be a single shape. It is the shape
// areas are stored as.
type MultiPolygon []Polygon

// Rect is an axis-aligned bounding box; it lets callers and the Index skip
// shapes cheaply before running exact tests.
type Rect struct{ Min, Max Point }

func (r Rect) contains(p Point) bool {
	return p.Lon >= r.Min.Lon && p.Lon <= r.Max.Lon && p.Lat >= r.Min.Lat && p.Lat <= r.Max.Lat
}

// Bounds returns the smallest Rect holding every point of m, so callers
// can zoom a map to an area or prefilter lookups. It returns the zero Rect
// for an empty MultiPolygon.
func (m MultiPolygon) Bounds() Rect {
	r := Rect{
		Min: Point{math.Inf(1), math.Inf(1)},
		Max: Point{math.Inf(-1), math.Inf(-1)},
	}
	empty := true
	for _, poly := range m {
		for _, ring := range poly {
			for _, p := range ring {
				empty = false
				r.Min.Lon = min(r.Min.Lon, p.Lon)
				r.Min.Lat = min(r.Min.Lat, p.Lat)
				r.Max.Lon = max(r.Max.Lon, p.Lon)
				r.Max.Lat = max(r.Max.Lat, p.Lat)
			}
		}
	}
	if empty {
		return Rect{}
	}
	return r
}

// Contains reports whether p lies inside m, holes excluded, using the
// even-odd rule (a horizontal ray cast towards +Lon). Points exactly on an
// edge may be reported either way, but always the same way for the same
// input, and the Index gives the identical answer.
func (m MultiPolygon) Contains(p Point) bool {
	for _, poly := range m {
		if poly.contains(p) {
			return true
		}
	}
	return false
}

// contains applies the even-odd rule over all rings of poly, so a point in
// a hole (inside two rings) is outside.
func (poly Polygon) contains(p Point) bool {
	in := false
	for _, ring := range poly {
		if len(ring) == 0 {
			continue
		}
		a := ring[len(ring)-1]
		for _, b := range ring {
			if crosses(a, b, p) {
				in = !in
			}
			a = b
		}
	}
	return in
}

// crosses reports whether the ray from p towards +Lon crosses edge a-b.
// It is the single place that decides containment: MultiPolygon.Contains
// and the Index both call it with the edge in ring order, so they agree
// bit for bit, including on edges.
func crosses(a, b, p Point) bool {
	return (a.Lat > p.Lat) != (b.Lat > p.Lat) &&
		p.Lon < (b.Lon-a.Lon)*(p.Lat-a.Lat)/(b.Lat-a.Lat)+a.Lon
}

// Area returns the planar area of m in square degrees (outer rings minus
// holes, regardless of ring orientation). It is meant for comparing areas,
// for example to pick the more specific of two overlapping ones, not for
// reporting square kilometres. Overlapping polygons are counted twice.
func (m MultiPolygon) Area() float64 {
	var total float64
	for _, poly := range m {
		total += poly.area()
	}
	return total
}

func (poly Polygon) area() float64 {
	var a float64
	for i, ring := range poly {
		if i == 0 {
			a += math.Abs(ring.signedArea())
		} else {
			a -= math.Abs(ring.signedArea())
		}
	}
	return a
}

// signedArea is the shoelace area, positive for counter-clockwise rings.
// Coordinates are taken relative to the first point so that small shapes
// far from (0, 0) keep their precision.
func (r Ring) signedArea() float64 {
	if len(r) < 3 {
		return 0
	}
	o := r[0]
	var s float64
	a := r[len(r)-1]
	for _, b := range r {
		s += (a.Lon-o.Lon)*(b.Lat-o.Lat) - (b.Lon-o.Lon)*(a.Lat-o.Lat)
		a = b
	}
	return s / 2
}

// Centroid returns the area-weighted centroid of m (holes subtracted), for
// use as a label or map-marker position. For strongly concave shapes it
// can fall outside the area. If m has no area it returns the centre of
// Bounds instead, and the zero Point for an empty MultiPolygon.
func (m MultiPolygon) Centroid() Point {
	b := m.Bounds()
	o := b.Min // common origin keeps the moments small
	var area, mx, my float64
	for _, poly := range m {
		for i, ring := range poly {
			a, cx, cy := ring.moments(o)
			if a == 0 {
				continue
			}
			w := 1.0 // outer rings add, holes subtract, whatever their orientation
			if i > 0 {
				w = -1
			}
			if a < 0 {
				w = -w
			}
			area += w * a
			mx += w * cx
			my += w * cy
		}
	}
	if area == 0 {
		return Point{(b.Min.Lon + b.Max.Lon) / 2, (b.Min.Lat + b.Max.Lat) / 2}
	}
	return Point{o.Lon + mx/area, o.Lat + my/area}
}

// moments returns the signed area of r and its first moments about o
// (area times centroid offset).
func (r Ring) moments(o Point) (area, mx, my float64) {
	if len(r) < 3 {
		return 0, 0, 0
	}
	a := r[len(r)-1]
	for _, b := range r {
		ax, ay := a.Lon-o.Lon, a.Lat-o.Lat
		bx, by := b.Lon-o.Lon, b.Lat-o.Lat
		c := ax*by - bx*ay
		area += c
		mx += (ax + bx) * c
		my += (ay + by) * c
		a = b
	}
	return area / 2, mx / 6, my / 6
}
