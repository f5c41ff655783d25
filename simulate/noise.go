package simulate

import "math"

// This file holds the deterministic, smooth randomness the generator is
// built on: a hash, value noise over time and a few smooth shape functions.
// Nothing here keeps state, so any instant can be computed on its own.

// mix is the SplitMix64 finaliser: a cheap, well-distributed 64-bit hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// keyOf derives a stream key from the seed and some names (type, site id).
func keyOf(seed int64, parts ...string) uint64 {
	h := mix(uint64(seed))
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = mix(h ^ uint64(p[i]))
		}
		h = mix(h ^ 0xff)
	}
	return h
}

// channel derives the key of one quantity of a site.
func channel(key uint64, c uint64) uint64 { return mix(key ^ (c * 0xd6e8feb86659fd93)) }

// lattice is the pseudo-random value in [-1, 1) at integer point i.
func lattice(key uint64, i int64) float64 {
	h := mix(key ^ mix(uint64(i)))
	return float64(h>>11)/(1<<52) - 1
}

// noise1 is one-dimensional value noise: lattice values joined by the
// quintic fade, so it is continuous with continuous first and second
// derivatives; its slope never exceeds 3.75 per unit of x.
func noise1(key uint64, x float64) float64 {
	i := math.Floor(x)
	f := x - i
	a := lattice(key, int64(i))
	b := lattice(key, int64(i)+1)
	u := f * f * f * (f*(f*6-15) + 10)
	return a + (b-a)*u
}

// smooth is two octaves of value noise over time in hours: features about
// `period` hours long with finer detail; the result stays in [-1, 1] and
// changes by at most 7.2/period per hour.
func smooth(key uint64, hours, period float64) float64 {
	return 0.7*noise1(key, hours/period) + 0.3*noise1(key^0x5bd1e9955bd1e995, 4*hours/period)
}

// gauss is a bell around hour mu of the day with width sigma hours, measured
// round the clock so that 23:30 and 00:30 are an hour apart.
func gauss(h, mu, sigma float64) float64 {
	d := math.Abs(h - mu)
	if d > 12 {
		d = 24 - d
	}
	return math.Exp(-d * d / (2 * sigma * sigma))
}

// window is about 1 between hours a and b and about 0 outside, with
// logistic edges w hours wide (never exactly 0; use ramp for that).
func window(h, a, b, w float64) float64 {
	return sigmoid((h-a)/w) * sigmoid((b-h)/w)
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// smoothstep rises from 0 at x<=0 to 1 at x>=1 with zero slope at both ends.
func smoothstep(x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	return x * x * (3 - 2*x)
}

// ramp is exactly 0 before open and after close (hours of the day) and 1
// in between, rising over rampIn hours and falling over rampOut hours.
func ramp(h, open, close, rampIn, rampOut float64) float64 {
	if h <= open || h >= close {
		return 0
	}
	return smoothstep((h-open)/rampIn) * smoothstep((close-h)/rampOut)
}

// yearBell is a bell over the year fraction y around centre c (both in
// [0, 1)) with width w, wrapping round New Year.
func yearBell(y, c, w float64) float64 {
	d := math.Abs(y - c)
	if d > 0.5 {
		d = 1 - d
	}
	return math.Exp(-d * d / (2 * w * w))
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func lerp(a, b, u float64) float64 { return a + (b-a)*u }

// round rounds to the given number of decimals, for tidy published values.
func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}
