// Package geoq evaluates NGSI-LD geo-queries (georel, geometry,
// coordinates, geoproperty) on entities, for queries and subscriptions.
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

// Property is the expanded name of the GeoProperty the query is on.
func (g *Query) Property() string { return g.property }

// Box is a bounding box [minLat, minLon, maxLat, maxLon] that every
// entity matching g has its location point in, for storage to prefilter
// by; nil when the query cannot narrow that way.
func (g *Query) Box() *[4]float64 {
	if g.property != cityops.LocationAttr || g.rel == "disjoint" {
		return nil
	}
	b := g.box
	return &b
}

// Query is a parsed NGSI-LD geo-query (georel, geometry, coordinates,
// geoproperty) over entities located by a Point.
type Query struct {
	rel      string  // near, within, intersects, disjoint, equals
	minD     float64 // near;minDistance (metres)
	maxD     float64 // near;maxDistance (metres); 0 = none
	point    geo.Point
	shape    geo.MultiPolygon
	property string // expanded geoproperty name
	box      [4]float64
}

// Parse reads a geo-query's parameters (georel, geometry, coordinates and
// the geoproperty, already expanded; "" means location). It returns nil
// when there is none, and an EINVALID error that says what is wrong.
// Entity geometries other than points, and the georels that need them
// (contains, overlaps), are not supported yet and say so.
func Parse(rel, geometry, coordinates, property string) (*Query, error) {
	if rel == "" {
		if geometry != "" || coordinates != "" {
			return nil, bad("geometry and coordinates need georel")
		}
		return nil, nil
	}
	g := &Query{property: cityops.LocationAttr}
	if property != "" {
		g.property = property
	}
	parts := strings.Split(rel, ";")
	g.rel = parts[0]
	for _, mod := range parts[1:] {
		k, v, ok := strings.Cut(mod, "==")
		d, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || d < 0 || g.rel != "near" {
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
	}
	switch g.rel {
	case "near", "within", "intersects", "disjoint", "equals":
	case "contains", "overlaps":
		return nil, bad("georel %s needs entity geometries other than points, which are not supported yet", g.rel)
	default:
		return nil, bad("georel %q: use near, within, intersects, disjoint or equals", g.rel)
	}
	if g.rel == "near" && g.maxD == 0 && g.minD == 0 {
		return nil, bad("near needs maxDistance==N or minDistance==N")
	}
	var coords json.RawMessage
	if err := json.Unmarshal([]byte(coordinates), &coords); err != nil {
		return nil, bad("coordinates must be a GeoJSON coordinates array such as [107.58,16.47]")
	}
	switch geometry {
	case "Point":
		var p []float64
		if err := json.Unmarshal(coords, &p); err != nil || len(p) < 2 || math.Abs(p[0]) > 180 || math.Abs(p[1]) > 90 {
			return nil, bad("a Point's coordinates are [longitude, latitude]")
		}
		g.point = geo.Point{Lon: p[0], Lat: p[1]}
		if g.rel != "near" && g.rel != "equals" && g.rel != "disjoint" {
			return nil, bad("georel %s with a Point query geometry matches nothing; use near or equals", g.rel)
		}
	case "Polygon", "MultiPolygon":
		if g.rel == "near" || g.rel == "equals" {
			return nil, bad("georel %s needs a Point geometry", g.rel)
		}
		shape, err := geo.ParseGeometry([]byte(`{"type":"` + geometry + `","coordinates":` + string(coords) + `}`))
		if err != nil {
			return nil, bad("geometry: %v", err)
		}
		g.shape = shape
	case "":
		return nil, bad("georel needs geometry and coordinates")
	default:
		return nil, bad("geometry %q is not supported yet; use Point, Polygon or MultiPolygon", geometry)
	}
	// A bounding box lets storage discard most entities by their columns.
	switch {
	case g.rel == "near" && g.maxD > 0:
		dLat := g.maxD / 111320
		dLon := dLat / math.Max(math.Cos(g.point.Lat*math.Pi/180), 0.01)
		g.box = [4]float64{g.point.Lat - dLat, g.point.Lon - dLon, g.point.Lat + dLat, g.point.Lon + dLon}
	case g.rel == "equals":
		g.box = [4]float64{g.point.Lat, g.point.Lon, g.point.Lat, g.point.Lon}
	case g.shape != nil && g.rel != "disjoint":
		b := g.shape.Bounds()
		g.box = [4]float64{b.Min.Lat, b.Min.Lon, b.Max.Lat, b.Max.Lon}
	default:
		g.box = [4]float64{-90, -180, 90, 180}
	}
	return g, nil
}

// distance is the great-circle distance in metres.
func distance(a, b geo.Point) float64 {
	const r = 6371008.8
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dla, dlo := la2-la1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// Match reports whether an entity's geoproperty (a Point) satisfies g.
func (g *Query) Match(e *cityops.Entity) bool {
	for _, a := range e.Attrs[g.property] {
		v, _ := a["value"].(map[string]any)
		if v["type"] != "Point" {
			continue
		}
		c, _ := v["coordinates"].([]any)
		if len(c) < 2 {
			continue
		}
		lon, ok1 := c[0].(float64)
		lat, ok2 := c[1].(float64)
		if !ok1 || !ok2 {
			continue
		}
		p := geo.Point{Lon: lon, Lat: lat}
		switch g.rel {
		case "near":
			d := distance(g.point, p)
			if (g.maxD == 0 || d <= g.maxD) && d >= g.minD {
				return true
			}
		case "equals":
			if p == g.point {
				return true
			}
		case "within", "intersects":
			if g.shape.Contains(p) {
				return true
			}
		case "disjoint":
			if g.shape != nil && !g.shape.Contains(p) || g.shape == nil && p != g.point {
				return true
			}
		}
	}
	return false
}
