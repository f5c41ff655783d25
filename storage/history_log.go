package storage

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
)

// The recent history in a log, on SQLite, in the process that ingests
// (after DeferRollups).
//
// A batch wrote a block per series into entity_blocks, and an entry at
// its entity's place in entity_blocks_entity: once the history held a
// few pages per entity, every station in a commit cost a page of that
// index written, and the batch upsert fell from about 25,000 to 15,500
// updates/s as the history grew (docs/benchmarks.md). Batches now append
// their blocks to history_log, which has no index: a block costs a row at
// the end of the table. Every compactEvery the blocks of each series and
// hour are merged into one block of entity_blocks, a part at a time
// (compactPartRows log rows a transaction, in the writer's turn), so the
// index gets an entry per series and compaction instead of per batch.
//
// Ids. The log's ids are history block ids, given here in the writer's
// turn after every id entity_blocks has used, so roll-up marks and the
// watermark (rollup_defer.go) go on naming blocks in write order. A
// merged block takes the largest id among its rows. Only rows at or below
// the roll-up watermark are merged (their sums are in the roll-up rows),
// so a merged block is never above the watermark and a restart after a
// crash adds to the roll-ups only log rows, once. An instance id names
// its block at the time it was read; the block that holds the instance
// later is the series' first block in its hour with an id at or above
// that one (ReplaceInstance).
//
// Reading. Only this process knows which log rows belong to a series:
// refs, in memory, added when a batch commits. A reader copies the
// series' refs and reads their rows and entity_blocks in one read
// transaction. A transaction that moves or removes log rows (a
// compaction part, ReplaceInstance, DeleteHistory) changes gen when its
// turn begins and when it ends, and a reader whose copy and snapshot
// straddle one reads again. Rows merged stay in the table, no longer in
// refs, until a range delete after the whole compaction; the next start
// after a crash tells merged rows from the others by the merged block
// that covers them.
//
// Other processes (the one-shot commands) and PostgreSQL write history
// into entity_blocks directly and do not read the log; none of the
// one-shot commands reads history.

// compactEvery is how often the log is merged into entity_blocks.
var compactEvery = 10 * time.Second

// compactPartRows is about how many log rows one transaction of a
// compaction merges.
const compactPartRows = 16_384

// compactRoundRows bounds the log rows one round of a compaction holds
// in memory (a round is read whole, then merged).
var compactRoundRows = 262_144

// logDeleteRows is how many merged rows one transaction deletes.
const logDeleteRows = 16_384

// logRef is a log row, as a reader finds it.
type logRef struct {
	id         int64
	dataset    string
	tMin, tMax int64 // Unix nanoseconds
}

// loggedBlock is a log row a transaction wrote or removed.
type loggedBlock struct {
	pa  pkAttr
	ref logRef
}

type historyLog struct {
	db     *DB
	active atomic.Bool
	// seq is the last block id given; it moves in the writer's turn.
	seq atomic.Int64

	mu   sync.Mutex
	refs map[pkAttr][]logRef // by id
	n    int
	// gate tells readers of a transaction that moves or removes log rows.
	gate moveGate

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	// failures counts compactions that failed (their rows stayed).
	failures atomic.Int64
}

func newHistoryLog(d *DB) *historyLog {
	return &historyLog{db: d, refs: map[pkAttr][]logRef{}, stop: make(chan struct{})}
}

// logging reports whether blocks go to the log.
func (h *historyLog) logging() bool { return h != nil && h.active.Load() }

// start loads the log's rows that are not merged yet and starts the
// compactions; DeferRollups calls it, after recovering the roll-ups.
func (h *historyLog) start(ctx context.Context) error {
	d := h.db
	var top int64
	if err := d.db.QueryRowContext(ctx, `select max(m) from (select coalesce(max(id), 0) as m from entity_blocks
		union all select coalesce(max(id), 0) from history_log
		union all select coalesce(max(seq), 0) from sqlite_sequence where name = 'entity_blocks') s`).Scan(&top); err != nil {
		return fmt.Errorf("history log: %w", err)
	}
	type row struct {
		pa   pkAttr
		ref  logRef
		hour int64
	}
	var list []row
	err := scanLog(ctx, d.db, `select id, entity_pk, attr, dataset_id, data from history_log order by id`, nil, func(b *blockRow) error {
		list = append(list, row{pkAttr{b.pk, b.attr}, logRef{id: b.id, dataset: b.dataset, tMin: b.tMin.UnixNano(), tMax: b.tMax.UnixNano()},
			truncUnix(b.tMin, blockSpan).Unix()})
		return nil
	})
	if err != nil {
		return err
	}
	// A row is merged already when its series has a block in entity_blocks
	// in the same hour with an id at or above its own (a crash between a
	// compaction's parts and its delete).
	type seriesHour struct {
		s    seriesKey
		hour int64
	}
	merged := map[seriesHour]int64{}
	kept := 0
	for _, r := range list {
		k := seriesHour{seriesKey{r.pa.pk, r.pa.attr, r.ref.dataset}, r.hour}
		cover, ok := merged[k]
		if !ok {
			hour := time.Unix(r.hour, 0).UTC()
			if err := d.db.QueryRowContext(ctx, `select coalesce(max(id), 0) from entity_blocks
				where entity_pk = $1 and t_max >= $2 and t_max < $3 and attr = $4 and dataset_id = $5`,
				r.pa.pk, hour, hour.Add(blockSpan), r.pa.attr, r.ref.dataset).Scan(&cover); err != nil {
				return fmt.Errorf("history log: %w", err)
			}
			merged[k] = cover
		}
		if r.ref.id <= cover {
			continue
		}
		h.refs[r.pa] = append(h.refs[r.pa], r.ref)
		kept++
	}
	h.n = kept
	h.seq.Store(top)
	h.active.Store(true)
	h.wg.Add(1)
	go h.run()
	return nil
}

func (h *historyLog) run() {
	defer h.wg.Done()
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.stop:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := h.compact(ctx); err != nil {
			h.failures.Add(1)
			h.db.Log.Warn("history log: compaction failed; its rows stay in the log and are tried again", "err", err)
		}
		cancel()
	}
}

// shutdown stops the compactions and merges what the log holds; call it
// after the roll-ups' last flush, so that every row is below the
// watermark.
func (h *historyLog) shutdown() {
	if !h.logging() {
		return
	}
	h.stopOnce.Do(func() {
		close(h.stop)
		h.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := h.compact(ctx); err != nil {
			h.db.Log.Warn("history log: the last compaction failed; the next start merges its rows", "err", err)
		}
	})
}

// snapshot copies the refs of an attribute's rows that may hold
// instances in [from, to) (the condition blocks puts on entity_blocks),
// waiting out a transaction that moves rows, and returns gen for
// unchanged.
func (h *historyLog) snapshot(ctx context.Context, pa pkAttr, from, to time.Time) ([]logRef, uint64, error) {
	lo, hi, end := from.UnixNano(), to.Add(blockSpan).UnixNano(), to.UnixNano()
	var out []logRef
	gen, err := h.gate.copy(ctx, &h.mu, func() {
		for _, r := range h.refs[pa] {
			if r.tMax >= lo && r.tMax < hi && r.tMin < end {
				out = append(out, r)
			}
		}
	})
	return out, gen, err
}

// unchanged reports that no transaction moved or removed log rows since
// snapshot returned gen.
func (h *historyLog) unchanged(gen uint64) bool { return h.gate.unchanged(&h.mu, gen) }

// changeLog marks the transaction as one that moves or removes log rows:
// readers that overlap it read again.
func (tx *Tx) changeLog() {
	h := tx.db.hlog
	if tx.logChanging || !h.logging() {
		return
	}
	h.mu.Lock()
	h.gate.beginLocked()
	h.mu.Unlock()
	tx.logChanging = true
}

// logCommitted takes a committed transaction's log rows into refs and
// removes those it merged or deleted; the caller still holds the
// writer's turn.
func (h *historyLog) committed(tx *Tx) {
	if h == nil || len(tx.logAdded) == 0 && !tx.logChanging {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range tx.logAdded {
		h.refs[b.pa] = append(h.refs[b.pa], b.ref)
		h.n++
	}
	if len(tx.logRemoved) > 0 {
		gone := map[int64]bool{}
		pas := map[pkAttr]bool{}
		for _, b := range tx.logRemoved {
			gone[b.ref.id] = true
			pas[b.pa] = true
		}
		for pa := range pas {
			list := h.refs[pa]
			keep := list[:0]
			for _, r := range list {
				if !gone[r.id] {
					keep = append(keep, r)
				}
			}
			h.n -= len(list) - len(keep)
			if len(keep) == 0 {
				delete(h.refs, pa)
			} else {
				h.refs[pa] = keep
			}
		}
	}
	if tx.logChanging {
		h.gate.endLocked()
	}
}

// aborted ends a change that did not commit.
func (h *historyLog) aborted(tx *Tx) {
	if h == nil || !tx.logChanging {
		return
	}
	h.mu.Lock()
	h.gate.endLocked()
	h.mu.Unlock()
}

// logRefs returns the refs of an attribute's log rows as the transaction
// sees them: those in memory, its own, less those it removed.
func (tx *Tx) logRefs(pa pkAttr) []logRef {
	h := tx.db.hlog
	if !h.logging() {
		return nil
	}
	h.mu.Lock()
	list := append([]logRef(nil), h.refs[pa]...)
	h.mu.Unlock()
	for _, b := range tx.logAdded {
		if b.pa == pa {
			list = append(list, b.ref)
		}
	}
	if len(tx.logRemoved) == 0 {
		return list
	}
	gone := map[int64]bool{}
	for _, b := range tx.logRemoved {
		gone[b.ref.id] = true
	}
	keep := list[:0]
	for _, r := range list {
		if !gone[r.id] {
			keep = append(keep, r)
		}
	}
	return keep
}

// removeLogRows deletes log rows in the transaction.
func (tx *Tx) removeLogRows(ctx context.Context, pa pkAttr, refs []logRef) (int64, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	tx.changeLog()
	var n int64
	for start := 0; start < len(refs); start += chunkRows {
		part := refs[start:min(start+chunkRows, len(refs))]
		args := make([]any, len(part))
		for i, r := range part {
			args[i] = r.id
			tx.logRemoved = append(tx.logRemoved, loggedBlock{pa, r})
		}
		res, err := tx.ExecContext(ctx, `delete from history_log where id in (`+questionMarks(len(part))+`)`, args...)
		if err != nil {
			return n, fmt.Errorf("history log: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}

// readLogRows reads the rows of refs, in any order.
func readLogRows(ctx context.Context, q queryer, refs []logRef) ([]blockRow, error) {
	out := make([]blockRow, 0, len(refs))
	for start := 0; start < len(refs); start += chunkRows {
		part := refs[start:min(start+chunkRows, len(refs))]
		args := make([]any, len(part))
		for i, r := range part {
			args[i] = r.id
		}
		err := scanLog(ctx, q, `select id, entity_pk, attr, dataset_id, data from history_log where id in (`+questionMarks(len(part))+`)`, args,
			func(b *blockRow) error {
				out = append(out, *b)
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanLog calls fn with each log row the query selects (id, entity_pk,
// attr, dataset_id, data), its time range and sums read from its data.
func scanLog(ctx context.Context, q queryer, query string, args []any, fn func(b *blockRow) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("history log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		b := blockRow{logged: true}
		if err := rows.Scan(&b.id, &b.pk, &b.attr, &b.dataset, &b.data); err != nil {
			return fmt.Errorf("history log: %w", err)
		}
		if err := b.summarize(); err != nil {
			return fmt.Errorf("history log: block %d: %w", b.id, err)
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history log: %w", err)
	}
	return nil
}

// summarize sets a block's time range and sums from its data, as
// writeBlocks computed them.
func (b *blockRow) summarize() error {
	var agg rollAgg
	n := 0
	var derr error
	err := decodeBlock(b.data, func(d *decoded) bool {
		in := instance{num: d.num, isNum: d.isNum}
		if !d.plain {
			var a cityops.Attr
			if err := json.Unmarshal(d.json, &a); err != nil {
				derr = err
				return false
			}
			in.num, in.isNum = a.Number()
		}
		agg.add(&in)
		if n == 0 || d.at.Before(b.tMin) {
			b.tMin = d.at
		}
		if n == 0 || d.at.After(b.tMax) {
			b.tMax = d.at
		}
		n++
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return errBlock
	}
	b.n, b.nnum, b.sum = agg.n, agg.nnum, agg.sum
	b.lo = sql.NullFloat64{Float64: agg.min, Valid: agg.nnum > 0}
	b.hi = sql.NullFloat64{Float64: agg.max, Valid: agg.nnum > 0}
	return nil
}

// errLogMoved: log rows a reader copied were moved meanwhile.
var errLogMoved = errors.New("history log: rows moved while read")

// compact merges the log rows at or below the roll-up watermark into
// entity_blocks, then deletes the merged rows. It reads them in one pass
// and merges each series' rows of an hour outside the writer's turn; the
// writer then inserts a part's merged blocks at a time, leaving out an
// attribute whose rows changed meanwhile (a delete) for the next time.
func (h *historyLog) compact(ctx context.Context) error {
	for {
		more, err := h.compactRound(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// compactRound merges up to compactRoundRows log rows, the oldest; more
// reports that rows below the watermark were left for another round.
func (h *historyLog) compactRound(ctx context.Context) (more bool, err error) {
	d := h.db
	var w int64
	if err := d.db.QueryRowContext(ctx, `select block_id from rollup_watermark`).Scan(&w); err != nil {
		return false, fmt.Errorf("history log: %w", err)
	}
	// The rows to merge: refs at or below w. Others in the table are
	// merged already (a crash) or deleted.
	type ref struct {
		id int64
		pa pkAttr
	}
	var refs []ref
	h.mu.Lock()
	for pa, list := range h.refs {
		for _, r := range list {
			if r.id > w {
				break
			}
			refs = append(refs, ref{r.id, pa})
		}
	}
	h.mu.Unlock()
	if len(refs) > compactRoundRows {
		// A round's rows are held in memory: the oldest, and the rest
		// in the next round.
		slices.SortFunc(refs, func(a, b ref) int { return cmp.Compare(a.id, b.id) })
		refs, w, more = refs[:compactRoundRows], refs[compactRoundRows-1].id, true
	}
	want := make(map[int64]pkAttr, len(refs))
	count := map[pkAttr]int{}
	for _, r := range refs {
		want[r.id] = r.pa
		count[r.pa]++
	}
	if len(want) > 0 {
		groups, err := h.readToMerge(ctx, w, want)
		if err != nil {
			return false, err
		}
		if err := h.mergeParts(ctx, w, groups, count); err != nil {
			return false, err
		}
	}
	return more, h.deleteMerged(ctx, w)
}

// logGroup is one attribute's log rows to merge, by series and hour.
type logGroup struct {
	pa     pkAttr
	rows   int
	blocks map[logHour][]*blockRow
}

type logHour struct {
	dataset string
	hour    int64
}

// readToMerge reads the rows of want, at or below w, in one pass by id.
func (h *historyLog) readToMerge(ctx context.Context, w int64, want map[int64]pkAttr) (map[pkAttr]*logGroup, error) {
	groups := map[pkAttr]*logGroup{}
	err := scanLog(ctx, h.db.db, `select id, entity_pk, attr, dataset_id, data from history_log where id <= ? order by id`, []any{w}, func(row *blockRow) error {
		pa, ok := want[row.id]
		if !ok {
			return nil
		}
		b := new(blockRow)
		*b = *row
		g := groups[pa]
		if g == nil {
			g = &logGroup{pa: pa, blocks: map[logHour][]*blockRow{}}
			groups[pa] = g
		}
		k := logHour{b.dataset, truncUnix(b.tMin, blockSpan).Unix()}
		g.blocks[k] = append(g.blocks[k], b)
		g.rows++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups, nil
}

// mergeParts merges the groups a part at a time (about compactPartRows
// rows a transaction), by entity, so that a part's new index entries
// sit together. count is how many refs at or below w each attribute had
// when they were read.
func (h *historyLog) mergeParts(ctx context.Context, w int64, groups map[pkAttr]*logGroup, count map[pkAttr]int) error {
	list := make([]*logGroup, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].pa.pk != list[j].pa.pk {
			return list[i].pa.pk < list[j].pa.pk
		}
		return list[i].pa.attr < list[j].pa.attr
	})
	for start := 0; start < len(list); {
		end, rows := start, 0
		for end < len(list) && (end == start || rows+list[end].rows <= compactPartRows) {
			rows += list[end].rows
			end++
		}
		part := list[start:end]
		// Merged outside the writer's turn.
		type mergedGroup struct {
			g      *logGroup
			blocks []*blockRow
		}
		merged := make([]mergedGroup, 0, len(part))
		for _, g := range part {
			mg := mergedGroup{g: g}
			for _, bs := range g.blocks {
				m, err := mergeBlocks(bs)
				if err != nil {
					return err
				}
				mg.blocks = append(mg.blocks, m)
			}
			sort.Slice(mg.blocks, func(i, j int) bool { return mg.blocks[i].id < mg.blocks[j].id })
			merged = append(merged, mg)
		}
		err := h.db.inTx(ctx, func(tx *Tx) error {
			tx.changeLog()
			live, err := tx.liveRange(ctx, part[0].pa.pk, part[len(part)-1].pa.pk)
			if err != nil {
				return err
			}
			const cols = 12
			var args []any
			// The transaction has written no log rows, so memory's refs
			// are what it sees.
			ok := make([]bool, len(merged))
			h.mu.Lock()
			for i, mg := range merged {
				list := h.refs[mg.g.pa]
				n := 0
				for n < len(list) && list[n].id <= w {
					n++
				}
				if n != count[mg.g.pa] || mg.g.rows != n {
					continue // deleted from meanwhile: the next compaction
				}
				ok[i] = true
				for _, r := range list[:n] {
					tx.logRemoved = append(tx.logRemoved, loggedBlock{mg.g.pa, r})
				}
			}
			h.mu.Unlock()
			for i, mg := range merged {
				if !ok[i] {
					continue
				}
				if !live[mg.g.pa.pk] {
					continue // the entity's gone: its rows are dropped
				}
				for _, m := range mg.blocks {
					args = append(args, m.id, mg.g.pa.pk, mg.g.pa.attr, m.dataset, m.tMin, m.tMax, m.n, m.nnum, m.sum, m.lo, m.hi, m.data)
				}
			}
			return tx.insertBlocks(ctx, `insert into entity_blocks (id, entity_pk, attr, dataset_id, t_min, t_max, n, nnum, vsum, vmin, vmax, data) values `, cols, args)
		})
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// liveRange returns which entities from lo to hi are still stored.
func (tx *Tx) liveRange(ctx context.Context, lo, hi int64) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `select id from entities where id >= $1 and id <= $2`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("history log: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var pk int64
		if err := rows.Scan(&pk); err != nil {
			return nil, fmt.Errorf("history log: %w", err)
		}
		out[pk] = true
	}
	return out, rows.Err()
}

// mergeBlocks makes one block of a series' blocks in one hour, in id
// order: their instances by time (those at the same time as written),
// the largest id, and the sums of all.
func mergeBlocks(list []*blockRow) (*blockRow, error) {
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	if len(list) == 1 {
		return list[0], nil
	}
	m := &blockRow{id: list[len(list)-1].id, dataset: list[0].dataset, tMin: list[0].tMin, tMax: list[0].tMax}
	var ins []instance
	for _, b := range list {
		m.n, m.nnum, m.sum = m.n+b.n, m.nnum+b.nnum, m.sum+b.sum
		if b.tMin.Before(m.tMin) {
			m.tMin = b.tMin
		}
		if b.tMax.After(m.tMax) {
			m.tMax = b.tMax
		}
		if b.lo.Valid && (!m.lo.Valid || b.lo.Float64 < m.lo.Float64) {
			m.lo = b.lo
		}
		if b.hi.Valid && (!m.hi.Valid || b.hi.Float64 > m.hi.Float64) {
			m.hi = b.hi
		}
		err := decodeBlock(b.data, func(d *decoded) bool {
			ins = append(ins, instance{at: d.at, num: d.num, isNum: d.isNum, plain: d.plain, unit: d.unit, value: string(d.json)})
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("history log: block %d: %w", b.id, err)
		}
	}
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].at.Before(ins[j].at) })
	data, err := encodeBlock(ins)
	if err != nil {
		return nil, err
	}
	m.data = data
	return m, nil
}

// deleteMerged deletes the log rows at or below w that no ref names any
// more (merged, removed or of deleted entities), a range at a time.
func (h *historyLog) deleteMerged(ctx context.Context, w int64) error {
	d := h.db
	for {
		var lo sql.NullInt64
		if err := d.db.QueryRowContext(ctx, `select min(id) from history_log`).Scan(&lo); err != nil {
			return fmt.Errorf("history log: %w", err)
		}
		upto := w
		h.mu.Lock()
		for _, list := range h.refs {
			if list[0].id-1 < upto {
				upto = list[0].id - 1
			}
		}
		h.mu.Unlock()
		if !lo.Valid || lo.Int64 > upto {
			return nil
		}
		upto = min(upto, lo.Int64+logDeleteRows-1)
		if _, err := d.execWrite(ctx, `delete from history_log where id <= $1`, upto); err != nil {
			return fmt.Errorf("history log: %w", err)
		}
	}
}

// LogRows reports the history blocks waiting in the log and the
// compactions that failed so far, for metrics.
func (d *DB) LogRows() (rows int, failures int64) {
	h := d.hlog
	if h == nil {
		return 0, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.failures.Load()
}
