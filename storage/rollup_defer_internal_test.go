package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

const (
	deferType = "https://example.org/AirQualityObserved"
	deferPM   = "https://example.org/pm25"
)

// openDeferred opens the SQLite database in dir as serve does, with no
// flush on the clock: only shutdown, a kick or the test flushes.
func openDeferred(t *testing.T, dir string) *DB {
	t.Helper()
	ctx := context.Background()
	every := rollupFlushEvery
	rollupFlushEvery = time.Hour
	t.Cleanup(func() { rollupFlushEvery = every })
	d, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.DeferRollups(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// ingest writes one reading a minute from t0, value i%7 for the i-th,
// in batches of ten; it returns the readings' count and sum.
func ingest(t *testing.T, d *DB, id string, t0 time.Time, n int) (count int64, sum float64) {
	t.Helper()
	for start := 0; start < n; start += 10 {
		var batch []*cityops.Entity
		for i := start; i < min(start+10, n); i++ {
			v := float64(i % 7)
			batch = append(batch, &cityops.Entity{ID: id, Type: deferType, Attrs: map[string][]cityops.Attr{
				deferPM: {{"type": "Property", "value": v, "observedAt": t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}}}})
			count, sum = count+1, sum+v
		}
		errs, err := d.IngestEntities(context.Background(), "", batch)
		if err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
	}
	return count, sum
}

// totals aggregates the attribute over [from, to) by hours and sums the
// periods.
func totals(t *testing.T, d *DB, id string, from, to time.Time) (count int64, sum float64) {
	t.Helper()
	periods, err := d.Aggregate(context.Background(), "", id, deferPM, from, to, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range periods {
		count, sum = count+p.Count, sum+p.Sum
	}
	return count, sum
}

// rowCounts returns the instances the roll-up rows of each grain count.
func rowCounts(t *testing.T, d *DB) (hour, day int64) {
	t.Helper()
	if err := d.db.QueryRow(`select coalesce(sum(case when grain = 3600 then n end), 0), coalesce(sum(case when grain = 86400 then n end), 0)
		from entity_rollups`).Scan(&hour, &day); err != nil {
		t.Fatal(err)
	}
	return hour, day
}

// TestDeferredRollupsRecovered: sums wait in memory and count in
// aggregations; a crash loses them from memory but not from the
// roll-ups, which the next start rebuilds from the blocks; a clean stop
// writes them; neither counts a reading twice.
func TestDeferredRollupsRecovered(t *testing.T) {
	dir := t.TempDir()
	d := openDeferred(t, dir)
	const id = "urn:ngsi-ld:AirQualityObserved:defer"
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC) // across midnight: two days
	n, sum := ingest(t, d, id, t0, 180)
	from, to := t0, t0.Add(3*time.Hour)
	if h, dd := rowCounts(t, d); h != 0 || dd != 0 {
		t.Fatalf("roll-up rows count %d, %d instances before any flush, want none (the sums wait in memory)", h, dd)
	}
	if gn, gs := totals(t, d, id, from, to); gn != n || gs != sum {
		t.Fatalf("aggregation from memory: count %d sum %v, want %d, %v", gn, gs, n, sum)
	}

	// A crash: what is in memory is gone, the flush at close finds nothing.
	d.rollups.mu.Lock()
	d.rollups.sums, d.rollups.n = map[pkAttr][]pendingRoll{}, 0
	d.rollups.mu.Unlock()
	d.Close()
	d = openDeferred(t, dir)
	if h, dd := rowCounts(t, d); h != n || dd != n {
		t.Fatalf("after the restart the roll-up rows count %d (hours), %d (days) instances, want %d", h, dd, n)
	}
	if gn, gs := totals(t, d, id, from, to); gn != n || gs != sum {
		t.Fatalf("aggregation after recovery: count %d sum %v, want %d, %v", gn, gs, n, sum)
	}

	// A clean stop writes what is in memory; the start after it adds
	// nothing again.
	n2, sum2 := ingest(t, d, id, to, 60)
	d.Close()
	d = openDeferred(t, dir)
	if h, dd := rowCounts(t, d); h != n+n2 || dd != n+n2 {
		t.Fatalf("after a clean stop the roll-up rows count %d, %d instances, want %d", h, dd, n+n2)
	}
	if gn, gs := totals(t, d, id, from, to.Add(time.Hour)); gn != n+n2 || gs != sum+sum2 {
		t.Fatalf("aggregation after a clean stop: count %d sum %v, want %d, %v", gn, gs, n+n2, sum+sum2)
	}

	// A second process cannot keep the same database's roll-ups.
	other, err := Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.DeferRollups(context.Background()); !errors.Is(err, errLocked) {
		t.Fatalf("a second DeferRollups on the database: %v, want %v", err, errLocked)
	}
}

// TestDeferredRollupsFlushRace: aggregations that run while a flush
// moves the sums from memory to the rows count every reading once.
func TestDeferredRollupsFlushRace(t *testing.T) {
	d := openDeferred(t, t.TempDir())
	// Flushes take a while to commit, and readers a while between the
	// sums in memory and the rows.
	settleHook = func() { time.Sleep(2 * time.Millisecond) }
	var k atomic.Int64
	pendingHook = func() { time.Sleep(time.Duration(k.Add(1)%5) * time.Millisecond) }
	t.Cleanup(func() { settleHook, pendingHook = nil, nil })
	const id = "urn:ngsi-ld:AirQualityObserved:race"
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var n int64
	var sum float64
	for round := range 20 {
		rn, rs := ingest(t, d, id, t0.Add(time.Duration(round)*10*time.Minute), 10)
		n, sum = n+rn, sum+rs
		var wg sync.WaitGroup
		wg.Go(d.rollups.flush)
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				periods, err := d.Aggregate(context.Background(), "", id, deferPM, t0, t0.Add(24*time.Hour), time.Hour, false)
				if err != nil {
					errs <- err
					return
				}
				var c int64
				var s float64
				for _, p := range periods {
					c, s = c+p.Count, s+p.Sum
				}
				if c != n || s != sum {
					errs <- fmt.Errorf("round %d: aggregation during a flush counts %d (sum %v), want %d (%v)", round, c, s, n, sum)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	if h, _ := rowCounts(t, d); h != n {
		t.Fatalf("roll-up rows count %d after the flushes, want %d", h, n)
	}
}

// TestDeferredRollupsDeletes: deleting history or the entity while its
// sums wait in memory leaves no roll-up behind, and the flush after it
// succeeds (an entity's roll-ups reference it).
func TestDeferredRollupsDeletes(t *testing.T) {
	ctx := context.Background()
	d := openDeferred(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const kept, cut, gone = "urn:ngsi-ld:AirQualityObserved:kept", "urn:ngsi-ld:AirQualityObserved:cut", "urn:ngsi-ld:AirQualityObserved:gone"
	n, _ := ingest(t, d, kept, t0, 30)
	ingest(t, d, cut, t0, 30)
	ingest(t, d, gone, t0, 30)
	if err := d.DeleteEntity(ctx, "", gone); err != nil {
		t.Fatal(err)
	}
	if err := d.inTx(ctx, func(tx *Tx) error { return tx.settleRollups(ctx) }); err != nil {
		t.Fatalf("flush after deleting an entity: %v", err)
	}
	ingest(t, d, cut, t0.Add(time.Hour), 30) // waiting in memory as it is deleted
	if err := d.DeleteHistory(ctx, "", cut, deferPM, "", true); err != nil {
		t.Fatal(err)
	}
	if err := d.inTx(ctx, func(tx *Tx) error { return tx.settleRollups(ctx) }); err != nil {
		t.Fatalf("flush after deleting history: %v", err)
	}
	if h, dd := rowCounts(t, d); h != n || dd != n {
		t.Fatalf("roll-up rows count %d, %d instances, want only the kept entity's %d", h, dd, n)
	}
	if c, _ := totals(t, d, cut, t0, t0.Add(2*time.Hour)); c != 0 {
		t.Errorf("the deleted history still counts %d", c)
	}
	// The same id again is a new entity, with none of the old sums.
	m, _ := ingest(t, d, gone, t0, 5)
	if c, _ := totals(t, d, gone, t0, t0.Add(time.Hour)); c != m {
		t.Errorf("the re-created entity counts %d, want %d", c, m)
	}
}

// TestDeferredRollupsPartialFlush: a flush that wrote only some sums, a
// crash, and the start after it: every reading is in the roll-ups once,
// those flushed before the crash included.
func TestDeferredRollupsPartialFlush(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDeferred(t, dir)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ids := []string{"urn:ngsi-ld:AirQualityObserved:p1", "urn:ngsi-ld:AirQualityObserved:p2", "urn:ngsi-ld:AirQualityObserved:p3"}
	want := map[string]int64{}
	// In turns, so that each attribute has blocks newer than another's
	// oldest: whichever part is flushed, the watermark stays below some
	// of its blocks.
	for round := range 2 {
		for _, id := range ids {
			n, _ := ingest(t, d, id, t0.Add(time.Duration(round)*10*time.Minute), 10)
			want[id] += n
		}
	}
	// One attribute's sums (the first part) reach the rows...
	if err := d.inTx(ctx, func(tx *Tx) error { return tx.flushRollups(ctx, 1) }); err != nil {
		t.Fatal(err)
	}
	d.rollups.mu.Lock()
	left := len(d.rollups.sums)
	d.rollups.mu.Unlock()
	if left != len(ids)-1 {
		t.Fatalf("%d attributes' sums left in memory after a part, want %d", left, len(ids)-1)
	}
	// ... more readings of all three, then a crash.
	for _, id := range ids {
		n, _ := ingest(t, d, id, t0.Add(20*time.Minute), 20)
		want[id] += n
	}
	d.rollups.mu.Lock()
	d.rollups.sums, d.rollups.n = map[pkAttr][]pendingRoll{}, 0
	d.rollups.mu.Unlock()
	d.Close()
	d = openDeferred(t, dir)
	var total int64
	for _, id := range ids {
		c, _ := totals(t, d, id, t0, t0.Add(time.Hour))
		if c != want[id] {
			t.Errorf("%s: %d readings in the roll-ups after the restart, want %d", id, c, want[id])
		}
		total += want[id]
	}
	if h, dd := rowCounts(t, d); h != total || dd != total {
		t.Errorf("roll-up rows count %d (hours), %d (days), want %d", h, dd, total)
	}
}
