package storage

import (
	"context"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
)

// TestCountTurns: while every broad count's turn is taken, such a count
// waits (and gives up with its request as unavailable) but a page and a
// count driven by a term with few matches do not; once a turn is free
// the count runs.
func TestCountTurns(t *testing.T) {
	ctx := context.Background()
	d := openDeferred(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ingest(t, d, "urn:ngsi-ld:AirQualityObserved:c1", t0, 3)
	ingest(t, d, "urn:ngsi-ld:AirQualityObserved:c2", t0, 5)
	// A != has no index range to drive the count from: it reads the type.
	broad, err := q.Parse(deferPM + "!=100")
	if err != nil {
		t.Fatal(err)
	}
	f := cityops.EntityFilter{Types: []string{deferType}, Q: broad, Count: true, Limit: 10}
	few, err := q.Parse(deferPM + ">=0")
	if err != nil {
		t.Fatal(err)
	}

	for range countSlots {
		if err := d.acquireCount(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, _, err = d.FindEntities(short, f)
	cancel()
	if cityops.ErrorCode(err) != cityops.EUNAVAILABLE {
		t.Fatalf("a count with every turn taken: %v, want unavailable", err)
	}
	page := f
	page.Count = false
	if got, _, err := d.FindEntities(ctx, page); err != nil || len(got) != 2 {
		t.Fatalf("a page while the counts' turns are taken: %d entities, %v; want 2", len(got), err)
	}
	cheap := f
	cheap.Q = few
	if _, n, err := d.FindEntities(ctx, cheap); err != nil || n != 2 {
		t.Fatalf("a count of a term with few matches while the turns are taken: %d, %v; want 2", n, err)
	}
	for range countSlots {
		d.releaseCount()
	}
	if _, n, err := d.FindEntities(ctx, f); err != nil || n != 2 {
		t.Fatalf("a count with its turn: %d, %v; want 2", n, err)
	}
}
