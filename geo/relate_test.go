package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// shapes for the relation tests, in a compact notation: the GeoJSON type
// and its coordinates.
var fixtures = map[string]string{
	"A":       `Polygon [[[0,0],[4,0],[4,4],[0,4],[0,0]]]`,
	"A'":      `Polygon [[[4,4],[4,0],[0,0],[0,4],[4,4]]]`, // A from another vertex, other way round
	"Ahole":   `Polygon [[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[3,1],[3,3],[1,3],[1,1]]]`,
	"B":       `Polygon [[[2,2],[6,2],[6,6],[2,6],[2,2]]]`,                     // overlaps A
	"C":       `Polygon [[[4,0],[6,0],[6,4],[4,4],[4,0]]]`,                     // shares A's east edge
	"Ccorner": `Polygon [[[4,4],[5,4],[5,5],[4,5],[4,4]]]`,                     // touches A at a corner
	"D":       `Polygon [[[1,1],[2,1],[2,2],[1,2],[1,1]]]`,                     // in A, in Ahole's hole touching it
	"Dhole":   `Polygon [[[1.5,1.5],[2.5,1.5],[2.5,2.5],[1.5,2.5],[1.5,1.5]]]`, // strictly in the hole
	"E":       `Polygon [[[5,5],[6,5],[6,6],[5,6],[5,5]]]`,                     // far from A
	"F":       `Polygon [[[0.5,0.5],[3.5,0.5],[3.5,3.5],[0.5,3.5],[0.5,0.5]]]`,
	"DE":      `MultiPolygon [[[[1,1],[2,1],[2,2],[1,2],[1,1]]],[[[5,5],[6,5],[6,6],[5,6],[5,5]]]]`,
	"DD":      `MultiPolygon [[[[1,1],[2,1],[2,2],[1,2],[1,1]]],[[[2.5,2.5],[3.5,2.5],[3.5,3.5],[2.5,3.5],[2.5,2.5]]]]`,
	"U":       `Polygon [[[0,0],[3,0],[3,3],[2,3],[2,1],[1,1],[1,3],[0,3],[0,0]]]`, // concave
	"H":       `Polygon [[[1,1],[3,1],[3,3],[1,3],[1,1]]]`,                         // fills Ahole's hole
	"A+":      `Polygon [[[0,0],[2,0],[4,0],[4,4],[0,4],[0,0]]]`,                   // A with a vertex in the middle of an edge
	"ring":    `LineString [[0,0],[4,0],[4,4],[0,4],[0,0]]`,                        // a closed line: A's outline

	"p22":     `Point [2,2]`,
	"p02":     `Point [0,2]`,
	"p44":     `Point [4,4]`,
	"p55":     `Point [5,5]`,
	"p00":     `Point [0,0]`,
	"p11":     `Point [1,1]`,
	"p12":     `Point [1,2]`,
	"p10":     `Point [1,0]`,
	"p0505":   `Point [0.5,0.5]`,
	"mp22_55": `MultiPoint [[2,2],[5,5]]`,
	"mp11_22": `MultiPoint [[1,1],[2,2]]`,
	"mp22_11": `MultiPoint [[2,2],[1,1]]`,
	"mp22_33": `MultiPoint [[2,2],[3,3]]`,
	"mp11":    `MultiPoint [[1,1]]`,

	"diag":      `LineString [[1,1],[3,3]]`,
	"across":    `LineString [[-1,2],[5,2]]`,
	"edge":      `LineString [[0,0],[4,0]]`,
	"halfedge":  `LineString [[0,0],[2,0]]`,
	"halfedge2": `LineString [[0,0],[1,0],[2,0]]`,
	"shifted":   `LineString [[1,0],[3,0]]`,
	"short":     `LineString [[0,0],[1,0]]`,
	"long":      `LineString [[0,0],[3,0]]`,
	"spur":      `LineString [[4,1],[6,1]]`,
	"away":      `LineString [[5,0],[5,6]]`,
	"throughH":  `LineString [[0.5,2],[3.5,2]]`,
	"aroundH":   `LineString [[0.5,0.5],[3.5,0.5]]`,
	"up":        `LineString [[0,0],[2,2]]`,
	"up'":       `LineString [[2,2],[0,0]]`,
	"down":      `LineString [[0,2],[2,0]]`,
	"v1":        `LineString [[0,0],[1,1]]`,
	"v2":        `LineString [[1,1],[2,0]]`,
	"two":       `MultiLineString [[[0,0],[1,0]],[[1,0],[2,0]]]`,
	"inU":       `LineString [[0.5,0.5],[0.5,2.5]]`,
	"acrossU":   `LineString [[0.5,2],[2.5,2]]`,
	"corner":    `LineString [[3,5],[5,3]]`,   // touches A at its corner
	"corners":   `LineString [[-1,-1],[5,5]]`, // through two corners of A
	"cornerTo":  `LineString [[0,0],[4,4]]`,   // from corner to corner of A
	"holeEdge":  `LineString [[1,1],[3,1]]`,   // an edge of Ahole's hole
}

func fixture(t *testing.T, name string) Shape {
	t.Helper()
	f, ok := fixtures[name]
	if !ok {
		t.Fatalf("no fixture %q", name)
	}
	typ, coords, _ := strings.Cut(f, " ")
	return mustShape(t, `{"type":"`+typ+`","coordinates":`+coords+`}`)
}

// TestRelations checks every relation of pairs of shapes, and that they
// agree with each other: Contains is Within reversed, Intersects, Equals
// and Overlaps are symmetric, Disjoint is not Intersects.
func TestRelations(t *testing.T) {
	// want lists the relations of a to b that hold: i(ntersects), w(ithin),
	// c(ontains), e(quals), o(verlaps); "" is disjoint.
	tests := []struct{ a, b, want string }{
		// Points and areas: the boundary is not "within".
		{"p22", "A", "iw"},
		{"p02", "A", "i"},
		{"p44", "A", "i"},
		{"p55", "A", ""},
		{"p22", "Ahole", ""},
		{"p12", "Ahole", "i"},
		{"p0505", "Ahole", "iw"},
		{"p22", "p22", "iwce"},
		{"p22", "p55", ""},
		{"mp22_55", "A", "i"},
		{"mp11_22", "mp22_33", "io"},
		{"mp11_22", "mp22_11", "iwce"},
		{"mp11", "mp11_22", "iw"},
		{"p11", "mp11", "iwce"},
		// Points and lines: the end points are the boundary.
		{"p00", "up", "i"},
		{"p11", "up", "iw"},
		{"p00", "ring", "iw"}, // a closed line has no end points
		{"p10", "two", "iw"},
		// Lines and areas.
		{"diag", "A", "iw"},
		{"across", "A", "i"},
		{"edge", "A", "i"},
		{"halfedge", "A", "i"},
		{"spur", "A", "i"},
		{"away", "A", ""},
		{"throughH", "Ahole", "i"},
		{"aroundH", "Ahole", "iw"},
		{"ring", "A", "i"},
		{"inU", "U", "iw"},
		{"acrossU", "U", "i"},
		{"corner", "A", "i"},
		{"corners", "A", "i"},
		{"cornerTo", "A", "iw"},
		{"holeEdge", "Ahole", "i"},
		{"holeEdge", "A", "iw"},
		// Lines and lines.
		{"up", "down", "i"},
		{"halfedge", "shifted", "io"},
		{"halfedge", "halfedge2", "iwce"},
		{"up", "up'", "iwce"},
		{"short", "long", "iw"},
		{"v1", "v2", "i"},
		{"two", "halfedge", "iwce"},
		{"edge", "ring", "iw"},
		{"halfedge", "edge", "iw"},
		{"diag", "up", "io"},
		// Areas and areas.
		{"D", "A", "iw"},
		{"A", "B", "io"},
		{"A", "C", "i"},
		{"A", "Ccorner", "i"},
		{"A", "E", ""},
		{"A", "A'", "iwce"},
		{"D", "Ahole", "i"},
		{"Dhole", "Ahole", ""},
		{"Ahole", "A", "iw"},
		{"F", "Ahole", "io"},
		{"DE", "A", "io"}, // D is in A, E outside: they overlap
		{"DD", "A", "iw"},
		{"D", "DD", "iw"},
		{"D", "U", "i"},
		{"Dhole", "U", "io"},
		{"H", "Ahole", "i"},
		{"H", "A", "iw"},
		{"A+", "A", "iwce"},
		// Mixed dimensions never overlap.
		{"across", "B", "i"},
		{"mp22_55", "diag", "i"},
	}
	for _, tt := range tests {
		a, b := fixture(t, tt.a), fixture(t, tt.b)
		got := relations(a, b)
		if got != tt.want {
			t.Errorf("%s to %s = %q; want %q", tt.a, tt.b, got, tt.want)
		}
		back := relations(b, a)
		want := strings.NewReplacer("w", "C", "c", "W").Replace(tt.want)
		want = strings.ToLower(want)
		if sorted(back) != sorted(want) {
			t.Errorf("%s to %s = %q; want %q (the converse of %q)", tt.b, tt.a, back, want, tt.want)
		}
		if a.Disjoint(b) == a.Intersects(b) {
			t.Errorf("%s, %s: Disjoint = Intersects", tt.a, tt.b)
		}
	}
}

func relations(a, b Shape) string {
	var s string
	for _, r := range []struct {
		c  string
		ok bool
	}{{"i", a.Intersects(b)}, {"w", a.Within(b)}, {"c", a.Contains(b)}, {"e", a.Equals(b)}, {"o", a.Overlaps(b)}} {
		if r.ok {
			s += r.c
		}
	}
	return s
}

func sorted(s string) string {
	b := []byte(s)
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			if b[j] < b[i] {
				b[i], b[j] = b[j], b[i]
			}
		}
	}
	return string(b)
}

// TestTouchingInDecimals checks that a point given in decimal degrees
// on an edge, which binary floating point puts a hair off it, touches it.
func TestTouchingInDecimals(t *testing.T) {
	park := mustShape(t, `{"type":"Polygon","coordinates":[[[107.1,16.1],[107.3,16.4],[107.1,16.4],[107.1,16.1]]]}`)
	onEdge := mustShape(t, `{"type":"Point","coordinates":[107.2,16.25]}`)
	if got := relations(onEdge, park); got != "i" {
		t.Errorf("point on the diagonal edge = %q; want i", got)
	}
	street := mustShape(t, `{"type":"LineString","coordinates":[[107.1,16.1],[107.2,16.25],[107.3,16.4]]}`)
	if got := relations(street, park); got != "i" {
		t.Errorf("street along the edge = %q; want i", got)
	}
	edge := mustShape(t, `{"type":"LineString","coordinates":[[107.3,16.4],[107.1,16.1]]}`)
	if got := relations(street, edge); got != "iwce" {
		t.Errorf("street and edge = %q; want iwce", got)
	}
}

func TestInteriorPoint(t *testing.T) {
	for _, name := range []string{"A", "Ahole", "U", "D", "F"} {
		s := fixture(t, name)
		p, ok := s.Polygons[0].interiorPoint()
		if !ok || s.locate(p, s.segments()) != interior {
			t.Errorf("%s: interior point %v, %v is not inside", name, p, ok)
		}
	}
	if _, ok := (Polygon{{{0, 0}, {1, 0}, {0, 0}}}).interiorPoint(); ok {
		t.Error("a flat polygon has an interior point")
	}
}

func TestDistance(t *testing.T) {
	const m = MetresPerDegree
	tests := []struct {
		a, b string
		want float64 // metres
	}{
		{"p00", "p11", GreatCircle(Point{0, 0}, Point{1, 1})},
		{"p22", "A", 0},
		{"p02", "A", 0},
		{"p55", "A", GreatCircle(Point{5, 5}, Point{4, 4})},
		{"p22", "Ahole", GreatCircle(Point{2, 2}, Point{1, 2})}, // to the hole's nearest edge
		{"p55", "away", 0},
		{"away", "A", GreatCircle(Point{5, 4}, Point{4, 4})}, // meridians converge northwards
		{"p00", "v2", GreatCircle(Point{0, 0}, Point{1, 1})},
		{"E", "A", GreatCircle(Point{5, 5}, Point{4, 4})},
		{"A", "C", 0},
	}
	for _, tt := range tests {
		a, b := fixture(t, tt.a), fixture(t, tt.b)
		for _, d := range []float64{a.Distance(b), b.Distance(a)} {
			if math.Abs(d-tt.want) > 1e-6*m {
				t.Errorf("distance %s to %s = %.3f m; want %.3f", tt.a, tt.b, d, tt.want)
			}
		}
	}
}

// TestDistanceToSegment compares the distance to a street with the
// nearest of many points along it: at city scale they agree within a few
// centimetres.
func TestDistanceToSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		a := Point{107.5 + r.Float64()*0.2, 16.4 + r.Float64()*0.2}
		b := Point{107.5 + r.Float64()*0.2, 16.4 + r.Float64()*0.2}
		p := Point{107.5 + r.Float64()*0.2, 16.4 + r.Float64()*0.2}
		street := Shape{Type: "LineString", Lines: []Line{{a, b}}}
		got := street.Distance(Shape{Type: "Point", Points: []Point{p}})
		best := math.Inf(1)
		for k := range 100001 {
			best = min(best, GreatCircle(p, segment{a, b}.at(float64(k)/100000)))
		}
		if math.Abs(got-best) > 0.05 {
			t.Fatalf("case %d: distance %v to %v-%v = %.4f m; sampled %.4f m", i, p, a, b, got, best)
		}
	}
}

func ExampleShape_Within() {
	ward, _ := ParseShape([]byte(`{"type":"Polygon","coordinates":[[[107.5,16.4],[107.7,16.4],[107.7,16.55],[107.5,16.55],[107.5,16.4]]]}`))
	street, _ := ParseShape([]byte(`{"type":"LineString","coordinates":[[107.55,16.45],[107.6,16.47]]}`))
	fmt.Println(street.Within(ward), ward.Contains(street), street.Overlaps(ward))
	// Output: true true false
}
