package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// ParseGeometry reads a GeoJSON geometry object of type "Polygon" or
// "MultiPolygon" (a Polygon becomes a one-polygon MultiPolygon), because
// administrative areas are the only shapes cityops stores. It rejects
// anything a later lookup could misread: other geometry types, missing
// coordinates, rings with fewer than 4 positions or not closed, positions
// with fewer than 2 numbers, non-finite numbers, coordinates outside
// [-180, 180] x [-90, 90] and outer rings without area. Errors name the
// polygon, ring and position at fault, since they are shown to the person
// who supplied the file. Altitudes (third numbers) are ignored.
func ParseGeometry(data []byte) (MultiPolygon, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keeps 1e999 visible as non-finite instead of a decode error
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("invalid JSON: empty input")
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: unexpected data after the geometry object")
	}
	return geometryFromValue(v)
}

func geometryFromValue(v any) (MultiPolygon, error) {
	typ, arr, err := geometryMembers(v, "Polygon or MultiPolygon", "Polygon", "MultiPolygon")
	if err != nil {
		return nil, err
	}
	return polygonsFromValue(typ, arr)
}

// geometryMembers checks a decoded GeoJSON geometry object and returns
// its type, one of types (want lists them for the message), and its
// coordinates array.
func geometryMembers(v any, want string, types ...string) (string, []any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("geometry must be a JSON object, got %s", jsonKind(v))
	}
	rawType, ok := obj["type"]
	if !ok {
		return "", nil, errors.New(`geometry has no "type" member`)
	}
	typ, ok := rawType.(string)
	if !ok {
		return "", nil, fmt.Errorf(`geometry "type" must be a string, got %s`, jsonKind(rawType))
	}
	if !slices.Contains(types, typ) {
		return "", nil, fmt.Errorf("geometry type %q is not supported: want %s", typ, want)
	}
	coords, ok := obj["coordinates"]
	if !ok || coords == nil {
		return "", nil, fmt.Errorf(`%s geometry is missing "coordinates"`, typ)
	}
	arr, ok := coords.([]any)
	if !ok {
		return "", nil, fmt.Errorf(`%s "coordinates" must be an array, got %s`, typ, jsonKind(coords))
	}
	return typ, arr, nil
}

// polygonsFromValue reads the coordinates of a Polygon or MultiPolygon.
func polygonsFromValue(typ string, arr []any) (MultiPolygon, error) {
	if typ == "Polygon" {
		poly, err := polygonFromValue(0, arr)
		if err != nil {
			return nil, err
		}
		return MultiPolygon{poly}, nil
	}
	if len(arr) == 0 {
		return nil, errors.New(`MultiPolygon "coordinates" is empty: want at least one polygon`)
	}
	m := make(MultiPolygon, 0, len(arr))
	for i, pv := range arr {
		rings, ok := pv.([]any)
		if !ok {
			return nil, fmt.Errorf("polygon %d must be an array of rings, got %s", i, jsonKind(pv))
		}
		poly, err := polygonFromValue(i, rings)
		if err != nil {
			return nil, err
		}
		m = append(m, poly)
	}
	return m, nil
}

func polygonFromValue(pi int, rings []any) (Polygon, error) {
	if len(rings) == 0 {
		return nil, fmt.Errorf("polygon %d has no rings: want an outer ring", pi)
	}
	poly := make(Polygon, 0, len(rings))
	for ri, rv := range rings {
		positions, ok := rv.([]any)
		if !ok {
			return nil, fmt.Errorf("polygon %d, ring %d must be an array of positions, got %s", pi, ri, jsonKind(rv))
		}
		ring, err := ringFromValue(pi, ri, positions)
		if err != nil {
			return nil, err
		}
		poly = append(poly, ring)
	}
	return poly, nil
}

func ringFromValue(pi, ri int, positions []any) (Ring, error) {
	ring := make(Ring, 0, len(positions))
	for k, pv := range positions {
		p, err := positionFromValue(pv)
		if err != nil {
			return nil, fmt.Errorf("polygon %d, ring %d, position %d: %w", pi, ri, k, err)
		}
		ring = append(ring, p)
	}
	if len(ring) < 4 {
		return nil, fmt.Errorf("polygon %d, ring %d has %d positions: want at least 4 (a closed ring repeats its first position at the end)", pi, ri, len(ring))
	}
	first, last := ring[0], ring[len(ring)-1]
	if first != last {
		return nil, fmt.Errorf("polygon %d, ring %d is not closed: first position %s differs from last %s", pi, ri, formatPosition(first), formatPosition(last))
	}
	if ri == 0 && ringHasNoArea(ring) {
		return nil, fmt.Errorf("polygon %d, ring 0 (outer ring) has zero area: its positions are repeated or lie on one line", pi)
	}
	return ring, nil
}

// ringHasNoArea treats rings whose area is negligible next to their
// bounding box as zero, so that collinear decimal inputs, which are not
// exactly collinear in binary, are still caught.
func ringHasNoArea(r Ring) bool {
	b := MultiPolygon{{r}}.Bounds()
	w, h := b.Max.Lon-b.Min.Lon, b.Max.Lat-b.Min.Lat
	return math.Abs(r.signedArea()) <= 1e-12*w*h
}

func positionFromValue(v any) (Point, error) {
	nums, ok := v.([]any)
	if !ok {
		return Point{}, fmt.Errorf("want an array [longitude, latitude], got %s", jsonKind(v))
	}
	if len(nums) < 2 {
		return Point{}, fmt.Errorf("want at least 2 numbers (longitude, latitude), got %d", len(nums))
	}
	var xy [2]float64
	names := [2]string{"longitude", "latitude"}
	for i := range nums {
		// json.Number from ParseGeometry, float64 from values that
		// encoding/json decoded into an any (entity attributes).
		var f float64
		var err error
		switch n := nums[i].(type) {
		case json.Number:
			f, err = strconv.ParseFloat(string(n), 64)
		case float64:
			f = n
		default:
			return Point{}, fmt.Errorf("element %d is %s: want a number", i, jsonKind(nums[i]))
		}
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			name := "altitude"
			if i < 2 {
				name = names[i]
			}
			return Point{}, fmt.Errorf("%s %v is not a finite number", name, nums[i])
		}
		if i < 2 {
			xy[i] = f
		}
	}
	lon, lat := xy[0], xy[1]
	if lat < -90 || lat > 90 {
		hint := ""
		if lon >= -90 && lon <= 90 && lat >= -180 && lat <= 180 {
			hint = " (longitude and latitude swapped? GeoJSON positions are [longitude, latitude])"
		}
		return Point{}, fmt.Errorf("latitude %v is outside [-90, 90]%s", lat, hint)
	}
	if lon < -180 || lon > 180 {
		return Point{}, fmt.Errorf("longitude %v is outside [-180, 180]", lon)
	}
	return Point{Lon: lon, Lat: lat}, nil
}

func formatPosition(p Point) string {
	return fmt.Sprintf("[%v %v]", p.Lon, p.Lat)
}

// jsonKind names the JSON type of a decoded value for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// MarshalJSON writes m as a GeoJSON MultiPolygon geometry object, the form
// ParseGeometry reads back unchanged. Rings that do not repeat their first
// point are closed on output so the result is valid GeoJSON. An empty m is
// written with empty coordinates, which ParseGeometry rejects as having no
// polygons.
func (m MultiPolygon) MarshalJSON() ([]byte, error) {
	coords := make([][][][2]float64, len(m))
	for i, poly := range m {
		coords[i] = make([][][2]float64, len(poly))
		for j, ring := range poly {
			out := make([][2]float64, 0, len(ring)+1)
			for _, p := range ring {
				out = append(out, [2]float64{p.Lon, p.Lat})
			}
			if len(ring) > 0 && ring[0] != ring[len(ring)-1] {
				out = append(out, [2]float64{ring[0].Lon, ring[0].Lat})
			}
			coords[i][j] = out
		}
	}
	b, err := json.Marshal(struct {
		Type        string           `json:"type"`
		Coordinates [][][][2]float64 `json:"coordinates"`
	}{"MultiPolygon", coords})
	if err != nil {
		return nil, fmt.Errorf("encode MultiPolygon: %w", err)
	}
	return b, nil
}

// Feature is one area from a GeoJSON file: its properties (names, codes)
// as decoded by encoding/json, and its geometry as a MultiPolygon.
type Feature struct {
	Properties map[string]any
	Geometry   MultiPolygon
}

// ParseFeatureCollection reads a GeoJSON FeatureCollection, or a single
// Feature, as produced by GIS tools when exporting boundaries. Every
// feature must have a Polygon or MultiPolygon geometry; errors start with
// the index of the offending feature ("feature 3: ...") so the person
// importing the file can find it. An empty collection gives no features
// and no error. Properties may be null, giving a nil map.
func ParseFeatureCollection(r io.Reader) ([]Feature, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read GeoJSON: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("invalid JSON: empty input")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf("GeoJSON must be a JSON object, got %s", typeErr.Value)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if top == nil {
		return nil, errors.New("GeoJSON must be a JSON object, got null")
	}
	typ, err := memberType(top)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Feature":
		f, err := featureFromRaw(top)
		if err != nil {
			return nil, fmt.Errorf("feature 0: %w", err)
		}
		return []Feature{f}, nil
	case "FeatureCollection":
	case "Polygon", "MultiPolygon":
		return nil, fmt.Errorf("GeoJSON type %q is a bare geometry: want a FeatureCollection or Feature (wrap the geometry in a Feature)", typ)
	default:
		return nil, fmt.Errorf("GeoJSON type %q is not supported: want FeatureCollection or Feature", typ)
	}
	rawFeatures, ok := top["features"]
	if !ok || isJSONNull(rawFeatures) {
		return nil, errors.New(`FeatureCollection has no "features" member`)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(rawFeatures, &items); err != nil {
		return nil, fmt.Errorf(`FeatureCollection "features" must be an array: %w`, err)
	}
	features := make([]Feature, 0, len(items))
	for i, raw := range items {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("feature %d: must be a JSON object", i)
		}
		t, err := memberType(obj)
		if err != nil {
			return nil, fmt.Errorf("feature %d: %w", i, err)
		}
		if t != "Feature" {
			return nil, fmt.Errorf("feature %d: type is %q, want \"Feature\"", i, t)
		}
		f, err := featureFromRaw(obj)
		if err != nil {
			return nil, fmt.Errorf("feature %d: %w", i, err)
		}
		features = append(features, f)
	}
	return features, nil
}

func memberType(obj map[string]json.RawMessage) (string, error) {
	raw, ok := obj["type"]
	if !ok {
		return "", errors.New(`object has no "type" member`)
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", fmt.Errorf(`"type" must be a string: %w`, err)
	}
	return t, nil
}

func featureFromRaw(obj map[string]json.RawMessage) (Feature, error) {
	var f Feature
	if raw, ok := obj["properties"]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &f.Properties); err != nil {
			return Feature{}, fmt.Errorf("properties must be an object or null: %w", err)
		}
	}
	raw, ok := obj["geometry"]
	if !ok {
		return Feature{}, errors.New(`feature has no "geometry" member`)
	}
	if isJSONNull(raw) {
		return Feature{}, errors.New("geometry is null: every area needs a Polygon or MultiPolygon")
	}
	g, err := ParseGeometry(raw)
	if err != nil {
		return Feature{}, err
	}
	f.Geometry = g
	return f, nil
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
