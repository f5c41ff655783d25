package geo

import (
	"cmp"
	"math"
	"slices"
)

// Entry is one area handed to NewIndex. Depth is the area's level in the
// administrative tree (0 city, 1 ward, deeper is more specific) and is what
// lets Locate prefer a sub-area over the ward around it.
type Entry struct {
	ID    int64
	Depth int
	Shape MultiPolygon
}

// Index finds the innermost area containing a point, which is how a
// citizen report gets routed to the ward that owns it. It is immutable
// after NewIndex and safe for concurrent use; Locate does not allocate.
//
// Internally a uniform grid over all bounding boxes lists, per cell, the
// areas whose boxes overlap it, already sorted by priority, so the first
// area that contains the point is the answer. Each polygon keeps its edges
// bucketed into horizontal bands, so a containment test looks only at the
// few edges near the point's latitude instead of all of them.
type Index struct {
	n     int    // entries given to NewIndex
	items []item // entries with a shape, by priority (deepest, smallest, lowest ID)
	box   Rect   // union of item boxes; the grid covers exactly this
	nx    int
	ny    int
	sx    float64 // grid cells per degree of longitude (0 if the box is flat)
	sy    float64
	// cellStart[c]..cellStart[c+1] indexes cellItems for grid cell c.
	cellStart []int32
	cellItems []int32
	polys     []prepPoly
	bandStart []int32 // per polygon, nband+1 offsets into edges
	edges     []edge
}

type item struct {
	id     int64
	box    Rect
	polyLo int32 // polys[polyLo:polyHi] belong to this item
	polyHi int32
}

// prepPoly is a Polygon ready for fast even-odd tests: every edge of every
// ring is copied into each horizontal band its latitude span touches.
type prepPoly struct {
	box    Rect
	sy     float64 // bands per degree of latitude
	nband  int32
	bandLo int32 // bandStart[bandLo : bandLo+nband+1]
}

type edge struct{ a, b Point }

// NewIndex builds an Index over entries. Entries with an empty shape are
// counted by Len but never returned by Locate. The entries' shapes are not
// retained, so callers may reuse them.
func NewIndex(entries []Entry) *Index {
	type ranked struct {
		e    *Entry
		area float64
	}
	rs := make([]ranked, 0, len(entries))
	for i := range entries {
		if !hasPoints(entries[i].Shape) {
			continue
		}
		rs = append(rs, ranked{&entries[i], entries[i].Shape.Area()})
	}
	slices.SortStableFunc(rs, func(x, y ranked) int {
		if c := cmp.Compare(y.e.Depth, x.e.Depth); c != 0 {
			return c
		}
		if c := cmp.Compare(x.area, y.area); c != 0 {
			return c
		}
		return cmp.Compare(x.e.ID, y.e.ID)
	})

	ix := &Index{n: len(entries)}
	for _, r := range rs {
		it := item{id: r.e.ID, box: r.e.Shape.Bounds(), polyLo: int32(len(ix.polys))}
		for _, poly := range r.e.Shape {
			ix.addPolygon(poly)
		}
		it.polyHi = int32(len(ix.polys))
		ix.items = append(ix.items, it)
	}
	ix.buildGrid()
	return ix
}

func hasPoints(m MultiPolygon) bool {
	for _, poly := range m {
		for _, ring := range poly {
			if len(ring) > 0 {
				return true
			}
		}
	}
	return false
}

func (ix *Index) addPolygon(poly Polygon) {
	box := MultiPolygon{poly}.Bounds()
	var es []edge
	for _, ring := range poly {
		if len(ring) == 0 {
			continue
		}
		a := ring[len(ring)-1]
		for _, b := range ring {
			if a.Lat != b.Lat { // horizontal edges never cross the ray
				es = append(es, edge{a, b})
			}
			a = b
		}
	}
	p := prepPoly{box: box, nband: 1, bandLo: int32(len(ix.bandStart))}
	h := box.Max.Lat - box.Min.Lat
	// About one band per three edges leaves a handful of edges per band.
	// Fewer bands if long edges would be copied into too many of them, so
	// odd shapes (a comb of long teeth) cannot blow up memory.
	for n := min(len(es)/3, 4096); n > 1 && h > 0; n /= 2 {
		p.nband, p.sy = int32(n), float64(n)/h
		copies := 0
		for _, e := range es {
			copies += p.band(max(e.a.Lat, e.b.Lat)) - p.band(min(e.a.Lat, e.b.Lat)) + 1
		}
		if copies <= 8*len(es) {
			break
		}
		p.nband, p.sy = 1, 0
	}
	bands := make([][]edge, p.nband)
	for _, e := range es {
		lo := p.band(min(e.a.Lat, e.b.Lat))
		hi := p.band(max(e.a.Lat, e.b.Lat))
		for k := lo; k <= hi; k++ {
			bands[k] = append(bands[k], e)
		}
	}
	for _, b := range bands {
		ix.bandStart = append(ix.bandStart, int32(len(ix.edges)))
		ix.edges = append(ix.edges, b...)
	}
	ix.bandStart = append(ix.bandStart, int32(len(ix.edges)))
	ix.polys = append(ix.polys, p)
}

// band maps a latitude to its band. It is monotonic in lat, so an edge
// spanning [lo, hi] is in every band a latitude within it can map to.
func (p *prepPoly) band(lat float64) int {
	k := int((lat - p.box.Min.Lat) * p.sy)
	return max(0, min(k, int(p.nband)-1))
}

func (ix *Index) polyContains(pi int32, pt Point) bool {
	p := &ix.polys[pi]
	if !p.box.contains(pt) {
		return false
	}
	k := int(p.bandLo) + p.band(pt.Lat)
	in := false
	for _, e := range ix.edges[ix.bandStart[k]:ix.bandStart[k+1]] {
		if crosses(e.a, e.b, pt) {
			in = !in
		}
	}
	return in
}

func (ix *Index) buildGrid() {
	if len(ix.items) == 0 {
		return
	}
	ix.box = ix.items[0].box
	for _, it := range ix.items[1:] {
		ix.box.Min.Lon = min(ix.box.Min.Lon, it.box.Min.Lon)
		ix.box.Min.Lat = min(ix.box.Min.Lat, it.box.Min.Lat)
		ix.box.Max.Lon = max(ix.box.Max.Lon, it.box.Max.Lon)
		ix.box.Max.Lat = max(ix.box.Max.Lat, it.box.Max.Lat)
	}
	// About 16 cells per item keeps candidate lists short for ward-sized
	// areas without letting the grid dwarf the edge data.
	w, h := ix.box.Max.Lon-ix.box.Min.Lon, ix.box.Max.Lat-ix.box.Min.Lat
	target := float64(min(max(16*len(ix.items), 64), 1<<18))
	ix.nx, ix.ny = 1, 1
	switch {
	case w > 0 && h > 0:
		ix.nx = max(1, int(math.Round(math.Sqrt(target*w/h))))
		ix.ny = max(1, int(math.Round(target/float64(ix.nx))))
	case w > 0:
		ix.nx = int(target)
	case h > 0:
		ix.ny = int(target)
	}
	if w > 0 {
		ix.sx = float64(ix.nx) / w
	}
	if h > 0 {
		ix.sy = float64(ix.ny) / h
	}

	counts := make([]int32, ix.nx*ix.ny+1)
	forCells := func(r Rect, f func(c int)) {
		x0, y0 := ix.cellXY(r.Min)
		x1, y1 := ix.cellXY(r.Max)
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				f(y*ix.nx + x)
			}
		}
	}
	for _, it := range ix.items {
		forCells(it.box, func(c int) { counts[c+1]++ })
	}
	for c := 1; c < len(counts); c++ {
		counts[c] += counts[c-1]
	}
	ix.cellStart = slices.Clone(counts)
	ix.cellItems = make([]int32, counts[len(counts)-1])
	for i, it := range ix.items { // in priority order, so each cell list is sorted
		forCells(it.box, func(c int) {
			ix.cellItems[counts[c]] = int32(i)
			counts[c]++
		})
	}
}

// cellXY is monotonic in both coordinates, so a point inside a box maps
// to a cell inside the box's cell range.
func (ix *Index) cellXY(p Point) (int, int) {
	x := int((p.Lon - ix.box.Min.Lon) * ix.sx)
	y := int((p.Lat - ix.box.Min.Lat) * ix.sy)
	return max(0, min(x, ix.nx-1)), max(0, min(y, ix.ny-1))
}

// Locate returns the ID of the innermost area containing p: the greatest
// Depth, ties broken by the smallest Area, then the smallest ID. Its
// containment test is exactly MultiPolygon.Contains. ok is false when no
// area contains p.
func (ix *Index) Locate(p Point) (id int64, ok bool) {
	if len(ix.items) == 0 || !ix.box.contains(p) { // also rejects NaN
		return 0, false
	}
	x, y := ix.cellXY(p)
	c := y*ix.nx + x
	for _, k := range ix.cellItems[ix.cellStart[c]:ix.cellStart[c+1]] {
		it := &ix.items[k]
		if !it.box.contains(p) {
			continue
		}
		for pi := it.polyLo; pi < it.polyHi; pi++ {
			if ix.polyContains(pi, p) {
				return it.id, true
			}
		}
	}
	return 0, false
}

// Len returns the number of entries the Index was built from, so callers
// can report what was loaded.
func (ix *Index) Len() int { return ix.n }
