package geo

import (
	"math"
	"testing"
)

// square returns a closed counter-clockwise square ring.
func square(x0, y0, x1, y1 float64) Ring {
	return Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
}

func TestContainsWithHoles(t *testing.T) {
	// A 10x10 square with a 2x2 hole at (4,4)-(6,6), plus an island inside
	// the hole, which is a separate polygon of the same MultiPolygon.
	withHole := MultiPolygon{
		{square(0, 0, 10, 10), square(4, 4, 6, 6)},
		{square(4.5, 4.5, 5.5, 5.5)},
	}
	tests := []struct {
		name string
		p    Point
		want bool
	}{
		{"inside outer", Point{1, 1}, true},
		{"inside hole", Point{4.2, 4.2}, false},
		{"inside island in hole", Point{5, 5}, true},
		{"outside right", Point{11, 5}, false},
		{"outside left", Point{-1, 5}, false},
		{"outside above", Point{5, 10.5}, false},
		{"between hole and outer edge", Point{9.9, 5}, true},
		{"NaN", Point{math.NaN(), 5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withHole.Contains(tt.p); got != tt.want {
				t.Errorf("Contains(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestContainsIgnoresRingOrientationAndClosure(t *testing.T) {
	ccw := MultiPolygon{{square(0, 0, 2, 2)}}
	cw := MultiPolygon{{Ring{{0, 0}, {0, 2}, {2, 2}, {2, 0}}}} // clockwise, not closed
	for _, p := range []Point{{1, 1}, {3, 1}, {1, -0.5}, {0.1, 1.9}} {
		if got, want := cw.Contains(p), ccw.Contains(p); got != want {
			t.Errorf("open clockwise Contains(%v) = %v, want %v", p, got, want)
		}
	}
}

func TestContainsEdgeIsDeterministic(t *testing.T) {
	m := MultiPolygon{{square(0, 0, 1, 1)}}
	for _, p := range []Point{{0, 0.5}, {1, 0.5}, {0.5, 0}, {0.5, 1}, {0, 0}, {1, 1}} {
		first := m.Contains(p)
		for range 3 {
			if got := m.Contains(p); got != first {
				t.Fatalf("Contains(%v) changed from %v to %v", p, first, got)
			}
		}
	}
}

func TestAreaBoundsCentroid(t *testing.T) {
	tests := []struct {
		name     string
		m        MultiPolygon
		area     float64
		bounds   Rect
		centroid Point
	}{
		{
			name:     "unit square",
			m:        MultiPolygon{{square(0, 0, 1, 1)}},
			area:     1,
			bounds:   Rect{Point{0, 0}, Point{1, 1}},
			centroid: Point{0.5, 0.5},
		},
		{
			name:     "clockwise square far from origin",
			m:        MultiPolygon{{Ring{{107, 16}, {107, 16.5}, {107.5, 16.5}, {107.5, 16}, {107, 16}}}},
			area:     0.25,
			bounds:   Rect{Point{107, 16}, Point{107.5, 16.5}},
			centroid: Point{107.25, 16.25},
		},
		{
			name:     "square with off-centre hole",
			m:        MultiPolygon{{square(0, 0, 4, 4), square(0, 0, 2, 2)}},
			area:     12,
			bounds:   Rect{Point{0, 0}, Point{4, 4}},
			centroid: Point{(16*2 - 4*1) / 12.0, (16*2 - 4*1) / 12.0},
		},
		{
			name:     "two squares",
			m:        MultiPolygon{{square(0, 0, 1, 1)}, {square(2, 0, 5, 1)}},
			area:     4,
			bounds:   Rect{Point{0, 0}, Point{5, 1}},
			centroid: Point{(0.5*1 + 3.5*3) / 4, 0.5},
		},
		{
			name: "empty",
			m:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Area(); !near(got, tt.area) {
				t.Errorf("Area() = %v, want %v", got, tt.area)
			}
			if got := tt.m.Bounds(); got != tt.bounds {
				t.Errorf("Bounds() = %v, want %v", got, tt.bounds)
			}
			got := tt.m.Centroid()
			if !near(got.Lon, tt.centroid.Lon) || !near(got.Lat, tt.centroid.Lat) {
				t.Errorf("Centroid() = %v, want %v", got, tt.centroid)
			}
		})
	}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b))
}
