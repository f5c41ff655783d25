package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// Attribute history: blocks of instances (block.go) and hour and day
// roll-ups, written together in the writer's transaction.

// blockSpan is the longest time a block covers: blocks never straddle a
// UTC hour, so an hour roll-up is the sum of whole blocks.
const blockSpan = time.Hour

// rollupGrains are the roll-ups kept, coarsest last.
var rollupGrains = []time.Duration{time.Hour, 24 * time.Hour}

// maxAggrInstances bounds the instances one aggregation decodes.
const maxAggrInstances = 5_000_000

type seriesKey struct {
	pk      int64
	attr    string
	dataset string
}

func truncUnix(t time.Time, g time.Duration) time.Time {
	s, gs := t.Unix(), int64(g/time.Second)
	return time.Unix(s-((s%gs)+gs)%gs, 0).UTC()
}

// writeHistory keeps instances, whose attr is a code (attrnames.go): one
// block per series and hour among them, and their sums added to the
// roll-ups.
func (tx *Tx) writeHistory(ctx context.Context, list []instance) error {
	if len(list) == 0 {
		return nil
	}
	if err := tx.writeBlocks(ctx, list); err != nil {
		return err
	}
	return tx.addRollups(ctx, list)
}

// writeBlocks writes the blocks of instances, sorting them; their attr
// is a code.
func (tx *Tx) writeBlocks(ctx context.Context, list []instance) error {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := &list[i], &list[j]
		if a.pk != b.pk {
			return a.pk < b.pk
		}
		if a.attr != b.attr {
			return a.attr < b.attr
		}
		if a.dataset != b.dataset {
			return a.dataset < b.dataset
		}
		return a.at.Before(b.at)
	})
	if tx.db.hlog.logging() {
		return tx.logBlocks(ctx, list)
	}
	const cols = 11
	var args []any
	err := eachBlock(list, func(block []instance, agg *rollAgg, data []byte) {
		first := &block[0]
		lo, hi := agg.bounds()
		args = append(args, first.pk, first.attr, first.dataset, first.at, block[len(block)-1].at, agg.n, agg.nnum, agg.sum, lo, hi, data)
	})
	if err != nil {
		return err
	}
	return tx.insertBlocks(ctx, `insert into entity_blocks (entity_pk, attr, dataset_id, t_min, t_max, n, nnum, vsum, vmin, vmax, data) values `, cols, args)
}

// logBlocks appends the blocks of sorted instances to the history log
// (history_log.go), numbering them.
func (tx *Tx) logBlocks(ctx context.Context, list []instance) error {
	h := tx.db.hlog
	const cols = 5
	var args []any
	err := eachBlock(list, func(block []instance, agg *rollAgg, data []byte) {
		first, last := &block[0], &block[len(block)-1]
		id := h.seq.Add(1)
		if tx.firstBlock == 0 {
			// The sums in memory remember the oldest block they hold.
			tx.firstBlock = id
		}
		tx.logAdded = append(tx.logAdded, loggedBlock{pkAttr{first.pk, first.attr},
			logRef{id: id, dataset: first.dataset, tMin: first.at.UnixNano(), tMax: last.at.UnixNano()}})
		args = append(args, id, first.pk, first.attr, first.dataset, data)
	})
	if err != nil {
		return err
	}
	return tx.insertBlocks(ctx, `insert into history_log (id, entity_pk, attr, dataset_id, data) values `, cols, args)
}

// eachBlock calls fn with each block of sorted instances: a series' run
// within one hour, its sums and its encoding.
func eachBlock(list []instance, fn func(block []instance, agg *rollAgg, data []byte)) error {
	for start := 0; start < len(list); {
		first := &list[start]
		hour := truncUnix(first.at, blockSpan)
		end := start + 1
		for end < len(list) && list[end].pk == first.pk && list[end].attr == first.attr && list[end].dataset == first.dataset &&
			truncUnix(list[end].at, blockSpan).Equal(hour) {
			end++
		}
		block := list[start:end]
		var agg rollAgg
		for i := range block {
			agg.add(&block[i])
		}
		data, err := encodeBlock(block)
		if err != nil {
			return err
		}
		fn(block, &agg, data)
		start = end
	}
	return nil
}

// insertBlocks runs the multi-row insert of cols columns over args.
func (tx *Tx) insertBlocks(ctx context.Context, insert string, cols int, args []any) error {
	for rows := len(args) / cols; rows > 0; {
		n := tx.db.stmtRows(rows)
		q := tx.db.multiRow(insert, cols, n, "")
		if _, err := tx.exec(ctx, q, args[:n*cols]...); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		args, rows = args[n*cols:], rows-n
	}
	return nil
}

// rollKey names one roll-up row.
type rollKey struct {
	series seriesKey
	grain  time.Duration
	bucket int64 // Unix seconds
}

type rollAgg struct {
	n, nnum  int64
	sum      float64
	min, max float64
	// mark is the newest block whose sums the row will then hold (0: not
	// tracked; rollup_defer.go).
	mark int64
}

func (a *rollAgg) add(in *instance) {
	a.n++
	if !in.isNum {
		return
	}
	if a.nnum == 0 || in.num < a.min {
		a.min = in.num
	}
	if a.nnum == 0 || in.num > a.max {
		a.max = in.num
	}
	a.nnum++
	a.sum += in.num
}

// merge adds the sums of b.
func (a *rollAgg) merge(b *rollAgg) {
	a.mark = max(a.mark, b.mark)
	a.n += b.n
	if b.nnum == 0 {
		return
	}
	if a.nnum == 0 || b.min < a.min {
		a.min = b.min
	}
	if a.nnum == 0 || b.max > a.max {
		a.max = b.max
	}
	a.nnum += b.nnum
	a.sum += b.sum
}

func (a *rollAgg) bounds() (lo, hi any) {
	if a.nnum == 0 {
		return nil, nil
	}
	return a.min, a.max
}

// addRollups sums the instances per series and bucket and adds the sums
// to the roll-ups: at once on PostgreSQL, and on SQLite when serve does
// not keep them behind (rollup_defer.go); otherwise the sums wait in the
// transaction and, once it commits, in memory.
func (tx *Tx) addRollups(ctx context.Context, list []instance) error {
	aggs := map[rollKey]*rollAgg{}
	for i := range list {
		in := &list[i]
		for _, g := range rollupGrains {
			k := rollKey{seriesKey{in.pk, in.attr, in.dataset}, g, truncUnix(in.at, g).Unix()}
			a := aggs[k]
			if a == nil {
				a = &rollAgg{}
				aggs[k] = a
			}
			a.add(in)
		}
	}
	if tx.db.rollups.deferring() && tx.firstBlock > 0 {
		tx.stageRollups(aggs)
		return nil
	}
	if err := tx.upsertRollups(ctx, aggs); err != nil {
		return err
	}
	return tx.db.rollups.markAll(ctx, tx)
}

// upsertRollups adds sums to the stored roll-ups, in key order so that
// concurrent writers on PostgreSQL take the row locks in the same order.
func (tx *Tx) upsertRollups(ctx context.Context, aggs map[rollKey]*rollAgg) error {
	keys := make([]rollKey, 0, len(aggs))
	for k := range aggs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.series.pk != b.series.pk {
			return a.series.pk < b.series.pk
		}
		if a.series.attr != b.series.attr {
			return a.series.attr < b.series.attr
		}
		if a.grain != b.grain {
			return a.grain < b.grain
		}
		if a.bucket != b.bucket {
			return a.bucket < b.bucket
		}
		return a.series.dataset < b.series.dataset
	})
	merge := ` on conflict (entity_pk, attr, grain, bucket, dataset_id) do update set n = entity_rollups.n + excluded.n,
		nnum = entity_rollups.nnum + excluded.nnum, vsum = entity_rollups.vsum + excluded.vsum, `
	if tx.db.dialect == Postgres {
		merge += `vmin = least(entity_rollups.vmin, excluded.vmin), vmax = greatest(entity_rollups.vmax, excluded.vmax),
		mark = greatest(entity_rollups.mark, excluded.mark)`
	} else {
		// SQLite's two-argument min and max are NULL if either is.
		merge += `vmin = coalesce(min(entity_rollups.vmin, excluded.vmin), entity_rollups.vmin, excluded.vmin),
		vmax = coalesce(max(entity_rollups.vmax, excluded.vmax), entity_rollups.vmax, excluded.vmax),
		mark = max(entity_rollups.mark, excluded.mark)`
	}
	const cols = 11
	args := make([]any, 0, min(len(keys), chunkRows)*cols)
	for start := 0; start < len(keys); {
		part := keys[start : start+tx.db.stmtRows(len(keys)-start)]
		start += len(part)
		args = args[:0]
		for _, k := range part {
			a := aggs[k]
			lo, hi := a.bounds()
			args = append(args, k.series.pk, k.series.attr, k.series.dataset, int64(k.grain/time.Second), time.Unix(k.bucket, 0).UTC(), a.n, a.nnum, a.sum, lo, hi, a.mark)
		}
		q := tx.db.multiRow(`insert into entity_rollups (entity_pk, attr, dataset_id, grain, bucket, n, nnum, vsum, vmin, vmax, mark) values `, cols, len(part), merge)
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("roll-ups: %w", err)
		}
	}
	return nil
}

// blockRow is a block as read back; pk and attr are set for log rows,
// and logged.
type blockRow struct {
	id         int64
	pk         int64
	attr       string
	dataset    string
	tMin, tMax time.Time
	n, nnum    int64
	sum        float64
	lo, hi     sql.NullFloat64
	data       []byte
	logged     bool
}

// blocks calls fn for the series' blocks that may hold instances in
// [from, to), by t_max ascending or descending, until fn returns false:
// those of entity_blocks and, in the process that ingests, those of the
// history log (history_log.go), read in one snapshot. Because a block
// spans less than an hour, t_max < to + 1h bounds the index range.
func (d *DB) blocks(ctx context.Context, pk int64, attr string, from, to time.Time, desc, withData bool, fn func(b *blockRow) (bool, error)) error {
	h := d.hlog
	if !h.logging() {
		return blocksFrom(ctx, d.db, pk, attr, from, to, desc, withData, nil, fn)
	}
	for try := 0; ; try++ {
		refs, gen, err := h.snapshot(ctx, pkAttr{pk, attr}, from, to)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return blocksFrom(ctx, d.db, pk, attr, from, to, desc, withData, nil, fn)
		}
		err = d.readSnapshot(ctx, func(q queryer) error {
			logged, err := readLogRows(ctx, q, refs)
			if err != nil {
				return err
			}
			// The read above fixed the snapshot: the refs must still be
			// what it holds.
			if len(logged) != len(refs) || !h.unchanged(gen) {
				return errLogMoved
			}
			return blocksFrom(ctx, q, pk, attr, from, to, desc, withData, logged, fn)
		})
		if !errors.Is(err, errLogMoved) {
			return err
		}
		if try == 10 {
			return cityops.Errorf(cityops.EUNAVAILABLE, "the history is being reorganised; try again")
		}
	}
}

// readSnapshot runs fn's reads in one read transaction.
func (d *DB) readSnapshot(ctx context.Context, fn func(q queryer) error) error {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// blocksFrom reads the series' blocks from entity_blocks in order, the
// log rows logged among them.
func blocksFrom(ctx context.Context, q queryer, pk int64, attr string, from, to time.Time, desc, withData bool, logged []blockRow, fn func(b *blockRow) (bool, error)) error {
	order := "asc"
	if desc {
		order = "desc"
	}
	data := "null"
	if withData {
		data = "data"
	}
	// before: a comes before b in the order asked.
	before := func(a, b *blockRow) bool {
		if !a.tMax.Equal(b.tMax) {
			return a.tMax.Before(b.tMax) != desc
		}
		return a.id < b.id != desc
	}
	sort.Slice(logged, func(i, j int) bool { return before(&logged[i], &logged[j]) })
	rows, err := q.QueryContext(ctx, `select id, dataset_id, t_min, t_max, n, nnum, vsum, vmin, vmax, `+data+` from entity_blocks
		where entity_pk = $1 and attr = $2 and t_max >= $3 and t_max < $4 and t_min < $5
		order by t_max `+order+`, id `+order, pk, attr, from.UTC(), to.UTC().Add(blockSpan), to.UTC())
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b blockRow
		if err := rows.Scan(&b.id, &b.dataset, &b.tMin, &b.tMax, &b.n, &b.nnum, &b.sum, &b.lo, &b.hi, &b.data); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		b.tMin, b.tMax = b.tMin.UTC(), b.tMax.UTC()
		for len(logged) > 0 && before(&logged[0], &b) {
			more, err := fn(&logged[0])
			if err != nil || !more {
				return err
			}
			logged = logged[1:]
		}
		more, err := fn(&b)
		if err != nil || !more {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	for i := range logged {
		more, err := fn(&logged[i])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// History implements cityops.EntityService. Blocks are read newest
// (lastN) or oldest first and reading stops once no unread block can
// hold an instance that would make the cut.
func (d *DB) History(ctx context.Context, tenant, id, attr string, from, to time.Time, limit int, lastN bool) ([]cityops.Instance, error) {
	row, err := loadEntity(ctx, d.db, tenant, id, "")
	if err != nil {
		return nil, err
	}
	// Instances at the same time are ordered as written (by block).
	type item struct {
		in    cityops.Instance
		block int64
	}
	var list []item
	cut := func() {
		sort.SliceStable(list, func(i, j int) bool {
			a, b := &list[i], &list[j]
			if !a.in.ObservedAt.Equal(b.in.ObservedAt) {
				return a.in.ObservedAt.Before(b.in.ObservedAt)
			}
			return a.block < b.block
		})
		if limit > 0 && len(list) > limit {
			if lastN {
				list = list[len(list)-limit:]
			} else {
				list = list[:limit]
			}
		}
	}
	code, err := d.attrCode(ctx, d.db, tenant, row.e.Type, attr)
	if err != nil {
		return nil, err
	}
	err = d.blocks(ctx, row.pk, code, from, to, lastN, true, func(b *blockRow) (bool, error) {
		if limit > 0 && len(list) >= limit {
			cut()
			// Newest first: later blocks end before this one; oldest
			// first: they start in or after this one's hour.
			if lastN && b.tMax.Before(list[0].in.ObservedAt) || !lastN && truncUnix(b.tMax, blockSpan).After(list[len(list)-1].in.ObservedAt) {
				return false, nil
			}
		}
		var derr error
		err := decodeBlock(b.data, func(in *decoded) bool {
			if in.at.Before(from) || !in.at.Before(to) {
				return true
			}
			a, err := in.attr(b.dataset)
			if err != nil {
				derr = err
				return false
			}
			list = append(list, item{cityops.Instance{Attr: attr, ObservedAt: in.at, Value: a, ID: instanceID(b.id, in.at)}, b.id})
			return true
		})
		if err == nil {
			err = derr
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	cut()
	out := make([]cityops.Instance, len(list))
	for i := range list {
		out[i] = list[i].in
	}
	return out, nil
}

// instanceID names an instance for the temporal API: its block and time.
func instanceID(block int64, at time.Time) string {
	return fmt.Sprintf("urn:ngsi-ld:Instance:%d-%d", block, at.UnixNano())
}

// Aggregate implements cityops.EntityService. The window is covered by
// the coarsest roll-ups whose buckets line up with the periods, finer
// ones at its edges, and blocks for the rest: a block inside one period
// counts whole, without being decoded.
func (d *DB) Aggregate(ctx context.Context, tenant, id, attr string, from, to time.Time, period time.Duration, distinct bool) ([]cityops.AggrPeriod, error) {
	row, err := loadEntity(ctx, d.db, tenant, id, "")
	if err != nil {
		return nil, err
	}
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		return []cityops.AggrPeriod{}, nil
	}
	code, err := d.attrCode(ctx, d.db, tenant, row.e.Type, attr)
	if err != nil {
		return nil, err
	}
	var grains []time.Duration
	for i := len(rollupGrains) - 1; i >= 0; i-- {
		g := rollupGrains[i]
		if period == 0 || period%g == 0 && from.Equal(truncUnix(from, g)) {
			grains = append(grains, g)
		}
	}
	var a *aggregator
	for {
		// The roll-up rows, and the sums in memory not yet in them
		// (rollup_defer.go); read again if a flush moved sums between
		// the two meanwhile.
		pending, gen, err := d.rollups.pending(ctx, row.pk, code)
		if err != nil {
			return nil, err
		}
		if pendingHook != nil {
			pendingHook()
		}
		a = &aggregator{d: d, pk: row.pk, attr: code, from: from, to: to, period: period, acc: map[int]*cityops.AggrPeriod{}, pending: pending}
		if err := a.span(ctx, from, to, grains); err != nil {
			return nil, err
		}
		if d.rollups.unchanged(gen) {
			break
		}
	}
	if distinct {
		if err := a.distinct(ctx); err != nil {
			return nil, err
		}
	}
	keys := make([]int, 0, len(a.acc))
	for k := range a.acc {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]cityops.AggrPeriod, 0, len(keys))
	for _, k := range keys {
		out = append(out, *a.acc[k])
	}
	return out, nil
}

type aggregator struct {
	d        *DB
	pk       int64
	attr     string
	from, to time.Time
	period   time.Duration
	acc      map[int]*cityops.AggrPeriod
	decoded  int
	// pending are the roll-up sums in memory for the attribute.
	pending []pendingRoll
}

func (a *aggregator) index(t time.Time) int {
	if a.period == 0 {
		return 0
	}
	return int(t.Sub(a.from) / a.period)
}

func (a *aggregator) at(t time.Time) *cityops.AggrPeriod {
	k := a.index(t)
	p := a.acc[k]
	if p == nil {
		p = &cityops.AggrPeriod{From: a.from.Add(time.Duration(k) * a.period), To: a.to}
		if a.period > 0 {
			p.To = p.From.Add(a.period)
		}
		a.acc[k] = p
	}
	return p
}

func (a *aggregator) add(t time.Time, n, nnum int64, sum float64, lo, hi sql.NullFloat64) {
	p := a.at(t)
	p.Count += n
	if nnum == 0 || !lo.Valid || !hi.Valid {
		return
	}
	if p.Numbers == 0 || lo.Float64 < p.Min {
		p.Min = lo.Float64
	}
	if p.Numbers == 0 || hi.Float64 > p.Max {
		p.Max = hi.Float64
	}
	p.Numbers += nnum
	p.Sum += sum
}

// span adds [lo, hi) from the first grain's roll-ups, its edges from
// finer grains, and from blocks when no grain is left.
func (a *aggregator) span(ctx context.Context, lo, hi time.Time, grains []time.Duration) error {
	if !hi.After(lo) {
		return nil
	}
	if len(grains) == 0 {
		return a.fromBlocks(ctx, lo, hi)
	}
	g := grains[0]
	start := truncUnix(lo, g)
	if start.Before(lo) {
		start = start.Add(g)
	}
	end := truncUnix(hi, g)
	if !start.Before(end) {
		return a.span(ctx, lo, hi, grains[1:])
	}
	if err := a.span(ctx, lo, start, grains[1:]); err != nil {
		return err
	}
	rows, err := a.d.db.QueryContext(ctx, `select bucket, n, nnum, vsum, vmin, vmax from entity_rollups
		where entity_pk = $1 and attr = $2 and grain = $3 and bucket >= $4 and bucket < $5`,
		a.pk, a.attr, int64(g/time.Second), start, end)
	if err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	for rows.Next() {
		var b time.Time
		var n, nnum int64
		var sum float64
		var lo, hi sql.NullFloat64
		if err := rows.Scan(&b, &n, &nnum, &sum, &lo, &hi); err != nil {
			rows.Close()
			return fmt.Errorf("roll-ups: %w", err)
		}
		a.add(b.UTC(), n, nnum, sum, lo, hi)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	for _, p := range a.pending {
		if p.grain == g && p.bucket >= start.Unix() && p.bucket < end.Unix() {
			bound := sql.NullFloat64{Valid: p.agg.nnum > 0}
			lo, hi := bound, bound
			lo.Float64, hi.Float64 = p.agg.min, p.agg.max
			a.add(time.Unix(p.bucket, 0).UTC(), p.agg.n, p.agg.nnum, p.agg.sum, lo, hi)
		}
	}
	return a.span(ctx, end, hi, grains[1:])
}

// fromBlocks adds [lo, hi): a block within it and within one period
// counts whole; others are decoded.
func (a *aggregator) fromBlocks(ctx context.Context, lo, hi time.Time) error {
	return a.d.blocks(ctx, a.pk, a.attr, lo, hi, false, true, func(b *blockRow) (bool, error) {
		if !b.tMin.Before(lo) && b.tMax.Before(hi) && a.index(b.tMin) == a.index(b.tMax) {
			a.add(b.tMin, b.n, b.nnum, b.sum, b.lo, b.hi)
			return true, nil
		}
		err := decodeBlock(b.data, func(in *decoded) bool {
			if in.at.Before(lo) || !in.at.Before(hi) {
				return true
			}
			a.decoded++
			num := sql.NullFloat64{Float64: in.num, Valid: in.isNum}
			if !in.plain {
				num = jsonNumber(in.json)
			}
			var nnum int64
			if num.Valid {
				nnum = 1
			}
			a.add(in.at, 1, nnum, num.Float64, num, num)
			return a.decoded <= maxAggrInstances
		})
		if a.decoded > maxAggrInstances {
			return false, cityops.Errorf(cityops.EINVALID, "the aggregation reads more than %d instances; use periods of whole hours or days", maxAggrInstances)
		}
		return true, err
	})
}

// distinct counts distinct values per period; only the instances know.
func (a *aggregator) distinct(ctx context.Context) error {
	seen := map[int]map[string]bool{}
	n := 0
	var derr error
	err := a.d.blocks(ctx, a.pk, a.attr, a.from, a.to, false, true, func(b *blockRow) (bool, error) {
		err := decodeBlock(b.data, func(in *decoded) bool {
			if in.at.Before(a.from) || !in.at.Before(a.to) {
				return true
			}
			if n++; n > maxAggrInstances {
				derr = cityops.Errorf(cityops.EINVALID, "distinctCount reads more than %d instances; narrow the window", maxAggrInstances)
				return false
			}
			v, err := in.value()
			if err != nil {
				derr = err
				return false
			}
			k := a.index(in.at)
			if seen[k] == nil {
				seen[k] = map[string]bool{}
			}
			if !seen[k][v] {
				seen[k][v] = true
				a.at(in.at).Distinct++
			}
			return true
		})
		if err == nil {
			err = derr
		}
		return err == nil, err
	})
	return err
}

// jsonNumber is the numeric value of an instance kept as JSON, if any.
func jsonNumber(b []byte) sql.NullFloat64 {
	var a struct {
		Value any `json:"value"`
	}
	if json.Unmarshal(b, &a) != nil {
		return sql.NullFloat64{}
	}
	f, ok := a.Value.(float64)
	return sql.NullFloat64{Float64: f, Valid: ok}
}

// instancesToBlocks moves the history of migration 0010's
// entity_instances, one row per instance, into blocks and roll-ups.
func instancesToBlocks(ctx context.Context, tx *Tx) error {
	var last int64
	for {
		rows, err := tx.QueryContext(ctx, `select i.id, i.entity_pk, e.tenant, e.type, i.attr, i.dataset_id, i.observed_at, i.value
			from entity_instances i join entities e on e.id = i.entity_pk where i.id > $1 order by i.id limit 10000`, last)
		if err != nil {
			return fmt.Errorf("move instances: %w", err)
		}
		var list []instance
		for rows.Next() {
			var id, pk int64
			var tenant, typ, attr, dataset, value string
			var at time.Time
			if err := rows.Scan(&id, &pk, &tenant, &typ, &attr, &dataset, &at, &value); err != nil {
				rows.Close()
				return fmt.Errorf("move instances: %w", err)
			}
			last = id
			var a cityops.Attr
			if err := json.Unmarshal([]byte(value), &a); err != nil {
				rows.Close()
				return fmt.Errorf("move instance %d: %w", id, err)
			}
			code, err := tx.codeFor(ctx, tenant, typ, attr)
			if err != nil {
				rows.Close()
				return err
			}
			in, err := newInstance(pk, code, a, at.UTC())
			if err != nil {
				rows.Close()
				return err
			}
			in.at, in.dataset = at.UTC(), dataset
			list = append(list, in)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("move instances: %w", err)
		}
		if len(list) == 0 {
			return nil
		}
		if err := tx.writeHistory(ctx, list); err != nil {
			return err
		}
	}
}

// DeleteHistory implements cityops.EntityService.
func (d *DB) DeleteHistory(ctx context.Context, tenant, id, attr, datasetID string, all bool) error {
	return d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, tenant, id, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		if err := tx.settleRollups(ctx); err != nil {
			return err
		}
		code, err := tx.db.attrCode(ctx, tx, tenant, row.e.Type, attr)
		if err != nil {
			return err
		}
		cond, args := `entity_pk = $1 and attr = $2`, []any{row.pk, code}
		if !all {
			cond, args = cond+` and dataset_id = $3`, append(args, datasetID)
		}
		res, err := tx.ExecContext(ctx, `delete from entity_blocks where `+cond, args...)
		if err != nil {
			return fmt.Errorf("delete history: %w", err)
		}
		n, _ := res.RowsAffected()
		pa := pkAttr{row.pk, code}
		var refs []logRef
		for _, r := range tx.logRefs(pa) {
			if all || r.dataset == datasetID {
				refs = append(refs, r)
			}
		}
		logged, err := tx.removeLogRows(ctx, pa, refs)
		if err != nil {
			return err
		}
		n += logged
		res, err = tx.ExecContext(ctx, `delete from entity_rollups where `+cond, args...)
		if err != nil {
			return fmt.Errorf("delete history: %w", err)
		}
		m, _ := res.RowsAffected()
		if n+m == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "attribute %q of %s has no history", attr, id)
		}
		return nil
	})
}

// parseInstanceID reads what instanceID wrote.
func parseInstanceID(s string) (block int64, at time.Time, ok bool) {
	var ns int64
	rest, found := strings.CutPrefix(s, "urn:ngsi-ld:Instance:")
	if !found {
		return 0, time.Time{}, false
	}
	b, t, found := strings.Cut(rest, "-")
	var err1, err2 error
	block, err1 = strconv.ParseInt(b, 10, 64)
	ns, err2 = strconv.ParseInt(t, 10, 64)
	if !found || err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return block, time.Unix(0, ns).UTC(), true
}

// ReplaceInstance implements cityops.EntityService: with a nil
// replacement it deletes the instance.
func (d *DB) ReplaceInstance(ctx context.Context, tenant, id, attr, instanceID string, with cityops.Attr) error {
	blockID, at, ok := parseInstanceID(instanceID)
	if !ok {
		return cityops.Errorf(cityops.ENOTFOUND, "instance %q not found", instanceID)
	}
	if with != nil {
		if err := cityops.ValidateAttr(attr, with, 0); err != nil {
			return err
		}
	}
	return d.inTx(ctx, func(tx *Tx) error {
		row, err := loadEntity(ctx, tx, tenant, id, d.forUpdate("entities"))
		if err != nil {
			return err
		}
		// The roll-ups are recomputed from the blocks below: first every
		// sum in memory goes to the rows, and at the end the watermark
		// past the block written here.
		if err := tx.settleRollups(ctx); err != nil {
			return err
		}
		code, err := tx.db.attrCode(ctx, tx, tenant, row.e.Type, attr)
		if err != nil {
			return err
		}
		b, keep, err := tx.instanceBlock(ctx, pkAttr{row.pk, code}, blockID, at)
		if err != nil {
			return err
		}
		if b == nil {
			return cityops.Errorf(cityops.ENOTFOUND, "instance %q not found", instanceID)
		}
		dataset := b.dataset
		if b.logged {
			_, err = tx.removeLogRows(ctx, pkAttr{row.pk, code}, []logRef{{id: b.id, dataset: b.dataset, tMin: b.tMin.UnixNano(), tMax: b.tMax.UnixNano()}})
		} else {
			_, err = tx.ExecContext(ctx, `delete from entity_blocks where id = $1`, b.id)
		}
		if err != nil {
			return fmt.Errorf("instance: %w", err)
		}
		hours := map[time.Time]bool{truncUnix(at, blockSpan): true}
		if with != nil {
			in, err := newInstance(row.pk, code, with, at)
			if err != nil {
				return err
			}
			if _, has := with.ObservedAt(); !has {
				in.at = at // a replacement without observedAt keeps the time
			}
			keep = append(keep, in)
			hours[truncUnix(in.at, blockSpan)] = true
		}
		if err := tx.writeBlocks(ctx, keep); err != nil {
			return err
		}
		for h := range hours {
			if err := tx.recomputeRollups(ctx, seriesKey{row.pk, code, dataset}, h); err != nil {
				return err
			}
		}
		if with != nil && with.DatasetID() != dataset {
			if err := tx.recomputeRollups(ctx, seriesKey{row.pk, code, with.DatasetID()}, truncUnix(at, blockSpan)); err != nil {
				return err
			}
		}
		return tx.settleRollups(ctx)
	})
}

// instanceBlock finds the block that holds the instance at `at` named
// with block id: the series' first block in that hour, by id, from that
// id on, with an instance at that time (the named block, or the block
// that took it in: a compaction of the log, history_log.go, or a
// rewrite by ReplaceInstance). It returns the block and its other
// instances, or nil.
func (tx *Tx) instanceBlock(ctx context.Context, pa pkAttr, id int64, at time.Time) (*blockRow, []instance, error) {
	hour := truncUnix(at, blockSpan)
	var cands []blockRow
	rows, err := tx.QueryContext(ctx, `select id, dataset_id, t_min, t_max, data from entity_blocks
		where entity_pk = $1 and t_max >= $2 and t_max < $3 and attr = $4 and t_min <= $2 and id >= $5`,
		pa.pk, at, hour.Add(blockSpan), pa.attr, id)
	if err != nil {
		return nil, nil, fmt.Errorf("instance: %w", err)
	}
	for rows.Next() {
		var b blockRow
		if err := rows.Scan(&b.id, &b.dataset, &b.tMin, &b.tMax, &b.data); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("instance: %w", err)
		}
		cands = append(cands, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("instance: %w", err)
	}
	var refs []logRef
	for _, r := range tx.logRefs(pa) {
		if r.id >= id && r.tMin <= at.UnixNano() && r.tMax >= at.UnixNano() {
			refs = append(refs, r)
		}
	}
	logged, err := readLogRows(ctx, tx, refs)
	if err != nil {
		return nil, nil, err
	}
	cands = append(cands, logged...)
	sort.Slice(cands, func(i, j int) bool { return cands[i].id < cands[j].id })
	for i := range cands {
		b := &cands[i]
		// Decode the block and leave the instance out.
		var keep []instance
		found := false
		var derr error
		err := decodeBlock(b.data, func(in *decoded) bool {
			if !found && in.at.Equal(at) {
				found = true
				return true
			}
			a, err := in.attr(b.dataset)
			if err != nil {
				derr = err
				return false
			}
			i, err := newInstance(pa.pk, pa.attr, a, in.at)
			if err != nil {
				derr = err
				return false
			}
			i.at, i.dataset = in.at, b.dataset
			keep = append(keep, i)
			return true
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			return nil, nil, err
		}
		if found {
			return b, keep, nil
		}
	}
	return nil, nil, nil
}

// recomputeRollups sets a series' hour roll-up from its blocks, and
// moves its day roll-up by the hour's change (the minimum and maximum
// from the day's hours).
func (tx *Tx) recomputeRollups(ctx context.Context, s seriesKey, hour time.Time) error {
	var n, nnum int64
	var sum float64
	var lo, hi sql.NullFloat64
	if err := tx.QueryRowContext(ctx, `select coalesce(sum(n), 0), coalesce(sum(nnum), 0), coalesce(sum(vsum), 0), min(vmin), max(vmax)
		from entity_blocks where entity_pk = $1 and attr = $2 and dataset_id = $3 and t_max >= $4 and t_max < $5`,
		s.pk, s.attr, s.dataset, hour, hour.Add(blockSpan)).Scan(&n, &nnum, &sum, &lo, &hi); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	// And the series' blocks of that hour in the history log.
	var refs []logRef
	for _, r := range tx.logRefs(pkAttr{s.pk, s.attr}) {
		if r.dataset == s.dataset && r.tMax >= hour.UnixNano() && r.tMax < hour.Add(blockSpan).UnixNano() {
			refs = append(refs, r)
		}
	}
	logged, err := readLogRows(ctx, tx, refs)
	if err != nil {
		return err
	}
	for _, b := range logged {
		n, nnum, sum = n+b.n, nnum+b.nnum, sum+b.sum
		if b.lo.Valid && (!lo.Valid || b.lo.Float64 < lo.Float64) {
			lo = b.lo
		}
		if b.hi.Valid && (!hi.Valid || b.hi.Float64 > hi.Float64) {
			hi = b.hi
		}
	}
	var on, onnum int64
	var osum float64
	err = tx.QueryRowContext(ctx, `select n, nnum, vsum from entity_rollups where entity_pk = $1 and attr = $2 and dataset_id = $3
		and grain = 3600 and bucket = $4`, s.pk, s.attr, s.dataset, hour).Scan(&on, &onnum, &osum)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("roll-ups: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `delete from entity_rollups where entity_pk = $1 and attr = $2 and dataset_id = $3
		and grain = 3600 and bucket = $4`, s.pk, s.attr, s.dataset, hour); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `insert into entity_rollups (entity_pk, attr, dataset_id, grain, bucket, n, nnum, vsum, vmin, vmax)
			values ($1, $2, $3, 3600, $4, $5, $6, $7, $8, $9)`, s.pk, s.attr, s.dataset, hour, n, nnum, sum, lo, hi); err != nil {
			return fmt.Errorf("roll-ups: %w", err)
		}
	}
	day := truncUnix(hour, 24*time.Hour)
	var hmin, hmax sql.NullFloat64
	if err := tx.QueryRowContext(ctx, `select min(vmin), max(vmax) from entity_rollups where entity_pk = $1 and attr = $2 and dataset_id = $3
		and grain = 3600 and bucket >= $4 and bucket < $5`, s.pk, s.attr, s.dataset, day, day.Add(24*time.Hour)).Scan(&hmin, &hmax); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `update entity_rollups set n = n + $1, nnum = nnum + $2, vsum = vsum + $3, vmin = $4, vmax = $5
		where entity_pk = $6 and attr = $7 and dataset_id = $8 and grain = 86400 and bucket = $9`,
		n-on, nnum-onnum, sum-osum, hmin, hmax, s.pk, s.attr, s.dataset, day); err != nil {
		return fmt.Errorf("roll-ups: %w", err)
	}
	if n-on > 0 {
		// The day had no roll-up yet (a new series on that day).
		if _, err := tx.ExecContext(ctx, `insert into entity_rollups (entity_pk, attr, dataset_id, grain, bucket, n, nnum, vsum, vmin, vmax)
			values ($1, $2, $3, 86400, $4, $5, $6, $7, $8, $9) on conflict (entity_pk, attr, grain, bucket, dataset_id) do nothing`,
			s.pk, s.attr, s.dataset, day, n, nnum, sum, lo, hi); err != nil {
			return fmt.Errorf("roll-ups: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, `delete from entity_rollups where entity_pk = $1 and attr = $2 and dataset_id = $3 and grain = 86400
		and bucket = $4 and n <= 0`, s.pk, s.attr, s.dataset, day)
	return err
}
