package http

import (
	"fmt"
	"testing"
	"time"
)

func TestSourceKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := sourceKey(tt.in); got != tt.want {
			t.Errorf("sourceKey(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestRateClass checks the cell rate algorithm against a moving clock,
// and that the table stays within its cap however many clients come.
func TestRateClass(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := &rateClass{now: func() time.Time { return now }, max: 50, base: now, buckets: map[string]bucket{}, nextSweep: sweepEvery}
	r := Rate{N: 6, Per: time.Minute, Burst: 3} // one every 10 s, three at once
	for i := range 3 {
		if wait, _ := c.take("a", r); wait != 0 {
			t.Fatalf("request %d waits %v; want none within the burst", i+1, wait)
		}
	}
	if wait, first := c.take("a", r); wait != 10*time.Second || !first {
		t.Errorf("fourth = %v, %v; want 10s, first refusal", wait, first)
	}
	now = now.Add(4 * time.Second)
	if wait, first := c.take("a", r); wait != 6*time.Second || first {
		t.Errorf("after 4 s = %v, %v; want 6s, not the first refusal", wait, first)
	}
	now = now.Add(6 * time.Second)
	if wait, _ := c.take("a", r); wait != 0 {
		t.Errorf("after 10 s = %v; want allowed", wait)
	}
	if wait, first := c.take("a", r); wait == 0 || !first {
		t.Errorf("a new flood = %v, %v; want refused, logged again", wait, first)
	}
	// Thousands of clients, each refused after their burst: the table
	// never outgrows its cap, and new clients are never refused for
	// want of room.
	for i := range 5000 {
		client := fmt.Sprint("c", i)
		for j := range 4 {
			wait, _ := c.take(client, r)
			if (wait == 0) != (j < 3) {
				t.Fatalf("client %d request %d waits %v", i, j+1, wait)
			}
		}
		if n := c.clients(); n > c.max {
			t.Fatalf("table holds %d after %d clients; want at most %d", n, i+1, c.max)
		}
	}
	// Full buckets are swept away.
	now = now.Add(sweepEvery + time.Minute)
	c.take("late", r)
	if n := c.clients(); n != 1 {
		t.Errorf("after a quiet minute the table holds %d; want 1", n)
	}
}
