package geo

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// VoronoiCells splits outline among sites, the way cityops invents
// plausible ward boundaries for demo data: cell i is the part of outline
// closer to sites[i] than to any other site. Distances are planar after
// scaling longitude by the cosine of the sites' mean latitude, so cells
// are not stretched east-west away from the equator.
//
// The cells cover outline without overlapping, and each is a valid
// MultiPolygon: where a non-convex outline leaves a cell in several
// pieces, the pieces are separate polygons (never joined by zero-width
// bridges). Outer rings are counter-clockwise, holes clockwise. Sites may
// lie outside outline; a site whose cell misses outline gets an empty
// MultiPolygon. Duplicate sites are an error, as are non-finite sites and
// an outline without area.
func VoronoiCells(sites []Point, outline Polygon) ([]MultiPolygon, error) {
	if len(sites) == 0 {
		return nil, errors.New("voronoi: no sites")
	}
	seen := make(map[Point]int, len(sites))
	var latSum float64
	for i, s := range sites {
		if math.IsNaN(s.Lon) || math.IsInf(s.Lon, 0) || math.IsNaN(s.Lat) || math.IsInf(s.Lat, 0) {
			return nil, fmt.Errorf("voronoi: site %d %s is not finite", i, formatPosition(s))
		}
		if j, dup := seen[s]; dup {
			return nil, fmt.Errorf("voronoi: sites %d and %d are the same point %s", j, i, formatPosition(s))
		}
		seen[s] = i
		latSum += s.Lat
	}
	base, err := prepareOutline(outline)
	if err != nil {
		return nil, fmt.Errorf("voronoi: %w", err)
	}
	k := math.Cos(latSum / float64(len(sites)) * math.Pi / 180)
	c := clipper{minArea: 1e-12 * math.Abs(openPolygonArea(base)), snap: snapDistance(base)}

	cells := make([]MultiPolygon, len(sites))
	order := make([]int, 0, len(sites))
	d2 := make([]float64, len(sites))
	for i, si := range sites {
		order = order[:0]
		for j, sj := range sites {
			if j != i {
				d2[j] = scaledDist2(si, sj, k)
				order = append(order, j)
			}
		}
		// Nearest rivals first: they cut the most, and once a rival is more
		// than twice as far as any remaining vertex, no later one can cut.
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(d2[a], d2[b]) })
		region := [][][]Point{base}
		for _, j := range order {
			if len(region) == 0 {
				break
			}
			if 4*maxDist2(region, si, k) < d2[j]*(1-1e-9) {
				break
			}
			region = c.clip(region, bisector(si, sites[j], k))
		}
		cells[i] = c.closeRegion(region)
	}
	return cells, nil
}

func scaledDist2(a, b Point, k float64) float64 {
	dx, dy := (a.Lon-b.Lon)*k, a.Lat-b.Lat
	return dx*dx + dy*dy
}

func maxDist2(region [][][]Point, s Point, k float64) float64 {
	var m float64
	for _, poly := range region {
		for _, p := range poly[0] { // holes lie inside the outer ring
			m = max(m, scaledDist2(p, s, k))
		}
	}
	return m
}

// prepareOutline returns outline as open rings (no repeated closing point,
// no consecutive duplicates), outer ring counter-clockwise and holes
// clockwise, which is what clipper relies on.
func prepareOutline(outline Polygon) ([][]Point, error) {
	if len(outline) == 0 {
		return nil, errors.New("outline has no rings")
	}
	var rings [][]Point
	for i, r := range outline {
		for _, p := range r {
			if math.IsNaN(p.Lon) || math.IsInf(p.Lon, 0) || math.IsNaN(p.Lat) || math.IsInf(p.Lat, 0) {
				return nil, fmt.Errorf("outline ring %d has a non-finite point", i)
			}
		}
		open := dedupRing(slices.Clone([]Point(r)))
		a := Ring(open).signedArea()
		if len(open) < 3 || a == 0 {
			if i == 0 {
				return nil, errors.New("outline has zero area")
			}
			continue // a hole without area removes nothing
		}
		if (i == 0) != (a > 0) {
			slices.Reverse(open)
		}
		rings = append(rings, open)
	}
	return rings, nil
}

// dedupRing drops consecutive repeated points, including the closing
// repeat of the first point.
func dedupRing(r []Point) []Point {
	out := r[:0]
	for _, p := range r {
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	for len(out) > 1 && out[0] == out[len(out)-1] {
		out = out[:len(out)-1]
	}
	return out
}

func openPolygonArea(rings [][]Point) float64 {
	var a float64
	for _, r := range rings {
		a += Ring(r).signedArea() // holes are clockwise, so they subtract
	}
	return a
}

// snapDistance is how close two output points may be before one is
// dropped: far below any real feature (about 0.1 mm at Huế), far above the
// rounding differences between cut points computed along different
// bisectors for the same Voronoi vertex.
func snapDistance(rings [][]Point) float64 {
	b := Rect{Min: rings[0][0], Max: rings[0][0]}
	var mag float64
	for _, r := range rings {
		for _, p := range r {
			b.Min.Lon, b.Min.Lat = min(b.Min.Lon, p.Lon), min(b.Min.Lat, p.Lat)
			b.Max.Lon, b.Max.Lat = max(b.Max.Lon, p.Lon), max(b.Max.Lat, p.Lat)
			mag = max(mag, math.Abs(p.Lon), math.Abs(p.Lat))
		}
	}
	extent := max(b.Max.Lon-b.Min.Lon, b.Max.Lat-b.Min.Lat)
	return 1e-11 * (extent + mag)
}

// closeRegion converts clipper polygons to a MultiPolygon with closed
// rings, dropping points within snap of their predecessor so that
// near-coincident cut points do not leave microscopic spikes.
func (c *clipper) closeRegion(region [][][]Point) MultiPolygon {
	m := make(MultiPolygon, 0, len(region))
	for _, poly := range region {
		out := make(Polygon, 0, len(poly))
		for i, r := range poly {
			r = c.snapRing(r)
			a := Ring(r).signedArea()
			if len(r) < 3 || math.Abs(a) <= c.minArea {
				if i == 0 {
					break
				}
				continue
			}
			ring := make(Ring, 0, len(r)+1)
			ring = append(ring, r...)
			out = append(out, append(ring, r[0]))
		}
		if len(out) > 0 {
			m = append(m, out)
		}
	}
	return m
}

func (c *clipper) snapRing(r []Point) []Point {
	far := func(p, q Point) bool {
		return math.Abs(p.Lon-q.Lon) > c.snap || math.Abs(p.Lat-q.Lat) > c.snap
	}
	out := make([]Point, 0, len(r))
	for _, p := range r {
		if len(out) == 0 || far(out[len(out)-1], p) {
			out = append(out, p)
		}
	}
	for len(out) > 1 && !far(out[0], out[len(out)-1]) {
		out = out[:len(out)-1]
	}
	return out
}

// halfPlane keeps the points p with eval(p) > 0. The boundary line goes
// through (mx, my) with normal (a, b) pointing out of the kept side.
// Points exactly on the line belong to neither side's interior; treating
// them as outside (rather than inside) is what keeps edges lying on the
// line from turning into zero-width spikes or bridges.
type halfPlane struct{ a, b, mx, my float64 }

// bisector returns the half-plane of points closer to s than to t, with
// longitude differences scaled by k. bisector(t, s, k) evaluates to
// exactly the negation of bisector(s, t, k), so neighbouring cells
// classify every point consistently and share their cut points bit for
// bit.
func bisector(s, t Point, k float64) halfPlane {
	return halfPlane{
		a:  k * k * (t.Lon - s.Lon),
		b:  t.Lat - s.Lat,
		mx: (s.Lon + t.Lon) / 2,
		my: (s.Lat + t.Lat) / 2,
	}
}

func (h halfPlane) eval(p Point) float64 {
	// The conversions forbid fused multiply-add, which would break the
	// exact antisymmetry between neighbouring cells.
	return float64(h.a*(h.mx-p.Lon)) + float64(h.b*(h.my-p.Lat))
}

// along is the position of p along the boundary line, increasing in the
// direction that has the kept side on its left.
func (h halfPlane) along(p Point) float64 {
	return float64(h.a*p.Lat) - float64(h.b*p.Lon)
}

// clipper intersects polygons with half-planes. Unlike Sutherland–Hodgman
// it handles non-convex polygons with holes exactly: each ring is cut into
// chains that run inside the half-plane, and chains are joined along the
// boundary line by pairing the cut points in order, so a polygon cut into
// several pieces comes out as several polygons.
type clipper struct {
	minArea float64 // pieces with less area are rounding debris
	snap    float64 // see snapDistance
}

type cut struct {
	p     Point
	t     float64 // position along the line
	slope float64 // tie-break: how t moves if the line shifts inwards
	entry bool    // the chain starts here (else it ends here)
	chain int
}

// clip returns the parts of polys inside h. Rings are open, outer rings
// counter-clockwise, holes clockwise, and so are the results.
func (c *clipper) clip(polys [][][]Point, h halfPlane) [][][]Point {
	var out [][][]Point
	for _, poly := range polys {
		out = c.clipPolygon(out, poly, h)
	}
	return out
}

func (c *clipper) clipPolygon(out [][][]Point, poly [][]Point, h halfPlane) [][][]Point {
	switch side(poly[0], h) {
	case allIn:
		return append(out, poly) // holes are inside the outer ring, so inside too
	case allOut:
		return out
	}
	var (
		chains [][]Point
		cuts   []cut
		holes  [][]Point
	)
	for i, ring := range poly {
		if i > 0 {
			switch side(ring, h) {
			case allIn:
				holes = append(holes, ring)
				continue
			case allOut:
				continue
			}
		}
		chains, cuts = cutRing(ring, h, chains, cuts)
	}

	// Along the line, the polygon's inside alternates with its outside, so
	// sorted cuts run exit, entry, exit, entry...; each exit continues along
	// the line to the entry after it.
	slices.SortFunc(cuts, func(x, y cut) int {
		if c := cmp.Compare(x.t, y.t); c != 0 {
			return c
		}
		return cmp.Compare(y.slope, x.slope) // see halfPlane.cut
	})
	repairAlternation(cuts)
	next := make([]int, len(chains))
	for m := 0; m+1 < len(cuts); m += 2 {
		next[cuts[m].chain] = cuts[m+1].chain
	}

	var pieces [][][]Point
	done := make([]bool, len(chains))
	for start := range chains {
		if done[start] {
			continue
		}
		var ring []Point
		for ch := start; !done[ch]; ch = next[ch] {
			done[ch] = true
			ring = append(ring, chains[ch]...)
		}
		// Where the line passes exactly through a vertex, the joined ring
		// can visit that point twice; split it there into simple loops.
		// Counter-clockwise loops are pieces, clockwise ones holes that now
		// touch their piece's boundary.
		for _, loop := range splitLoops(ring) {
			switch a := Ring(loop).signedArea(); {
			case a > c.minArea:
				pieces = append(pieces, [][]Point{loop})
			case a < -c.minArea:
				holes = append(holes, loop)
			}
		}
	}
	for _, hole := range holes {
		if k := pieceContaining(pieces, hole); k >= 0 {
			pieces[k] = append(pieces[k], hole)
		}
	}
	return append(out, pieces...)
}

// splitLoops cuts a ring at every point it visits more than once and
// returns the simple loops, each without repeated or closing points.
func splitLoops(ring []Point) [][]Point {
	ring = dedupRing(ring)
	var loops [][]Point
	stack := make([]Point, 0, len(ring))
	at := make(map[Point]int, len(ring))
	for _, p := range ring {
		if k, seen := at[p]; seen {
			loop := slices.Clone(stack[k:])
			for _, q := range stack[k+1:] {
				delete(at, q)
			}
			stack = stack[:k+1]
			if loop = dedupRing(loop); len(loop) >= 3 {
				loops = append(loops, loop)
			}
			continue
		}
		at[p] = len(stack)
		stack = append(stack, p)
	}
	if stack = dedupRing(stack); len(stack) >= 3 {
		loops = append(loops, stack)
	}
	return loops
}

type sideKind int

const (
	allIn sideKind = iota
	allOut
	mixed
)

func side(ring []Point, h halfPlane) sideKind {
	var in, out bool
	for _, p := range ring {
		if h.eval(p) > 0 {
			in = true
		} else {
			out = true
		}
		if in && out {
			return mixed
		}
	}
	if in {
		return allIn
	}
	return allOut
}

// cutRing splits a ring that crosses h into the chains that run inside h,
// each from an entry cut to an exit cut, and records the cuts.
func cutRing(ring []Point, h halfPlane, chains [][]Point, cuts []cut) ([][]Point, []cut) {
	n := len(ring)
	f := make([]float64, n)
	for i, p := range ring {
		f[i] = h.eval(p)
	}
	in := func(i int) bool { return f[i%n] > 0 }
	start := -1
	for i := range n {
		if in(i) && !in(i+n-1) {
			start = i
			break
		}
	}
	var cur []Point
	for step := range n {
		i := (start + step) % n
		if !in(i) {
			continue
		}
		if prev := (i + n - 1) % n; !in(prev) {
			x := h.cut(ring[prev], ring[i], f[prev], f[i], true, len(chains))
			cuts = append(cuts, x)
			cur = []Point{x.p}
		}
		if cur[len(cur)-1] != ring[i] {
			cur = append(cur, ring[i])
		}
		if nxt := (i + 1) % n; !in(nxt) {
			x := h.cut(ring[i], ring[nxt], f[i], f[nxt], false, len(chains))
			cuts = append(cuts, x)
			if cur[len(cur)-1] != x.p {
				cur = append(cur, x.p)
			}
			chains = append(chains, cur)
			cur = nil
		}
	}
	return chains, cuts
}

// cut computes where edge a-b, with one end inside (f > 0) and the other
// not, meets the line. A vertex exactly on the line is used as is. The
// slope records how the cut would move along the line if the line were
// shifted slightly inwards, leaving points with f == 0 clearly outside as
// they are counted; it orders cuts that coincide, such as the two at a
// vertex that touches the line.
func (h halfPlane) cut(a, b Point, fa, fb float64, entry bool, chain int) cut {
	var p Point
	switch {
	case fa == 0:
		p = a
	case fb == 0:
		p = b
	default:
		s := fa / (fa - fb)
		p = Point{a.Lon + (b.Lon-a.Lon)*s, a.Lat + (b.Lat-a.Lat)*s}
	}
	ta, tb := h.along(a), h.along(b)
	return cut{p: p, t: h.along(p), slope: (tb - ta) / (fa - fb), entry: entry, chain: chain}
}

// repairAlternation restores the exit, entry, exit, entry order that
// exact arithmetic guarantees, should rounding have swapped nearly
// coincident cuts.
func repairAlternation(cuts []cut) {
	for i := range cuts {
		want := i%2 == 1
		if cuts[i].entry == want {
			continue
		}
		k := i + 1
		for k < len(cuts) && cuts[k].entry != want {
			k++
		}
		if k == len(cuts) {
			return // unreachable: a ring has as many entries as exits
		}
		x := cuts[k]
		copy(cuts[i+1:k+1], cuts[i:k])
		cuts[i] = x
	}
}

// pieceContaining returns the index of the piece whose outer ring holds
// most vertices of hole, or -1 if none does.
func pieceContaining(pieces [][][]Point, hole []Point) int {
	best, bestN := -1, 0
	for k, piece := range pieces {
		outer := Polygon{Ring(piece[0])}
		n := 0
		for _, p := range hole {
			if outer.contains(p) {
				n++
			}
		}
		if n > bestN {
			best, bestN = k, n
		}
	}
	return best
}
