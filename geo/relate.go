package geo

import (
	"math"
	"slices"
)

// The spatial relations below follow the OGC simple features model (the
// one NGSI-LD geo-queries refer to) in the lon/lat plane, like the rest of
// the package: straight segments in degrees, no antimeridian crossing.
// Every shape has an interior, a boundary and an exterior:
//
//   - points: the points are the interior, there is no boundary;
//   - lines: the end points are the boundary (an end point shared by an
//     even number of lines, as in a ring road, is interior), the rest of
//     the line the interior;
//   - areas: the rings are the boundary, what they enclose minus the holes
//     the interior.
//
// Positions closer than Tolerance to a point or segment are taken to be on
// it, so that shapes sharing an edge given in decimal degrees touch even
// where binary floating point would make them miss by a hair. Shapes are
// assumed to be valid beyond what ParseShape checks: rings do not cross
// themselves, holes lie in their polygon, polygons of a MultiPolygon do
// not overlap.

// Tolerance is the distance in degrees (about 0.1 mm) below which a
// position is taken to lie on a point or segment.
const Tolerance = 1e-9

// location is where a position lies relative to a shape.
type location int8

const (
	exterior location = iota
	boundary
	interior
)

// segment is a straight edge between two positions.
type segment struct{ a, b Point }

func (g segment) bounds() Rect {
	return Rect{
		Min: Point{min(g.a.Lon, g.b.Lon), min(g.a.Lat, g.b.Lat)},
		Max: Point{max(g.a.Lon, g.b.Lon), max(g.a.Lat, g.b.Lat)},
	}
}

// at returns the position at parameter t (0 at a, 1 at b).
func (g segment) at(t float64) Point {
	return Point{g.a.Lon + t*(g.b.Lon-g.a.Lon), g.a.Lat + t*(g.b.Lat-g.a.Lat)}
}

// param returns the parameter of the projection of p on g's line.
func (g segment) param(p Point) float64 {
	dx, dy := g.b.Lon-g.a.Lon, g.b.Lat-g.a.Lat
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return 0
	}
	return ((p.Lon-g.a.Lon)*dx + (p.Lat-g.a.Lat)*dy) / l2
}

// dist is the planar distance in degrees from p to g.
func (g segment) dist(p Point) float64 {
	q := g.at(min(max(g.param(p), 0), 1))
	return math.Hypot(p.Lon-q.Lon, p.Lat-q.Lat)
}

func (g segment) has(p Point) bool { return g.dist(p) <= Tolerance }

func samePoint(p, q Point) bool { return math.Hypot(p.Lon-q.Lon, p.Lat-q.Lat) <= Tolerance }

// cross is the z component of (a-o) x (b-o): positive when o, a, b turn
// counter-clockwise.
func cross(o, a, b Point) float64 {
	return (a.Lon-o.Lon)*(b.Lat-o.Lat) - (a.Lat-o.Lat)*(b.Lon-o.Lon)
}

// meets reports whether segments g and h have a point in common.
func (g segment) meets(h segment) bool {
	if !g.bounds().near(h.bounds()) {
		return false
	}
	if g.has(h.a) || g.has(h.b) || h.has(g.a) || h.has(g.b) {
		return true
	}
	d1, d2 := cross(g.a, g.b, h.a), cross(g.a, g.b, h.b)
	d3, d4 := cross(h.a, h.b, g.a), cross(h.a, h.b, g.b)
	return (d1 > 0 && d2 < 0 || d1 < 0 && d2 > 0) && (d3 > 0 && d4 < 0 || d3 < 0 && d4 > 0)
}

// cuts appends to ts the parameters along g where h touches, crosses or
// starts or stops running along g.
func (g segment) cuts(h segment, ts []float64) []float64 {
	if !g.bounds().near(h.bounds()) {
		return ts
	}
	n := len(ts)
	for _, p := range [2]Point{h.a, h.b} {
		if g.has(p) {
			ts = append(ts, min(max(g.param(p), 0), 1))
		}
	}
	if h.has(g.a) {
		ts = append(ts, 0)
	}
	if h.has(g.b) {
		ts = append(ts, 1)
	}
	if len(ts) > n {
		return ts // touching or running along: the end points say it all
	}
	d1, d2 := cross(g.a, g.b, h.a), cross(g.a, g.b, h.b)
	d3, d4 := cross(h.a, h.b, g.a), cross(h.a, h.b, g.b)
	if (d1 > 0 && d2 < 0 || d1 < 0 && d2 > 0) && (d3 > 0 && d4 < 0 || d3 < 0 && d4 > 0) {
		ts = append(ts, d3/(d3-d4))
	}
	return ts
}

// near reports whether r and o intersect once widened by Tolerance.
func (r Rect) near(o Rect) bool {
	return r.Min.Lon <= o.Max.Lon+Tolerance && o.Min.Lon <= r.Max.Lon+Tolerance &&
		r.Min.Lat <= o.Max.Lat+Tolerance && o.Min.Lat <= r.Max.Lat+Tolerance
}

// segments returns the segments of s's lines, or of its rings for an
// area; points have none. Zero-length segments are left out.
func (s Shape) segments() []segment {
	var out []segment
	add := func(a, b Point) {
		if a != b {
			out = append(out, segment{a, b})
		}
	}
	for _, l := range s.Lines {
		for i := 1; i < len(l); i++ {
			add(l[i-1], l[i])
		}
	}
	for _, poly := range s.Polygons {
		for _, ring := range poly {
			if len(ring) == 0 {
				continue
			}
			a := ring[len(ring)-1] // closes hand-built rings; a no-op for GeoJSON ones
			for _, b := range ring {
				add(a, b)
				a = b
			}
		}
	}
	return out
}

// locate says whether p lies in the interior, on the boundary or in the
// exterior of s; segs are s.segments().
func (s Shape) locate(p Point, segs []segment) location {
	switch s.Dim() {
	case 0:
		for _, q := range s.Points {
			if samePoint(p, q) {
				return interior
			}
		}
		return exterior
	case 1:
		ends := 0 // the mod-2 rule: an end point of an odd number of lines is boundary
		for _, l := range s.Lines {
			if samePoint(p, l[0]) {
				ends++
			}
			if samePoint(p, l[len(l)-1]) {
				ends++
			}
		}
		if ends%2 == 1 {
			return boundary
		}
		for _, g := range segs {
			if g.has(p) {
				return interior
			}
		}
		return exterior
	}
	for _, g := range segs {
		if g.has(p) {
			return boundary
		}
	}
	if s.Polygons.Contains(p) {
		return interior
	}
	return exterior
}

// pieces cuts every segment of a where the segments of b touch or cross
// it, and calls fn with the middle of each piece and with each cut point
// (end points included) until fn returns false. Each piece lies wholly
// in b's interior, boundary or exterior, so its middle speaks for it.
func pieces(a, b []segment, fn func(p Point, middle bool) bool) bool {
	var ts []float64
	for _, g := range a {
		ts = append(ts[:0], 0, 1)
		for _, h := range b {
			ts = g.cuts(h, ts)
		}
		slices.Sort(ts)
		ts = slices.Compact(ts)
		for i, t := range ts {
			if !fn(g.at(t), false) {
				return false
			}
			if i+1 < len(ts) && !fn(g.at((t+ts[i+1])/2), true) {
				return false
			}
		}
	}
	return true
}

// Intersects reports whether s and o have at least one point in common,
// boundaries included.
func (s Shape) Intersects(o Shape) bool {
	if !s.Bounds().near(o.Bounds()) {
		return false
	}
	ss, os := s.segments(), o.segments()
	found := false
	s.eachVertex(func(p Point) { found = found || o.locate(p, os) != exterior })
	o.eachVertex(func(p Point) { found = found || s.locate(p, ss) != exterior })
	if found {
		return true
	}
	for _, g := range ss {
		for _, h := range os {
			if g.meets(h) {
				return true
			}
		}
	}
	return false
}

// Disjoint reports whether s and o have no point in common.
func (s Shape) Disjoint(o Shape) bool { return !s.Intersects(o) }

// coveredBy reports whether every point of s is a point of o.
func (s Shape) coveredBy(o Shape) bool {
	if s.Dim() > o.Dim() || !o.Bounds().near(s.Bounds()) {
		return false // a line has no room in points, an area none in lines
	}
	ss, os := s.segments(), o.segments()
	if s.Dim() == 0 {
		for _, p := range s.Points {
			if o.locate(p, os) == exterior {
				return false
			}
		}
		return true
	}
	// Every piece of s's lines or rings must lie in o...
	if !pieces(ss, os, func(p Point, _ bool) bool { return o.locate(p, os) != exterior }) {
		return false
	}
	if s.Dim() == 1 {
		return true
	}
	// ...and, for areas, no ring of o may pass through s's interior, which
	// would leave a hole of o (part of o's exterior) inside s.
	return pieces(os, ss, func(p Point, _ bool) bool { return s.locate(p, ss) != interior })
}

// interiorsMeet reports whether the interiors of s and o have a point in
// common. dim1 asks, for two line shapes, for a common stretch rather
// than a crossing point.
func (s Shape) interiorsMeet(o Shape, dim1 bool) bool {
	if !s.Bounds().near(o.Bounds()) {
		return false
	}
	if s.Dim() > o.Dim() {
		s, o = o, s
	}
	ss, os := s.segments(), o.segments()
	switch {
	case s.Dim() == 0:
		for _, p := range s.Points {
			if o.locate(p, os) == interior {
				return true
			}
		}
		return false
	case s.Dim() == 1 && o.Dim() == 1:
		// A stretch in common has piece middles on both; a crossing point
		// is a cut point in the interior of both.
		return !pieces(ss, os, func(p Point, middle bool) bool {
			if middle {
				return o.locate(p, os) == exterior
			}
			return dim1 || s.locate(p, ss) != interior || o.locate(p, os) != interior
		})
	case s.Dim() == 1:
		return !pieces(ss, os, func(p Point, middle bool) bool { return !middle || o.locate(p, os) != interior })
	}
	// Two areas: either a ring of one runs through the interior of the
	// other, or neither does and then each polygon of s lies wholly inside
	// or wholly outside o, which one of its interior points tells.
	if !pieces(ss, os, func(p Point, middle bool) bool { return !middle || o.locate(p, os) != interior }) ||
		!pieces(os, ss, func(p Point, middle bool) bool { return !middle || s.locate(p, ss) != interior }) {
		return true
	}
	for _, poly := range s.Polygons {
		if p, ok := poly.interiorPoint(); ok && o.locate(p, os) == interior {
			return true
		}
	}
	return false
}

// Within reports whether s lies in o: no point of s is outside o and
// their interiors meet. As in OGC simple features, a point on the
// boundary of an area, or at the end of a line, is not within it.
func (s Shape) Within(o Shape) bool { return s.coveredBy(o) && s.interiorsMeet(o, false) }

// Contains reports whether o lies in s (o.Within(s)).
func (s Shape) Contains(o Shape) bool { return o.Within(s) }

// Equals reports whether s and o are the same set of points, whatever the
// order, orientation or starting point of their parts.
func (s Shape) Equals(o Shape) bool { return s.coveredBy(o) && o.coveredBy(s) }

// Overlaps reports whether s and o, of the same dimension, share part of
// their interiors of that dimension while neither lies in the other: two
// areas that partly cover each other, two lines that run together for a
// stretch, two point sets with some but not all points in common.
func (s Shape) Overlaps(o Shape) bool {
	return s.Dim() == o.Dim() && s.interiorsMeet(o, true) && !s.coveredBy(o) && !o.coveredBy(s)
}

// interiorPoint returns a point strictly inside poly: the middle of the
// widest inside stretch of a horizontal line that passes through no
// vertex. ok is false for a polygon without area.
func (poly Polygon) interiorPoint() (Point, bool) {
	var lats []float64
	for _, ring := range poly {
		for _, p := range ring {
			lats = append(lats, p.Lat)
		}
	}
	slices.Sort(lats)
	lats = slices.Compact(lats)
	if len(lats) < 2 {
		return Point{}, false
	}
	y, gap := 0.0, -1.0
	for i := 1; i < len(lats); i++ {
		if g := lats[i] - lats[i-1]; g > gap {
			y, gap = (lats[i]+lats[i-1])/2, g
		}
	}
	var xs []float64
	for _, ring := range poly {
		if len(ring) == 0 {
			continue
		}
		a := ring[len(ring)-1]
		for _, b := range ring {
			if (a.Lat > y) != (b.Lat > y) {
				xs = append(xs, a.Lon+(y-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat))
			}
			a = b
		}
	}
	slices.Sort(xs)
	best, width := Point{}, 0.0
	for i := 0; i+1 < len(xs); i += 2 {
		if w := xs[i+1] - xs[i]; w > width {
			best, width = Point{(xs[i] + xs[i+1]) / 2, y}, w
		}
	}
	return best, width > 0
}

// earthRadius is the mean Earth radius in metres, for great-circle
// distances.
const earthRadius = 6371008.8

// MetresPerDegree is the great-circle length of one degree of latitude
// (or of longitude at the equator) in metres, on the sphere Distance uses.
const MetresPerDegree = earthRadius * math.Pi / 180

// GreatCircle returns the great-circle distance between p and q in
// metres, on a sphere of the Earth's mean radius.
func GreatCircle(p, q Point) float64 {
	la1, la2 := p.Lat*math.Pi/180, q.Lat*math.Pi/180
	dla, dlo := la2-la1, (q.Lon-p.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// metresTo returns the great-circle distance from p to the point of g
// nearest to it, that point being found in a plane that is locally true
// to scale around p (longitudes shrunk by the cosine of p's latitude). At
// city scale that is the true nearest point; farther away the distance
// returned may slightly exceed the true one, never fall short of it, as
// it is the distance to a point of g.
func (g segment) metresTo(p Point) float64 {
	k := math.Cos(p.Lat * math.Pi / 180)
	ax, ay := (g.a.Lon-p.Lon)*k, g.a.Lat-p.Lat
	dx, dy := (g.b.Lon-g.a.Lon)*k, g.b.Lat-g.a.Lat
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = min(max(-(ax*dx+ay*dy)/l2, 0), 1)
	}
	return GreatCircle(p, g.at(t))
}

// Distance returns the distance in metres between the nearest points of s
// and o: 0 when they intersect, otherwise the great-circle distance from
// a position of one to the nearest point of the other's points, lines or
// rings (see the segment method metresTo for how exact that is).
func (s Shape) Distance(o Shape) float64 {
	if s.Intersects(o) {
		return 0
	}
	d := math.Inf(1)
	oneWay := func(s, o Shape) {
		os := o.segments()
		s.eachVertex(func(p Point) {
			for _, q := range o.Points {
				d = min(d, GreatCircle(p, q))
			}
			for _, g := range os {
				d = min(d, g.metresTo(p))
			}
		})
	}
	oneWay(s, o)
	oneWay(o, s)
	return d
}
