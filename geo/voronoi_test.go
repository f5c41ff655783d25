package geo

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// huePoints are places the demo outline must contain (lat, lon as written
// in the brief; converted to Points by hueSites).
var huePoints = [][2]float64{
	{16.554, 107.643}, {16.530, 107.575}, {16.500, 107.632}, {16.476, 107.612}, {16.462, 107.595},
	{16.452, 107.607}, {16.430, 107.572}, {16.466, 107.556}, {16.482, 107.530}, {16.474, 107.578},
	{16.512, 107.612}, {16.580, 107.350}, {16.622, 107.352}, {16.552, 107.300}, {16.500, 107.370},
	{16.650, 107.402}, {16.520, 107.470}, {16.440, 107.490}, {16.405, 107.630}, {16.395, 107.700},
	{16.432, 107.650}, {16.602, 107.452}, {16.570, 107.505}, {16.350, 107.470}, {16.522, 107.680},
	{16.482, 107.680}, {16.462, 107.740}, {16.400, 107.830}, {16.330, 107.850}, {16.300, 107.750},
	{16.280, 107.880}, {16.250, 108.050}, {16.220, 107.850}, {16.150, 107.720}, {16.100, 107.680},
	{16.380, 107.120}, {16.300, 107.170}, {16.250, 107.220}, {16.180, 107.280}, {16.100, 107.300},
}

func hueSites() []Point {
	out := make([]Point, len(huePoints))
	for i, p := range huePoints {
		out[i] = Point{Lon: p[1], Lat: p[0]}
	}
	return out
}

// loadOutline reads the demo outline shipped in ../demo.
func loadOutline(tb testing.TB) (Feature, Polygon) {
	tb.Helper()
	f, err := os.Open("../demo/outline.geojson")
	if err != nil {
		tb.Fatalf("open outline: %v", err)
	}
	defer f.Close()
	fs, err := ParseFeatureCollection(f)
	if err != nil {
		tb.Fatalf("parse outline: %v", err)
	}
	if len(fs) != 1 || len(fs[0].Geometry) != 1 {
		tb.Fatalf("outline: got %d features, want one with one polygon", len(fs))
	}
	return fs[0], fs[0].Geometry[0]
}

// kmToBoundary is the distance from p to the nearest edge of poly, in km
// on a local equirectangular projection (distances only, so it also serves
// for test shapes that are not on Earth).
func kmToBoundary(poly Polygon, p Point) float64 {
	kx := 111.32 * math.Cos(p.Lat*math.Pi/180)
	const ky = 110.57
	best := math.Inf(1)
	for _, ring := range poly {
		for i := 0; i+1 < len(ring); i++ {
			ax, ay := (ring[i].Lon-p.Lon)*kx, (ring[i].Lat-p.Lat)*ky
			bx, by := (ring[i+1].Lon-p.Lon)*kx, (ring[i+1].Lat-p.Lat)*ky
			dx, dy := bx-ax, by-ay
			s := 0.0
			if l := dx*dx + dy*dy; l > 0 {
				s = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l))
			}
			best = math.Min(best, math.Hypot(ax+s*dx, ay+s*dy))
		}
	}
	return best
}

func TestDemoOutline(t *testing.T) {
	f, outline := loadOutline(t)
	if got, want := f.Properties["name"], "Huế (approximate outline)"; got != want {
		t.Errorf("name = %v, want %v", got, want)
	}
	if got, want := f.Properties["approximate"], true; got != want {
		t.Errorf("approximate = %v, want %v", got, want)
	}
	if got, _ := f.Properties["source"].(string); !strings.Contains(got, "not an official boundary") {
		t.Errorf("source = %q, want it to say it is not an official boundary", got)
	}
	if n := len(outline[0]) - 1; n < 20 || n > 40 {
		t.Errorf("outline has %d vertices, want 20..40", n)
	}
	b := f.Geometry.Bounds()
	if b.Min.Lat < 15.9 || b.Max.Lat > 16.8 || b.Min.Lon < 106.9 || b.Max.Lon > 108.3 {
		t.Errorf("outline bounds %v, want within lat 15.9..16.8, lon 106.9..108.3", b)
	}
	for i, p := range hueSites() {
		if !f.Geometry.Contains(p) {
			t.Errorf("point %d %v is outside the outline", i, p)
			continue
		}
		if d := kmToBoundary(outline, p); d < 1 {
			t.Errorf("point %d %v is %.2f km from the outline, want at least 1 km", i, p, d)
		}
	}
}

func TestVoronoiHue(t *testing.T) {
	_, outline := loadOutline(t)
	sites := hueSites()
	cells, err := VoronoiCells(sites, outline)
	if err != nil {
		t.Fatalf("VoronoiCells: %v", err)
	}
	if got, want := len(cells), len(sites); got != want {
		t.Fatalf("got %d cells, want %d", got, want)
	}
	whole := MultiPolygon{outline}
	assertVoronoiPartition(t, sites, cells, whole, 200)

	// Every cell must survive the GeoJSON round trip an import would do.
	for i, c := range cells {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("cell %d: Marshal: %v", i, err)
		}
		if _, err := ParseGeometry(data); err != nil {
			t.Errorf("cell %d: ParseGeometry(Marshal(cell)): %v", i, err)
		}
	}
}

// assertVoronoiPartition checks the properties every VoronoiCells result
// must have: cells are valid, each site is located in its own cell (when
// well inside the outline), cells do not overlap and cover the outline (on an
// n x n sample grid), and their areas add up to the outline's.
func assertVoronoiPartition(t *testing.T, sites []Point, cells []MultiPolygon, outline MultiPolygon, n int) {
	t.Helper()
	entries := make([]Entry, len(cells))
	var total float64
	for i, c := range cells {
		assertValidCell(t, i, c)
		entries[i] = Entry{ID: int64(i), Depth: 1, Shape: c}
		total += c.Area()
	}
	ix := NewIndex(entries)
	for i, s := range sites {
		// Sites on the outline's boundary may fall either way.
		if !outline.Contains(s) || kmToBoundary(outline[0], s) < 1e-6 {
			continue
		}
		if got, ok := ix.Locate(s); !ok || got != int64(i) {
			t.Errorf("site %d %v: Locate = %d, %v, want %d, true", i, s, got, ok, i)
		}
	}
	if want := outline.Area(); math.Abs(total-want) > 1e-3*want {
		t.Errorf("total cell area = %v, want %v within 0.1%%", total, want)
	}
	b := outline.Bounds()
	var inside int
	for gy := range n {
		for gx := range n {
			p := Point{
				Lon: b.Min.Lon + (b.Max.Lon-b.Min.Lon)*(float64(gx)+0.41421356)/float64(n),
				Lat: b.Min.Lat + (b.Max.Lat-b.Min.Lat)*(float64(gy)+0.41421356)/float64(n),
			}
			var in []int
			for i, c := range cells {
				if c.Contains(p) {
					in = append(in, i)
				}
			}
			want := 0
			if outline.Contains(p) {
				want = 1
				inside++
				// The cell holding p must belong to a nearest site.
				if len(in) == 1 && !isNearest(sites, in[0], p) {
					t.Errorf("point %v is in cell %d, but another site is nearer", p, in[0])
				}
			}
			if len(in) != want {
				t.Errorf("point %v is in cells %v, want exactly %d", p, in, want)
			}
		}
	}
	if inside < n*n/10 {
		t.Errorf("only %d of %d sample points fell inside the outline; the grid is too coarse", inside, n*n)
	}
}

func isNearest(sites []Point, i int, p Point) bool {
	var latSum float64
	for _, s := range sites {
		latSum += s.Lat
	}
	k := math.Cos(latSum / float64(len(sites)) * math.Pi / 180)
	di := scaledDist2(sites[i], p, k)
	for j, s := range sites {
		if j != i && scaledDist2(s, p, k) < di*(1-1e-9) {
			return false
		}
	}
	return true
}

// assertValidCell checks that every ring is closed, has at least three
// distinct points, is simple (no self-touching, so no zero-width bridges)
// and that outer rings have area.
func assertValidCell(t *testing.T, i int, c MultiPolygon) {
	t.Helper()
	for pi, poly := range c {
		for ri, ring := range poly {
			if len(ring) < 4 || ring[0] != ring[len(ring)-1] {
				t.Errorf("cell %d polygon %d ring %d: %d points, closed=%v; want a closed ring of at least 4", i, pi, ri, len(ring), len(ring) > 0 && ring[0] == ring[len(ring)-1])
				continue
			}
			if !ringIsSimple(ring) {
				t.Errorf("cell %d polygon %d ring %d is not simple: %v", i, pi, ri, ring)
			}
			if a := ring.signedArea(); (ri == 0 && a <= 0) || (ri > 0 && a >= 0) {
				t.Errorf("cell %d polygon %d ring %d has signed area %v, want outer > 0, holes < 0", i, pi, ri, a)
			}
		}
	}
}

// ringIsSimple reports whether no two edges of a closed ring meet except
// neighbours at their shared vertex.
func ringIsSimple(r Ring) bool {
	n := len(r) - 1
	for i := range n {
		for j := i + 1; j < n; j++ {
			a, b, c, d := r[i], r[i+1], r[j], r[j+1]
			adjacent := j == i+1 || (i == 0 && j == n-1)
			if adjacent {
				// Neighbours may only share their common vertex: they must not
				// fold back onto each other.
				if j == i+1 && orient(a, b, d) == 0 && dot(b, a, d) > 0 {
					return false
				}
				if i == 0 && j == n-1 && orient(c, d, b) == 0 && dot(a, c, b) > 0 {
					return false
				}
				continue
			}
			if segmentsMeet(a, b, c, d) {
				return false
			}
		}
	}
	return true
}

func orient(a, b, c Point) float64 {
	v := (b.Lon-a.Lon)*(c.Lat-a.Lat) - (b.Lat-a.Lat)*(c.Lon-a.Lon)
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// dot is (a-o)·(b-o), positive when a and b lie on the same side of o.
func dot(o, a, b Point) float64 {
	return (a.Lon-o.Lon)*(b.Lon-o.Lon) + (a.Lat-o.Lat)*(b.Lat-o.Lat)
}

func onSegment(a, b, p Point) bool {
	return min(a.Lon, b.Lon) <= p.Lon && p.Lon <= max(a.Lon, b.Lon) &&
		min(a.Lat, b.Lat) <= p.Lat && p.Lat <= max(a.Lat, b.Lat)
}

func segmentsMeet(a, b, c, d Point) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 && o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0 {
		return true
	}
	return (o1 == 0 && onSegment(a, b, c)) || (o2 == 0 && onSegment(a, b, d)) ||
		(o3 == 0 && onSegment(c, d, a)) || (o4 == 0 && onSegment(c, d, b))
}

func TestVoronoiNonConvex(t *testing.T) {
	// A comb: three prongs joined at the bottom, with a hole in the base.
	comb := Polygon{
		{{0, 0}, {10, 0}, {10, 6}, {8, 6}, {8, 2}, {6, 2}, {6, 6}, {4, 6}, {4, 2}, {2, 2}, {2, 6}, {0, 6}, {0, 0}},
		{{4.5, 0.5}, {4.5, 1.5}, {5.5, 1.5}, {5.5, 0.5}, {4.5, 0.5}},
	}
	tests := []struct {
		name      string
		sites     []Point
		wantParts []int // polygons per cell
	}{
		// Site 0's cell takes the tops of all three prongs, which must come
		// out as three separate polygons; site 1 gets the base with the hole.
		{"cut across prongs", []Point{{5, 5}, {5, 1}}, []int{3, 1}},
		{"site outside gets empty cell", []Point{{5, 1}, {5, 5}, {50, 50}}, []int{1, 3, 0}},
		{"single site takes everything", []Point{{1, 1}}, []int{1}},
		{"vertical cuts", []Point{{1, 3}, {5, 3}, {9, 3}}, []int{1, 1, 1}},
		// Degenerate cuts: the bisector runs exactly along edges and
		// through reflex vertices of the outline or its hole.
		{"bisector along the prong bases", []Point{{5, 3}, {5, 1}}, []int{3, 1}},
		{"bisector along a prong side", []Point{{3, 3}, {5, 3}}, []int{1, 1}},
		{"bisector along a hole side", []Point{{3.5, 1}, {5.5, 1}}, []int{1, 1}},
		// Sites with mean latitude 0 make the bisector exactly y = x - 2,
		// through reflex corner (4,2) and convex corner (8,6): site 0's cell
		// is two polygons touching at (4,2), never one self-touching ring.
		{"diagonal bisector through corners", []Point{{1, 1}, {3, -1}}, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := VoronoiCells(tt.sites, comb)
			if err != nil {
				t.Fatalf("VoronoiCells: %v", err)
			}
			for i, c := range cells {
				if got, want := len(c), tt.wantParts[i]; got != want {
					t.Errorf("cell %d has %d polygons, want %d: %v", i, got, want, c)
				}
			}
			assertVoronoiPartition(t, tt.sites, cells, MultiPolygon{comb}, 97)
		})
	}
}

func TestVoronoiDegenerateGrid(t *testing.T) {
	// Sites on a regular grid put four sites on a circle at every Voronoi
	// vertex, and the outline's corners lie exactly on bisectors: the
	// cases where cut points coincide.
	outline := Polygon{square(0, 0, 4, 4)}
	var sites []Point
	for y := range 4 {
		for x := range 4 {
			sites = append(sites, Point{float64(x) + 0.5, float64(y) + 0.5})
		}
	}
	cells, err := VoronoiCells(sites, outline)
	if err != nil {
		t.Fatalf("VoronoiCells: %v", err)
	}
	assertVoronoiPartition(t, sites, cells, MultiPolygon{outline}, 101)
}

func TestVoronoiRandom(t *testing.T) {
	_, outline := loadOutline(t)
	rng := rand.New(rand.NewPCG(7, 7))
	b := MultiPolygon{outline}.Bounds()
	var sites []Point
	for len(sites) < 300 { // some fall outside the outline on purpose
		sites = append(sites, Point{
			Lon: b.Min.Lon - 0.05 + rng.Float64()*(b.Max.Lon-b.Min.Lon+0.1),
			Lat: b.Min.Lat - 0.05 + rng.Float64()*(b.Max.Lat-b.Min.Lat+0.1),
		})
	}
	cells, err := VoronoiCells(sites, outline)
	if err != nil {
		t.Fatalf("VoronoiCells: %v", err)
	}
	assertVoronoiPartition(t, sites, cells, MultiPolygon{outline}, 150)
}

func TestVoronoiErrors(t *testing.T) {
	unit := Polygon{square(0, 0, 1, 1)}
	tests := []struct {
		name    string
		sites   []Point
		outline Polygon
		want    string
	}{
		{"no sites", nil, unit, "no sites"},
		{"duplicate", []Point{{0.1, 0.1}, {0.5, 0.5}, {0.1, 0.1}}, unit, "sites 0 and 2 are the same point [0.1 0.1]"},
		{"non-finite", []Point{{math.NaN(), 0}}, unit, "site 0 [NaN 0] is not finite"},
		{"no outline", []Point{{0, 0}}, nil, "outline has no rings"},
		{"flat outline", []Point{{0, 0}}, Polygon{{{0, 0}, {1, 1}, {2, 2}, {0, 0}}}, "outline has zero area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VoronoiCells(tt.sites, tt.outline)
			if err == nil {
				t.Fatalf("VoronoiCells: got nil error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestVoronoiExactDegeneracies runs many small cases built to hit exact
// ties: sites on a half-unit lattice, mirrored so their mean latitude is
// exactly 0 (no longitude scaling), over the comb, whose corners and hole
// then lie exactly on many bisectors.
func TestVoronoiExactDegeneracies(t *testing.T) {
	comb := Polygon{
		{{0, -3}, {10, -3}, {10, 3}, {8, 3}, {8, -1}, {6, -1}, {6, 3}, {4, 3}, {4, -1}, {2, -1}, {2, 3}, {0, 3}, {0, -3}},
		{{4.5, -2.5}, {4.5, -1.5}, {5.5, -1.5}, {5.5, -2.5}, {4.5, -2.5}},
	}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		step := []float64{1, 0.5, 2, 0.25, 1.5}[seed%5]
		seen := map[Point]bool{}
		var sites []Point
		for tries := 0; len(sites) < 2*(1+int(seed%20)) && tries < 1000; tries++ {
			p := Point{math.Round((-1+rng.Float64()*12)/step) * step, math.Round(rng.Float64()*4/step) * step}
			q := Point{p.Lon + step*float64(rng.IntN(3)), -p.Lat}
			if p == q || seen[p] || seen[q] {
				continue
			}
			seen[p], seen[q] = true, true
			sites = append(sites, p, q)
		}
		cells, err := VoronoiCells(sites, comb)
		if err != nil {
			t.Fatalf("seed %d: VoronoiCells: %v", seed, err)
		}
		if !t.Run("", func(t *testing.T) { assertVoronoiPartition(t, sites, cells, MultiPolygon{comb}, 61) }) {
			t.Logf("seed %d: sites %v", seed, sites)
		}
	}
}

// TestVoronoiRandomShapes uses random star-shaped outlines with a hole and
// sites placed on outline and hole vertices as well as at random.
func TestVoronoiRandomShapes(t *testing.T) {
	hole := Ring{{107.48, 16.38}, {107.48, 16.42}, {107.52, 16.42}, {107.52, 16.38}, {107.48, 16.38}}
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 3))
		nv := 5 + rng.IntN(40)
		var outer Ring
		for i := range nv {
			a := 2 * math.Pi * float64(i) / float64(nv)
			r := 0.1 + rng.Float64()*0.5
			outer = append(outer, Point{107.5 + r*math.Cos(a), 16.4 + r*math.Sin(a)})
		}
		outline := Polygon{append(outer, outer[0]), hole}
		seen := map[Point]bool{}
		var sites []Point
		for n := 2 + rng.IntN(80); len(sites) < n; {
			p := Point{107.5 + (rng.Float64()-0.5)*1.2, 16.4 + (rng.Float64()-0.5)*1.2}
			switch rng.IntN(4) {
			case 0:
				p = outer[rng.IntN(nv)]
			case 1:
				p = hole[rng.IntN(4)]
			}
			if !seen[p] {
				seen[p] = true
				sites = append(sites, p)
			}
		}
		cells, err := VoronoiCells(sites, outline)
		if err != nil {
			t.Fatalf("seed %d: VoronoiCells: %v", seed, err)
		}
		if !t.Run("", func(t *testing.T) { assertVoronoiPartition(t, sites, cells, MultiPolygon{outline}, 61) }) {
			t.Logf("seed %d: sites %v", seed, sites)
		}
	}
}
