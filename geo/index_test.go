package geo

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestIndexInnermost(t *testing.T) {
	city := MultiPolygon{{square(0, 0, 100, 100)}}
	ward := MultiPolygon{{square(10, 10, 50, 50), square(20, 20, 25, 25)}} // hole: a park owned by the city
	sub := MultiPolygon{{square(30, 30, 40, 40)}}
	exclave := MultiPolygon{{square(60, 60, 70, 70)}, {square(80, 80, 85, 85)}}
	bigTie := MultiPolygon{{square(35, 0, 45, 9)}}   // depth 1, area 90
	smallTie := MultiPolygon{{square(38, 0, 42, 9)}} // depth 1, area 36, inside bigTie
	twinA := MultiPolygon{{square(90, 0, 95, 5)}}    // same depth and area as twinB
	twinB := MultiPolygon{{square(90, 0, 95, 5)}}
	ix := NewIndex([]Entry{
		{ID: 4, Depth: 2, Shape: sub},
		{ID: 1, Depth: 0, Shape: city},
		{ID: 2, Depth: 1, Shape: ward},
		{ID: 3, Depth: 1, Shape: exclave},
		{ID: 5, Depth: 1, Shape: bigTie},
		{ID: 6, Depth: 1, Shape: smallTie},
		{ID: 8, Depth: 1, Shape: twinB},
		{ID: 7, Depth: 1, Shape: twinA},
		{ID: 9, Depth: 3, Shape: nil}, // no shape: counted, never found
	})
	if got, want := ix.Len(), 9; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	tests := []struct {
		name   string
		p      Point
		wantID int64
		wantOK bool
	}{
		{"city only", Point{5, 5}, 1, true},
		{"ward", Point{15, 15}, 2, true},
		{"sub-area inside ward", Point{35, 35}, 4, true},
		{"hole in ward falls back to city", Point{22, 22}, 1, true},
		{"exclave first part", Point{65, 65}, 3, true},
		{"exclave second part", Point{82, 82}, 3, true},
		{"between exclave parts", Point{75, 75}, 1, true},
		{"same depth, smaller area wins", Point{40, 5}, 6, true},
		{"same depth, only the larger", Point{36, 5}, 5, true},
		{"same depth and area, smaller ID wins", Point{92, 2}, 7, true},
		{"outside everything", Point{150, 50}, 0, false},
		{"below the city", Point{50, -1}, 0, false},
		{"NaN", Point{math.NaN(), math.NaN()}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := ix.Locate(tt.p)
			if id != tt.wantID || ok != tt.wantOK {
				t.Errorf("Locate(%v) = %d, %v, want %d, %v", tt.p, id, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestIndexEmpty(t *testing.T) {
	for _, entries := range [][]Entry{nil, {{ID: 1, Shape: MultiPolygon{{}}}}} {
		ix := NewIndex(entries)
		if got, want := ix.Len(), len(entries); got != want {
			t.Errorf("Len() = %d, want %d", got, want)
		}
		if id, ok := ix.Locate(Point{0, 0}); ok {
			t.Errorf("Locate on empty index = %d, true, want not found", id)
		}
	}
}

// TestIndexMatchesLinear checks the index against a plain scan over the
// benchmark's realistic areas, including points on shared edges and
// vertices, where the answer depends on bit-exact agreement.
func TestIndexMatchesLinear(t *testing.T) {
	entries, queries := benchData(t)
	ix := NewIndex(entries)
	lin := newLinear(entries)
	for _, e := range entries[:20] {
		for _, ring := range e.Shape[0] {
			queries = append(queries, ring...) // vertices lie on shared edges
			for i := 0; i+1 < len(ring); i++ {
				a, b := ring[i], ring[i+1]
				queries = append(queries, Point{(a.Lon + b.Lon) / 2, (a.Lat + b.Lat) / 2})
			}
		}
	}
	var found int
	for _, p := range queries {
		gotID, gotOK := ix.Locate(p)
		wantID, wantOK := lin.locate(p)
		if gotID != wantID || gotOK != wantOK {
			t.Fatalf("Locate(%v) = %d, %v, want %d, %v", p, gotID, gotOK, wantID, wantOK)
		}
		if gotOK {
			found++
		}
	}
	if found == 0 || found == len(queries) {
		t.Errorf("%d of %d queries found an area; want a mix of inside and outside", found, len(queries))
	}
}

// TestIndexOddShapes compares Locate with Contains on shapes unlike wards:
// a comb of long thin teeth (edges spanning every band), a spiky star with
// a hole, and a shape whose vertices are all on a few latitudes.
func TestIndexOddShapes(t *testing.T) {
	var comb Ring
	for i := range 500 {
		x := float64(i)
		comb = append(comb, Point{x, 0}, Point{x + 0.5, 100}) // teeth up, then down
	}
	comb = append(comb, Point{500, -1}, Point{0, -1}, Point{0, 0})
	rng := rand.New(rand.NewPCG(3, 4))
	var star Ring
	for i := range 1000 {
		a := 2 * math.Pi * float64(i) / 1000
		r := 20 + rng.Float64()*30
		star = append(star, Point{250 + r*math.Cos(a), 50 + r*math.Sin(a)})
	}
	var steps Ring
	for i := range 200 {
		steps = append(steps, Point{float64(i), float64(i % 3)})
	}
	steps = append(steps, Point{199, 10}, Point{0, 10})
	shapes := []MultiPolygon{
		{{comb}},
		{{star, square(245, 45, 255, 55)}},
		{{steps}},
	}
	for i, m := range shapes {
		ix := NewIndex([]Entry{{ID: 1, Shape: m}})
		b := m.Bounds()
		for range 20000 {
			p := Point{
				Lon: b.Min.Lon - 1 + rng.Float64()*(b.Max.Lon-b.Min.Lon+2),
				Lat: b.Min.Lat - 1 + rng.Float64()*(b.Max.Lat-b.Min.Lat+2),
			}
			if rng.IntN(4) == 0 { // exactly on a vertex latitude
				p.Lat = m[0][0][rng.IntN(len(m[0][0]))].Lat
			}
			_, got := ix.Locate(p)
			if want := m.Contains(p); got != want {
				t.Fatalf("shape %d: Locate(%v) found = %v, want %v", i, p, got, want)
			}
		}
	}
}

func TestIndexConcurrent(t *testing.T) {
	entries, queries := benchData(t)
	ix := NewIndex(entries)
	want := make([]int64, len(queries))
	for i, p := range queries {
		want[i], _ = ix.Locate(p)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := len(queries) - 1; i >= 0; i-- {
				if got, _ := ix.Locate(queries[(i+g*97)%len(queries)]); got != want[(i+g*97)%len(queries)] {
					errs <- "concurrent Locate disagreed with sequential Locate"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLocateDoesNotAllocate(t *testing.T) {
	entries, queries := benchData(t)
	ix := NewIndex(entries)
	allocs := testing.AllocsPerRun(10, func() {
		for _, p := range queries[:200] {
			ix.Locate(p)
		}
	})
	if allocs != 0 {
		t.Errorf("Locate allocated %v times per 200 calls, want 0", allocs)
	}
}

// linear is the reference lookup: every entry in turn with Contains.
type linear struct {
	entries []Entry
	areas   []float64
}

func newLinear(entries []Entry) *linear {
	l := &linear{entries: entries, areas: make([]float64, len(entries))}
	for i, e := range entries {
		l.areas[i] = e.Shape.Area()
	}
	return l
}

func (l *linear) locate(p Point) (int64, bool) {
	best := -1
	for i, e := range l.entries {
		if !e.Shape.Contains(p) {
			continue
		}
		if best < 0 || better(e, l.areas[i], l.entries[best], l.areas[best]) {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	return l.entries[best].ID, true
}

func better(a Entry, areaA float64, b Entry, areaB float64) bool {
	if a.Depth != b.Depth {
		return a.Depth > b.Depth
	}
	if areaA != areaB {
		return areaA < areaB
	}
	return a.ID < b.ID
}

// benchData returns realistic areas over the demo outline: the city at
// depth 0 and 160 Voronoi wards at depth 1, every polygon densified to
// 200+ vertices like an official boundary, plus 4096 query points from
// slightly beyond the city's bounding box, so about half fall outside the
// city. Everything uses fixed seeds.
func benchData(tb testing.TB) ([]Entry, []Point) {
	tb.Helper()
	_, outline := loadOutline(tb)
	city := MultiPolygon{outline}
	b := city.Bounds()
	rng := rand.New(rand.NewPCG(2025, 16))
	randIn := func(margin float64) Point {
		return Point{
			Lon: b.Min.Lon - margin + rng.Float64()*(b.Max.Lon-b.Min.Lon+2*margin),
			Lat: b.Min.Lat - margin + rng.Float64()*(b.Max.Lat-b.Min.Lat+2*margin),
		}
	}
	var sites []Point
	for len(sites) < 160 {
		if p := randIn(0); city.Contains(p) {
			sites = append(sites, p)
		}
	}
	cells, err := VoronoiCells(sites, outline)
	if err != nil {
		tb.Fatalf("VoronoiCells: %v", err)
	}
	entries := []Entry{{ID: 1000, Depth: 0, Shape: densify(city, 400)}}
	for i, c := range cells {
		entries = append(entries, Entry{ID: int64(i + 1), Depth: 1, Shape: densify(c, 200)})
	}
	queries := make([]Point, 4096)
	for i := range queries {
		queries[i] = randIn(0.05)
	}
	return entries, queries
}

// densify splits every edge so each ring has at least minVertices points.
func densify(m MultiPolygon, minVertices int) MultiPolygon {
	out := make(MultiPolygon, len(m))
	for i, poly := range m {
		for _, ring := range poly {
			edges := len(ring) - 1
			k := (minVertices + edges - 1) / edges
			r := make(Ring, 0, edges*k+1)
			for j := range edges {
				a, b := ring[j], ring[j+1]
				for s := range k {
					f := float64(s) / float64(k)
					r = append(r, Point{a.Lon + (b.Lon-a.Lon)*f, a.Lat + (b.Lat-a.Lat)*f})
				}
			}
			out[i] = append(out[i], append(r, r[0]))
		}
	}
	return out
}

func BenchmarkLocate(b *testing.B) {
	entries, queries := benchData(b)
	ix := NewIndex(entries)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.Locate(queries[i&(len(queries)-1)])
		i++
	}
}

func BenchmarkLocateLinear(b *testing.B) {
	entries, queries := benchData(b)
	lin := newLinear(entries)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		lin.locate(queries[i&(len(queries)-1)])
		i++
	}
}
