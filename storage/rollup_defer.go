package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Roll-ups kept behind the history, on SQLite.
//
// Streaming ingestion writes every series in every batch: a block, and
// an hour and a day roll-up row added to. The roll-ups were the largest
// part of a batch's cost (docs/benchmarks.md). The process that ingests
// (serve, after DeferRollups) keeps the sums of what it has committed in
// memory instead and adds them to the rows every rollupFlushEvery, in a
// transaction of its own in the writer's turn: a series written in every
// batch costs two roll-up writes a flush instead of two a batch.
//
// A flush goes a part at a time (rollupFlushPart sums, each part a
// transaction of its own), so that other writers (a report, an alarm)
// wait for one part, not for all of a large city's sums.
//
// Nothing is lost in a crash: the blocks hold the same sums. Every block
// up to rollup_watermark is in the rows; each row also names the newest
// block of its series and bucket it holds (mark, written with the sums).
// DeferRollups first adds to each row the blocks above the watermark and
// above its mark; each part of a flush moves the watermark to just below
// the oldest block whose sums are still in memory.
//
// Aggregate adds the sums in memory to the rows it reads. A flush moves
// sums from memory to rows, so a reader that overlapped one reads again
// (gen). Operations that rewrite or delete roll-up rows (DeleteHistory,
// ReplaceInstance) and retention, which finds series by their rows, first
// flush everything in their own transaction (settleRollups), so that
// nothing in memory is added back after them; the sums of a deleted
// entity are dropped when they would be written.
//
// Only one process may keep a database's roll-ups behind: DeferRollups
// takes a lock on a file beside the database. Other processes (the
// one-shot commands) write roll-ups with their blocks and move the
// watermark themselves; none of them writes history.

// rollupFlushEvery is how often the sums in memory are written;
// rollupFlushSums writes them sooner when there are that many.
const rollupFlushSums = 200_000

// rollupFlushPart is how many sums one part of a flush writes (about
// 40 ms on the project's machine).
const rollupFlushPart = 4096

var rollupFlushEvery = 5 * time.Second // tests lengthen it

// settleHook, when set, runs as a flush ends, before its commit;
// pendingHook after Aggregate has read the sums in memory (tests).
var settleHook, pendingHook func()

// pkAttr names an entity's attribute, all its datasets.
type pkAttr struct {
	pk   int64
	attr string
}

// pendingRoll is a roll-up's sums not yet in its row.
type pendingRoll struct {
	dataset string
	grain   time.Duration
	bucket  int64 // Unix seconds
	agg     rollAgg
	first   int64 // the oldest block whose sums it holds
}

type deferredRollups struct {
	db *DB
	// active: sums wait in memory (after DeferRollups); marked: the
	// watermark table exists (after Migrate), so that writes that do not
	// defer move it.
	active, marked atomic.Bool
	lock           *os.File

	mu   sync.Mutex
	sums map[pkAttr][]pendingRoll
	n    int
	// gate tells readers of a flush.
	gate moveGate

	kick, stop chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once
	// failures counts flush parts that failed (their sums stayed).
	failures atomic.Int64
}

func newDeferredRollups(d *DB) *deferredRollups {
	return &deferredRollups{db: d, sums: map[pkAttr][]pendingRoll{}, kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

// deferring reports whether roll-up sums wait in memory.
func (r *deferredRollups) deferring() bool { return r != nil && r.active.Load() }

func (r *deferredRollups) addLocked(k rollKey, a *rollAgg, first int64) {
	pa := pkAttr{k.series.pk, k.series.attr}
	list := r.sums[pa]
	for i := range list {
		p := &list[i]
		if p.dataset == k.series.dataset && p.grain == k.grain && p.bucket == k.bucket {
			p.agg.merge(a)
			p.first = min(p.first, first)
			return
		}
	}
	r.sums[pa] = append(list, pendingRoll{dataset: k.series.dataset, grain: k.grain, bucket: k.bucket, agg: *a, first: first})
	r.n++
}

// stageRollups keeps sums in the transaction until it commits.
func (tx *Tx) stageRollups(aggs map[rollKey]*rollAgg) {
	if tx.staged == nil {
		tx.staged = make(map[rollKey]*rollAgg, len(aggs))
	}
	for k, a := range aggs {
		if s := tx.staged[k]; s != nil {
			s.merge(a)
		} else {
			c := *a
			tx.staged[k] = &c
		}
	}
}

// committed takes a committed transaction's sums into memory; if the
// transaction flushed, what it flushed leaves memory. The caller still
// holds the writer's turn, so no other transaction commits meanwhile.
func (r *deferredRollups) committed(tx *Tx) {
	if r == nil || !tx.settled && len(tx.staged) == 0 {
		return
	}
	r.mu.Lock()
	if tx.settled {
		for pa := range tx.flushed {
			r.n -= len(r.sums[pa])
			delete(r.sums, pa)
		}
		r.endSettleLocked()
	}
	for k, a := range tx.staged {
		r.addLocked(k, a, tx.firstBlock)
	}
	full := r.n >= rollupFlushSums
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// aborted ends a flush that did not commit: memory keeps its sums.
func (r *deferredRollups) aborted(tx *Tx) {
	if r == nil || !tx.settled {
		return
	}
	r.mu.Lock()
	r.endSettleLocked()
	r.mu.Unlock()
}

func (r *deferredRollups) endSettleLocked() {
	r.gate.endLocked()
}

// settleRollups writes every sum in memory and the transaction's own to
// the roll-up rows: after it the rows hold every block's sums, and the
// watermark is the newest block.
//
// When sums are not deferred (roll-ups written with their blocks) it
// only moves the watermark, once migrations made it.
func (tx *Tx) settleRollups(ctx context.Context) error {
	if !tx.db.rollups.deferring() {
		return tx.db.rollups.markAll(ctx, tx)
	}
	return tx.flushRollups(ctx, 0)
}

// ingesting reports whether this process is the one that ingests into
// SQLite (DeferRollups took the database's lock): the single writer of
// its devices, entities and history, which may keep them in memory.
func (d *DB) ingesting() bool { return d.rollups.deferring() }

// flushRollups writes the sums in memory of about limit roll-ups (0: all,
// with the transaction's own), whole attributes at a time, and moves the
// watermark to just below the oldest block whose sums stay in memory.
func (tx *Tx) flushRollups(ctx context.Context, limit int) error {
	r := tx.db.rollups
	if !r.deferring() {
		return nil
	}
	part := map[rollKey]*rollAgg{}
	var low int64 // the oldest block of the sums left in memory; 0: none
	r.mu.Lock()
	if !tx.settled {
		r.gate.beginLocked()
		tx.settled, tx.flushed = true, map[pkAttr]bool{}
	}
	n := 0
	for pa, list := range r.sums {
		if tx.flushed[pa] {
			continue
		}
		if limit > 0 && n >= limit {
			for _, p := range list {
				if low == 0 || p.first < low {
					low = p.first
				}
			}
			continue
		}
		tx.flushed[pa] = true
		n += len(list)
		for _, p := range list {
			a := p.agg
			part[rollKey{seriesKey{pa.pk, pa.attr, p.dataset}, p.grain, p.bucket}] = &a
		}
	}
	r.mu.Unlock()
	// The transaction's own sums go with their attribute's (all of them
	// when everything is written); the others wait for its commit.
	for k, a := range tx.staged {
		pa := pkAttr{k.series.pk, k.series.attr}
		if limit > 0 && !tx.flushed[pa] {
			if low == 0 || tx.firstBlock < low {
				low = tx.firstBlock
			}
			continue
		}
		tx.flushed[pa] = true
		if s := part[k]; s != nil {
			s.merge(a)
		} else {
			part[k] = a
		}
		delete(tx.staged, k)
	}
	top, err := tx.topBlock(ctx)
	if err != nil {
		return err
	}
	for _, a := range part {
		a.mark = top
	}
	if err := tx.writeSettled(ctx, part); err != nil {
		return err
	}
	w := top
	if low > 0 {
		w = low - 1
	}
	if _, err := tx.ExecContext(ctx, `update rollup_watermark set block_id = $1 where block_id < $1`, w); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	if settleHook != nil {
		settleHook()
	}
	return nil
}

// writeSettled adds sums to the rows, leaving out those of entities
// deleted since (their blocks and roll-ups went with them).
func (tx *Tx) writeSettled(ctx context.Context, aggs map[rollKey]*rollAgg) error {
	if len(aggs) == 0 {
		return nil
	}
	seen := map[int64]bool{}
	var pks []int64
	for k := range aggs {
		if !seen[k.series.pk] {
			seen[k.series.pk] = true
			pks = append(pks, k.series.pk)
		}
	}
	live, err := tx.liveEntities(ctx, pks)
	if err != nil {
		return err
	}
	for k := range aggs {
		if !live[k.series.pk] {
			delete(aggs, k)
		}
	}
	return tx.upsertRollups(ctx, aggs)
}

// topBlock returns the newest history block's id, in entity_blocks or
// the log (history_log.go).
func (tx *Tx) topBlock(ctx context.Context) (int64, error) {
	if h := tx.db.hlog; h.logging() {
		return h.seq.Load(), nil
	}
	var top int64
	if err := tx.QueryRowContext(ctx, `select max(m) from (select coalesce(max(id), 0) as m from entity_blocks
		union all select coalesce(max(id), 0) from history_log) s`).Scan(&top); err != nil {
		return 0, fmt.Errorf("roll-ups: %w", err)
	}
	return top, nil
}

// markRollups moves the watermark to the newest block.
func (tx *Tx) markRollups(ctx context.Context) error {
	top, err := tx.topBlock(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `update rollup_watermark set block_id = $1`, top); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	return nil
}

// markAll moves the watermark after roll-ups written with their blocks,
// on SQLite once it is migrated.
func (r *deferredRollups) markAll(ctx context.Context, tx *Tx) error {
	if r == nil || !r.marked.Load() {
		return nil
	}
	return tx.markRollups(ctx)
}

// liveEntities returns which of pks are still stored.
func (tx *Tx) liveEntities(ctx context.Context, pks []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(pks))
	for start := 0; start < len(pks); start += chunkRows {
		part := pks[start:min(start+chunkRows, len(pks))]
		args := make([]any, len(part))
		for i, pk := range part {
			args[i] = pk
		}
		rows, err := tx.QueryContext(ctx, `select id from entities where id in (`+placeholders(1, len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("roll-ups: %w", err)
		}
		for rows.Next() {
			var pk int64
			if err := rows.Scan(&pk); err != nil {
				rows.Close()
				return nil, fmt.Errorf("roll-ups: %w", err)
			}
			out[pk] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("roll-ups: %w", err)
		}
	}
	return out, nil
}

// pending returns the sums in memory for one attribute of an entity,
// waiting out a flush, and the generation for unchanged.
func (r *deferredRollups) pending(ctx context.Context, pk int64, attr string) ([]pendingRoll, uint64, error) {
	if !r.deferring() {
		return nil, 0, nil
	}
	var list []pendingRoll
	gen, err := r.gate.copy(ctx, &r.mu, func() {
		list = append([]pendingRoll(nil), r.sums[pkAttr{pk, attr}]...)
	})
	return list, gen, err
}

// unchanged reports that no flush began since pending returned gen: the
// rows read meanwhile and those sums do not overlap.
func (r *deferredRollups) unchanged(gen uint64) bool {
	if !r.deferring() {
		return true
	}
	return r.gate.unchanged(&r.mu, gen)
}

// DeferRollups makes this process keep roll-up sums in memory and write
// them every few seconds (SQLite; a no-op on PostgreSQL). It first adds
// the blocks written after the last flush, which a crash may have left
// out of the roll-ups. Call it after Migrate, before writing history;
// only one process at a time may, which a lock file beside the database
// ensures.
func (d *DB) DeferRollups(ctx context.Context) error {
	r := d.rollups
	if r == nil || r.active.Load() {
		return nil
	}
	f, err := lockFile(d.Path + ".rollups.lock")
	if err != nil {
		return err
	}
	var recovered int64
	err = d.inTx(ctx, func(tx *Tx) error {
		var err error
		recovered, err = tx.recoverRollups(ctx)
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	if recovered > 0 {
		d.Log.Warn("roll-ups: added the history blocks written after the last flush (the previous process did not stop cleanly)", "blocks", recovered)
	}
	if err := d.hlog.start(ctx); err != nil {
		f.Close()
		return err
	}
	r.lock = f
	r.active.Store(true)
	r.wg.Add(1)
	go r.run()
	return nil
}

// recoverRollups adds to the roll-up rows the blocks above the watermark
// that are also above their row's mark (a crash lost their sums from
// memory), and moves the watermark to the newest block.
func (tx *Tx) recoverRollups(ctx context.Context) (int64, error) {
	var w int64
	if err := tx.QueryRowContext(ctx, `select block_id from rollup_watermark`).Scan(&w); err != nil {
		return 0, fmt.Errorf("roll-ups: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `select id, entity_pk, attr, dataset_id, t_min, n, nnum, vsum, vmin, vmax
		from entity_blocks where id > $1`, w)
	if err != nil {
		return 0, fmt.Errorf("roll-ups: %w", err)
	}
	type block struct {
		id  int64
		key rollKey
		agg rollAgg
	}
	var blocks []block
	add := func(id int64, s seriesKey, tMin time.Time, n, nnum int64, sum float64, lo, hi sql.NullFloat64) {
		b := block{id: id, agg: rollAgg{n: n, nnum: nnum, sum: sum, min: lo.Float64, max: hi.Float64, mark: id}}
		if !lo.Valid || !hi.Valid {
			b.agg.nnum, b.agg.sum = 0, 0
		}
		for _, g := range rollupGrains {
			b.key = rollKey{s, g, truncUnix(tMin.UTC(), g).Unix()}
			blocks = append(blocks, b)
		}
	}
	for rows.Next() {
		var id int64
		var s seriesKey
		var tMin time.Time
		var n, nnum int64
		var sum float64
		var lo, hi sql.NullFloat64
		if err := rows.Scan(&id, &s.pk, &s.attr, &s.dataset, &tMin, &n, &nnum, &sum, &lo, &hi); err != nil {
			rows.Close()
			return 0, fmt.Errorf("roll-ups: %w", err)
		}
		add(id, s, tMin, n, nnum, sum, lo, hi)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("roll-ups: %w", err)
	}
	// And the history log's (history_log.go), whose sums are in its data.
	err = scanLog(ctx, tx, `select id, entity_pk, attr, dataset_id, data from history_log where id > ?`, []any{w}, func(b *blockRow) error {
		add(b.id, seriesKey{b.pk, b.attr, b.dataset}, b.tMin, b.n, b.nnum, b.sum, b.lo, b.hi)
		return nil
	})
	if err != nil {
		return 0, err
	}
	marks := map[rollKey]int64{}
	aggs := map[rollKey]*rollAgg{}
	var added int64
	for _, b := range blocks {
		m, ok := marks[b.key]
		if !ok {
			err := tx.QueryRowContext(ctx, `select mark from entity_rollups where entity_pk = $1 and attr = $2 and dataset_id = $3
				and grain = $4 and bucket = $5`, b.key.series.pk, b.key.series.attr, b.key.series.dataset,
				int64(b.key.grain/time.Second), time.Unix(b.key.bucket, 0).UTC()).Scan(&m)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return 0, fmt.Errorf("roll-ups: %w", err)
			}
			marks[b.key] = m
		}
		if b.id <= m {
			continue // its sums reached the row before the crash
		}
		if b.key.grain == rollupGrains[0] {
			added++
		}
		if a := aggs[b.key]; a != nil {
			a.merge(&b.agg)
		} else {
			c := b.agg
			aggs[b.key] = &c
		}
	}
	if err := tx.writeSettled(ctx, aggs); err != nil {
		return 0, err
	}
	return added, tx.markRollups(ctx)
}

// RollupsInMemory reports the roll-up sums waiting in memory and the
// flush parts that failed so far (both 0 unless DeferRollups was called),
// for metrics.
func (d *DB) RollupsInMemory() (sums int, failures int64) {
	r := d.rollups
	if r == nil {
		return 0, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.failures.Load()
}

func (r *deferredRollups) run() {
	defer r.wg.Done()
	t := time.NewTicker(rollupFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		case <-r.stop:
			r.flush()
			return
		}
		r.flush()
	}
}

// flush writes the sums in memory a part at a time, each part in its
// own transaction: as many parts as the sums there were when it began.
func (r *deferredRollups) flush() {
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	for ; n > 0; n -= rollupFlushPart {
		r.mu.Lock()
		empty := r.n == 0
		r.mu.Unlock()
		if empty {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := r.db.inTx(ctx, func(tx *Tx) error { return tx.flushRollups(ctx, rollupFlushPart) })
		cancel()
		if err != nil {
			r.failures.Add(1)
			r.db.Log.Warn("roll-ups: flush failed; the sums stay in memory and are tried again", "err", err)
			return
		}
	}
}

// shutdown writes what is in memory and stops the flusher; call it after
// the last write of history.
func (r *deferredRollups) shutdown() {
	if r == nil {
		return
	}
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
	// The log's rows are all below the watermark now: merge them before
	// another process may take the database.
	r.db.hlog.shutdown()
	if r.lock != nil {
		r.lock.Close()
	}
}

var errLocked = errors.New("another process keeps this database's roll-ups (is a cityops serve already running on it?)")
