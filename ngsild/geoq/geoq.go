// Package geoq evaluates NGSI-LD geo-queries (georel, geometry,
// coordinates, geoproperty; ETSI GS CIM 009 clause 4.10) on entities, for
// queries and subscriptions.
//
// Entities may be located by any GeoJSON geometry but GeometryCollection,
// and so may the query. The georels follow OGC simple features (package
// geo), planar in lon/lat, which is exact for the straight lines GeoJSON
// draws between positions but knows nothing of the antimeridian:
//
//   - near;maxDistance==M and/or near;minDistance==M: the great-circle
//     distance in metres between the nearest points of the entity's
//     geometry and the query's (0 when they touch) is at most or at
//     least M;
//   - within: the entity's geometry lies in the query's;
//   - contains: the entity's geometry contains the query's;
//   - intersects: they have a point in common, boundaries included;
//   - disjoint: they have none;
//   - equals: they are the same set of points (the order, orientation
//     and starting point of rings do not matter);
//   - overlaps: they have the same dimension (points, lines, areas), part
//     of their interiors in common, and neither lies in the other.
//
// As in OGC simple features, a point on the boundary of an area (or at
// the end of a line) intersects it but is not within it.
package geoq

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/geo"
)

func bad(format string, args ...any) error {
	return cityops.Errorf(cityops.EINVALID, format, args...)
}

// Query is a parsed NGSI-LD geo-query.
type Query struct {
	rel      string  // near, within, contains, intersects, disjoint, equals, overlaps
	minD     float64 // near;minDistance (metres); 0 = none
	maxD     float64 // near;maxDistance (metres); +Inf = none
	shape    geo.Shape
	property string // expanded geoproperty name
}

// Property is the expanded name of the GeoProperty the query is on.
func (g *Query) Property() string { return g.property }

// Parse reads a geo-query's parameters (georel, geometry, coordinates and
// the geoproperty, already expanded; "" means location). It returns nil
// when there is none, and an EINVALID error that says what is wrong.
func Parse(rel, geometry, coordinates, property string) (*Query, error) {
	if rel == "" {
		if geometry != "" || coordinates != "" {
			return nil, bad("geometry and coordinates need georel")
		}
		return nil, nil
	}
	g := &Query{property: cityops.LocationAttr, maxD: math.Inf(1)}
	if property != "" {
		g.property = property
	}
	parts := strings.Split(rel, ";")
	g.rel = parts[0]
	switch g.rel {
	case "near", "within", "contains", "intersects", "disjoint", "equals", "overlaps":
	default:
		return nil, bad("georel %q: use near, within, contains, intersects, disjoint, equals or overlaps", g.rel)
	}
	hasDistance := false
	for _, mod := range parts[1:] {
		k, v, ok := strings.Cut(mod, "==")
		d, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || d < 0 || math.IsInf(d, 0) || g.rel != "near" {
			return nil, bad("georel %q: only near takes maxDistance==N or minDistance==N (metres)", rel)
		}
		switch k {
		case "maxDistance":
			g.maxD = d
		case "minDistance":
			g.minD = d
		default:
			return nil, bad("georel %q: unknown modifier %q", rel, k)
		}
		hasDistance = true
	}
	if g.rel == "near" && !hasDistance {
		return nil, bad("near needs maxDistance==N or minDistance==N (metres)")
	}
	if g.minD > g.maxD {
		return nil, bad("georel %q: minDistance is greater than maxDistance, which nothing matches", rel)
	}
	switch geometry {
	case "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon":
	case "":
		return nil, bad("georel needs geometry and coordinates")
	default:
		return nil, bad("geometry %q is not supported; use %s", geometry, geo.ShapeTypes)
	}
	if !json.Valid([]byte(coordinates)) {
		return nil, bad("coordinates must be a GeoJSON coordinates array such as [107.58,16.47] ([longitude, latitude])")
	}
	shape, err := geo.ParseShape([]byte(`{"type":"` + geometry + `","coordinates":` + coordinates + `}`))
	if err != nil {
		return nil, bad("coordinates: %v", err)
	}
	g.shape = shape
	return g, nil
}

// Box is a bounding box [minLat, minLon, maxLat, maxLon] that the
// bounding box of every entity matching g intersects, for storage to
// prefilter by (cityops.EntityFilter.Box); nil when the query cannot
// narrow that way (disjoint, near with only minDistance, a geoproperty
// other than location, which storage does not index).
//
// For within, contains, intersects, equals and overlaps it is the query
// geometry's box: each needs a point in common. For near;maxDistance it
// is that box widened by the distance, in latitude by the degrees the
// distance spans and in longitude by as many degrees of longitude at the
// box's latitude farthest from the equator; a box that would reach the
// antimeridian or a pole spans all longitudes, since great-circle
// distances cross them.
func (g *Query) Box() *[4]float64 {
	if g.property != cityops.LocationAttr || g.rel == "disjoint" || math.IsInf(g.maxD, 1) && g.rel == "near" {
		return nil
	}
	b := g.shape.Bounds()
	// Positions within geo.Tolerance of the geometry count as on it.
	d := 2 * geo.Tolerance
	if g.rel == "near" {
		d += g.maxD / geo.MetresPerDegree * (1 + 1e-6)
	}
	minLat, maxLat := max(b.Min.Lat-d, -90), min(b.Max.Lat+d, 90)
	far := max(math.Abs(minLat), math.Abs(maxLat))
	dLon := d
	if g.rel == "near" {
		dLon = d / math.Cos(far*math.Pi/180)
	}
	minLon, maxLon := b.Min.Lon-dLon, b.Max.Lon+dLon
	if g.rel == "near" && (far >= 89.9 || minLon < -180 || maxLon > 180) {
		minLon, maxLon = -180, 180
	}
	return &[4]float64{minLat, minLon, maxLat, maxLon}
}

// Match reports whether an entity satisfies g: whether one of the
// instances of its geoproperty is a geometry that does. Instances that
// are not valid geometries (stored before they were checked) match
// nothing, not even disjoint.
func (g *Query) Match(e *cityops.Entity) bool {
	for _, a := range e.Attrs[g.property] {
		s, err := geo.ShapeFromValue(a["value"])
		if err != nil {
			continue
		}
		if g.match(s) {
			return true
		}
	}
	return false
}

func (g *Query) match(s geo.Shape) bool {
	switch g.rel {
	case "near":
		d := s.Distance(g.shape)
		return d <= g.maxD && d >= g.minD
	case "within":
		return s.Within(g.shape)
	case "contains":
		return s.Contains(g.shape)
	case "intersects":
		return s.Intersects(g.shape)
	case "disjoint":
		return s.Disjoint(g.shape)
	case "equals":
		return s.Equals(g.shape)
	case "overlaps":
		return s.Overlaps(g.shape)
	}
	return false
}
