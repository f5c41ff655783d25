package storage

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// intake commits reports in groups. Each report waits for the commit of
// the transaction that holds it, so an answered report is durable; but
// reports that arrive together share one transaction and one fsync, which
// is what lets one SQLite file take thousands of reports a second. A
// report that fails rolls back to its own savepoint and does not disturb
// the others in its group.
type intake struct {
	db    *DB
	batch int // largest group
	reqs  chan *intakeReq
	stop  chan struct{}
	once  sync.Once
	close sync.Once
	wg    sync.WaitGroup
}

// maxBatch bounds a group: long enough to amortise the commit, short
// enough that the first report in it does not wait long.
const maxBatch = 64

type intakeReq struct {
	ctx   context.Context
	in    *cityops.ReportInput
	area  *cityops.Area
	token string
	done  chan intakeRes
}

type intakeRes struct {
	r     *cityops.Report
	token string
	err   error
}

func newIntake(d *DB) *intake {
	q := &intake{db: d, reqs: make(chan *intakeReq, 4*maxBatch), stop: make(chan struct{}), batch: maxBatch}
	if d.dialect == Postgres {
		// PostgreSQL's cost is round trips, not fsyncs: small groups spread
		// over parallel committers keep its latency low.
		q.batch = 4
	}
	return q
}

// submit hands a report to the committer and waits for its result.
func (q *intake) submit(ctx context.Context, req *intakeReq) intakeRes {
	q.once.Do(func() {
		// SQLite has one writer, so one committer; PostgreSQL commits
		// transactions in parallel, so several committers keep it busy.
		n := 1
		if q.db.dialect == Postgres {
			n = 8
		}
		for range n {
			q.wg.Add(1)
			go q.run()
		}
	})
	req.ctx, req.done = ctx, make(chan intakeRes, 1)
	select {
	case q.reqs <- req:
	case <-q.stop:
		return intakeRes{err: cityops.Errorf(cityops.EUNAVAILABLE, "shutting down")}
	case <-ctx.Done():
		return intakeRes{err: ctx.Err()}
	}
	// Once queued, the report is committed or refused whatever the caller
	// does, so the answer is always waited for.
	return <-req.done
}

func (q *intake) run() {
	defer q.wg.Done()
	for {
		var first *intakeReq
		select {
		case first = <-q.reqs:
		case <-q.stop:
			// Finish what was queued before stopping.
			for {
				select {
				case r := <-q.reqs:
					q.commit([]*intakeReq{r})
				default:
					return
				}
			}
		}
		batch := []*intakeReq{first}
	fill:
		for len(batch) < q.batch {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.commit(batch)
	}
}

// commit stores a group in one transaction and answers each report.
func (q *intake) commit(batch []*intakeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Reports with idempotency keys go in key order, so that two
	// committers racing on the same keys lock them in the same order.
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].in.IdempotencyKey < batch[j].in.IdempotencyKey })
	res := make([]intakeRes, len(batch))
	err := q.db.inTx(ctx, func(tx *Tx) error {
		for i, req := range batch {
			if err := req.ctx.Err(); err != nil {
				res[i].err = err
				continue
			}
			if _, err := tx.ExecContext(ctx, `savepoint report`); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			r, token, err := q.db.createReport(ctx, tx, req.in, req.area, req.token)
			for try := 0; err != nil && isRetryable(err) && try < 5; try++ {
				// PostgreSQL chose this report's statement as a deadlock
				// victim against another committer: undo it and go again.
				if _, err := tx.ExecContext(ctx, `rollback to savepoint report`); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
				time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
				r, token, err = q.db.createReport(ctx, tx, req.in, req.area, req.token)
			}
			if err != nil && isUniqueOn(err, "idempotency") {
				// The same key is being committed by another committer:
				// once it is, this request returns that report.
				if _, err := tx.ExecContext(ctx, `rollback to savepoint report`); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
				r, token, err = q.db.createReport(ctx, tx, req.in, req.area, req.token)
			}
			if err != nil {
				res[i].err = err
				if _, err := tx.ExecContext(ctx, `rollback to savepoint report`); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `release savepoint report`); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
			res[i] = intakeRes{r: r, token: token}
		}
		return nil
	})
	for i, req := range batch {
		if err != nil && res[i].err == nil {
			res[i] = intakeRes{err: err}
		}
		req.done <- res[i]
	}
}

// shutdown stops the committer after the queued reports.
func (q *intake) shutdown() {
	q.close.Do(func() { close(q.stop) })
	q.wg.Wait()
}
