package loadtool

import (
	"testing"
	"time"
)

// TestQuantile checks nearest-rank quantiles against hand-computed ones.
func TestQuantile(t *testing.T) {
	s := make([]uint32, 1000)
	for i := range s {
		s[i] = uint32(i + 1)
	}
	for _, tt := range []struct {
		q    int
		want uint32
	}{{500, 500}, {900, 900}, {990, 990}, {999, 999}, {1000, 1000}, {1, 1}, {0, 1}} {
		if got := Quantile(s, tt.q); got != tt.want {
			t.Errorf("Quantile(1..1000, %d) = %d, want %d", tt.q, got, tt.want)
		}
	}
	ten := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		q    int
		want uint32
	}{{500, 5}, {900, 9}, {950, 10}, {990, 10}, {999, 10}} {
		if got := Quantile(ten, tt.q); got != tt.want {
			t.Errorf("Quantile(1..10, %d) = %d, want %d", tt.q, got, tt.want)
		}
	}
	if got := Quantile([]uint32(nil), 990); got != 0 {
		t.Errorf("Quantile(nil) = %d, want 0", got)
	}
	if got := Quantile([]uint32{7}, 500); got != 7 {
		t.Errorf("Quantile([7], 500) = %d, want 7", got)
	}
	d := []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}
	if got := Quantile(d, 500); got != 2*time.Millisecond {
		t.Errorf("Quantile(durations, 500) = %s, want 2ms", got)
	}
}

// TestMicros checks the conversion saturates at both ends.
func TestMicros(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want uint32
	}{{1500 * time.Nanosecond, 1}, {-time.Second, 0}, {2 * time.Second, 2_000_000}, {2 << 40 * time.Microsecond, 1<<32 - 1}} {
		if got := Micros(tt.d); got != tt.want {
			t.Errorf("Micros(%s) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
