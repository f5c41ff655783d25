package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// openLogged opens the database in dir as serve does, with no compaction
// on the clock: only the test and shutdown compact.
func openLogged(t *testing.T, dir string) *DB {
	t.Helper()
	every := compactEvery
	compactEvery = time.Hour
	t.Cleanup(func() { compactEvery = every })
	return openDeferred(t, dir)
}

// settleAndCompact writes the roll-up sums (so that every log row is at
// or below the watermark) and merges the log.
func settleAndCompact(t *testing.T, d *DB) {
	t.Helper()
	ctx := context.Background()
	if err := d.inTx(ctx, func(tx *Tx) error { return tx.settleRollups(ctx) }); err != nil {
		t.Fatal(err)
	}
	if err := d.hlog.compact(ctx); err != nil {
		t.Fatal(err)
	}
}

// tableRows counts a table's rows.
func tableRows(t *testing.T, d *DB, table string) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(`select count(*) from ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// allMerged fails unless the log holds no block, in memory or table.
func allMerged(t *testing.T, d *DB) {
	t.Helper()
	if n, _ := d.LogRows(); n != 0 {
		t.Fatalf("%d blocks left in the log after compaction", n)
	}
	if got := tableRows(t, d, "history_log"); got != 0 {
		t.Fatalf("history_log keeps %d rows after compaction", got)
	}
}

// history reads the attribute's whole history as "time=value" lines.
func history(t *testing.T, d *DB, id string) []string {
	t.Helper()
	list, err := d.History(context.Background(), "", id, deferPM, time.Unix(0, 0), time.Now().Add(24*time.Hour), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = fmt.Sprintf("%s=%v", in.ObservedAt.Format(time.RFC3339), in.Value["value"])
	}
	return out
}

func sameLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHistoryLogCompaction: batches go to the log; history, aggregations
// and instance ids read the same before and after the log is merged into
// one block per series and hour, and entity_blocks gets only those.
func TestHistoryLogCompaction(t *testing.T) {
	ctx := context.Background()
	d := openLogged(t, t.TempDir())
	const id = "urn:ngsi-ld:AirQualityObserved:log"
	t0 := time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)
	n, sum := ingest(t, d, id, t0, 120) // 22:30 to 00:29: three hours, 12 batches
	if got := tableRows(t, d, "entity_blocks"); got != 0 {
		t.Fatalf("entity_blocks holds %d blocks before any compaction, want 0 (batches go to the log)", got)
	}
	if rows, _ := d.LogRows(); rows != 12 { // a block per batch of ten
		t.Fatalf("the log holds %d blocks, want 12", rows)
	}
	before := history(t, d, id)
	if len(before) != 120 {
		t.Fatalf("history from the log: %d instances, want 120", len(before))
	}
	all, err := d.History(ctx, "", id, deferPM, t0, t0.Add(3*time.Hour), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	oldID := all[45].ID // in the log's fifth block

	settleAndCompact(t, d)
	allMerged(t, d)
	if got := tableRows(t, d, "entity_blocks"); got != 3 {
		t.Fatalf("entity_blocks holds %d blocks after compaction, want 3 (one per hour)", got)
	}
	if after := history(t, d, id); !sameLines(before, after) {
		t.Fatalf("history after compaction differs:\n%v\nwant\n%v", after, before)
	}
	if gn, gs := totals(t, d, id, t0, t0.Add(3*time.Hour)); gn != n || gs != sum {
		t.Fatalf("aggregation after compaction: count %d sum %v, want %d, %v", gn, gs, n, sum)
	}
	// lastN reads newest first across the merged blocks.
	last, err := d.History(ctx, "", id, deferPM, t0, t0.Add(3*time.Hour), 5, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 5 || !last[4].ObservedAt.Equal(t0.Add(119*time.Minute)) {
		t.Fatalf("lastN=5 after compaction: %v", last)
	}

	// An instance id given out while its block was in the log still
	// names it after the merge.
	if err := d.ReplaceInstance(ctx, "", id, deferPM, oldID, nil); err != nil {
		t.Fatalf("delete an instance by the id read before compaction: %v", err)
	}
	got := history(t, d, id)
	want := append(append([]string(nil), before[:45]...), before[46:]...)
	if !sameLines(got, want) {
		t.Fatalf("after deleting instance 45: %d instances, want %d", len(got), len(want))
	}
	if err := d.ReplaceInstance(ctx, "", id, deferPM, oldID, nil); cityops.ErrorCode(err) != cityops.ENOTFOUND {
		t.Fatalf("deleting it again: %v, want not found", err)
	}
	if gn, _ := totals(t, d, id, t0, t0.Add(3*time.Hour)); gn != n-1 {
		t.Fatalf("aggregation after deleting an instance counts %d, want %d", gn, n-1)
	}
}

// TestHistoryLogWatermark: rows whose roll-up sums are still in memory
// stay in the log, and read the same.
func TestHistoryLogWatermark(t *testing.T) {
	d := openLogged(t, t.TempDir())
	const id = "urn:ngsi-ld:AirQualityObserved:mark"
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ingest(t, d, id, t0, 30)
	settleAndCompact(t, d)
	n, _ := ingest(t, d, id, t0.Add(30*time.Minute), 20)
	if err := d.hlog.compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := d.LogRows(); rows != 2 {
		t.Fatalf("the log holds %d blocks after compacting with their sums in memory, want 2", rows)
	}
	if got := history(t, d, id); len(got) != 50 {
		t.Fatalf("history: %d instances, want 50", len(got))
	}
	if gn, _ := totals(t, d, id, t0, t0.Add(time.Hour)); gn != 30+n {
		t.Fatalf("aggregation counts %d, want %d", gn, 30+n)
	}
}

// TestHistoryLogCrash: a process that stops between a compaction's
// merge and its delete leaves merged rows in the log; the next start
// tells them apart, so no instance is read twice or lost, and the
// roll-ups count each once.
func TestHistoryLogCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openLogged(t, dir)
	const a, b = "urn:ngsi-ld:AirQualityObserved:crashA", "urn:ngsi-ld:AirQualityObserved:crashB"
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ingest(t, d, a, t0, 40)
	ingest(t, d, b, t0, 40)
	if err := d.inTx(ctx, func(tx *Tx) error { return tx.settleRollups(ctx) }); err != nil {
		t.Fatal(err)
	}
	// Merge a's rows only, then stop without the delete or the last
	// compaction; b's rows, and c's (written after the watermark), stay.
	var w int64
	if err := d.db.QueryRow(`select block_id from rollup_watermark`).Scan(&w); err != nil {
		t.Fatal(err)
	}
	var pa pkAttr
	for k := range d.hlog.refs {
		row, err := loadEntity(ctx, d.db, "", a, "")
		if err != nil {
			t.Fatal(err)
		}
		if k.pk == row.pk {
			pa = k
		}
	}
	want := map[int64]pkAttr{}
	for _, r := range d.hlog.refs[pa] {
		want[r.id] = pa
	}
	groups, err := d.hlog.readToMerge(ctx, w, want)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.hlog.mergeParts(ctx, w, groups, map[pkAttr]int{pa: len(want)}); err != nil {
		t.Fatal(err)
	}
	const c = "urn:ngsi-ld:AirQualityObserved:crashC"
	nc, _ := ingest(t, d, c, t0, 20)
	wantA, wantB := history(t, d, a), history(t, d, b)
	d.hlog.stopOnce.Do(func() { close(d.hlog.stop); d.hlog.wg.Wait() })
	// Memory's roll-up sums are lost too: only c's were there.
	d.rollups.mu.Lock()
	d.rollups.sums, d.rollups.n = map[pkAttr][]pendingRoll{}, 0
	d.rollups.mu.Unlock()
	d.Close()

	d = openLogged(t, dir)
	if gotA, gotB := history(t, d, a), history(t, d, b); !sameLines(gotA, wantA) || !sameLines(gotB, wantB) {
		t.Fatalf("after the restart: %d and %d instances, want %d and %d", len(gotA), len(gotB), len(wantA), len(wantB))
	}
	if got := history(t, d, c); len(got) != 20 {
		t.Fatalf("after the restart c has %d instances, want 20", len(got))
	}
	for _, id := range []string{a, b} {
		if gn, _ := totals(t, d, id, t0, t0.Add(time.Hour)); gn != 40 {
			t.Fatalf("%s: aggregation counts %d after the restart, want 40", id, gn)
		}
	}
	if gn, _ := totals(t, d, c, t0, t0.Add(time.Hour)); gn != nc {
		t.Fatalf("c: aggregation counts %d after the restart, want %d (recovered once)", gn, nc)
	}
	settleAndCompact(t, d)
	allMerged(t, d)
	if gotA := history(t, d, a); !sameLines(gotA, wantA) {
		t.Fatalf("a after the second compaction: %d instances, want %d", len(gotA), len(wantA))
	}
	if gn, _ := totals(t, d, c, t0, t0.Add(time.Hour)); gn != nc {
		t.Fatalf("c: aggregation counts %d after the second compaction, want %d", gn, nc)
	}
}

// TestHistoryLogDeletes: history deleted, cut by retention, or gone with
// its entity while in the log is not merged back.
func TestHistoryLogDeletes(t *testing.T) {
	ctx := context.Background()
	d := openLogged(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const kept, cut, gone = "urn:ngsi-ld:AirQualityObserved:lkept", "urn:ngsi-ld:AirQualityObserved:lcut", "urn:ngsi-ld:AirQualityObserved:lgone"
	ingest(t, d, kept, t0, 30)
	ingest(t, d, cut, t0, 30)
	ingest(t, d, gone, t0, 30)
	if err := d.DeleteHistory(ctx, "", cut, deferPM, "", true); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteEntity(ctx, "", gone); err != nil {
		t.Fatal(err)
	}
	if got := history(t, d, cut); len(got) != 0 {
		t.Fatalf("deleted history still reads %d instances from the log", len(got))
	}
	settleAndCompact(t, d)
	if got := history(t, d, cut); len(got) != 0 {
		t.Fatalf("deleted history reads %d instances after compaction", len(got))
	}
	if got := history(t, d, kept); len(got) != 30 {
		t.Fatalf("kept: %d instances, want 30", len(got))
	}
	if got := tableRows(t, d, "entity_blocks"); got != 1 {
		t.Fatalf("entity_blocks holds %d blocks, want 1 (the kept series)", got)
	}
	if err := d.DeleteHistory(ctx, "", cut, deferPM, "", true); cityops.ErrorCode(err) != cityops.ENOTFOUND {
		t.Fatalf("deleting the deleted history again: %v, want not found", err)
	}
}

// TestHistoryLogReadRace: readers during compactions see every instance
// once.
func TestHistoryLogReadRace(t *testing.T) {
	d := openLogged(t, t.TempDir())
	const id = "urn:ngsi-ld:AirQualityObserved:lrace"
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	for round := range 15 {
		ingest(t, d, id, t0.Add(time.Duration(round)*10*time.Minute), 10)
		total += 10
		var wg sync.WaitGroup
		wg.Go(func() { settleAndCompact(t, d) })
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() {
				list, err := d.History(context.Background(), "", id, deferPM, t0, t0.Add(24*time.Hour), 0, false)
				if err != nil {
					errs <- err
					return
				}
				seen := map[time.Time]bool{}
				for _, in := range list {
					if seen[in.ObservedAt] {
						errs <- fmt.Errorf("round %d: %s read twice", round, in.ObservedAt)
						return
					}
					seen[in.ObservedAt] = true
				}
				if len(list) != total {
					errs <- fmt.Errorf("round %d: %d instances read during a compaction, want %d", round, len(list), total)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// TestHistoryLogRounds: a compaction larger than a round goes round
// after round, oldest rows first, and reads the same after.
func TestHistoryLogRounds(t *testing.T) {
	d := openLogged(t, t.TempDir())
	rows := compactRoundRows
	compactRoundRows = 5
	t.Cleanup(func() { compactRoundRows = rows })
	const a, b = "urn:ngsi-ld:AirQualityObserved:roundA", "urn:ngsi-ld:AirQualityObserved:roundB"
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ingest(t, d, a, t0, 60)
	ingest(t, d, b, t0, 60)
	wantA, wantB := history(t, d, a), history(t, d, b)
	settleAndCompact(t, d)
	allMerged(t, d)
	// Six rows each (a's first), five a round: a's first five, then a's
	// last with b's first four, then b's last two.
	if got := tableRows(t, d, "entity_blocks"); got != 4 {
		t.Fatalf("entity_blocks holds %d blocks, want 4 (rounds of five of the twelve rows)", got)
	}
	if gotA, gotB := history(t, d, a), history(t, d, b); !sameLines(gotA, wantA) || !sameLines(gotB, wantB) {
		t.Fatalf("after rounds: %d and %d instances, want 60 and 60", len(gotA), len(gotB))
	}
}
