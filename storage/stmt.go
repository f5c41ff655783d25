package storage

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"
	"sync"
)

// Prepared statements of the entity write path. SQLite parses a
// statement every time it is run unless it is prepared, and the
// multi-row statements of a batch take about as long to parse as to run.
// The DB keeps them prepared by text: database/sql prepares each once
// per connection (on SQLite, the writer's, DB.wconn) and Tx.StmtContext
// reuses it in every transaction.
// PostgreSQL's driver (pgx) keeps its own prepared statement per text
// and connection, so there the statements run as they are.
//
// A statement not yet kept runs unprepared and is prepared after the
// commit: preparing it on the pool inside the transaction could wait for
// a connection held by another writer that waits for this one.

// maxStmtParams bounds the parameters of the statements kept, and so
// their memory: a prepared statement takes about 130 bytes a parameter
// on each connection it runs on (a 256-row insert of 11 columns, 370
// KiB). The power-of-two row counts of stmtRows leave a few dozen texts
// with some 30,000 parameters in all.
const maxStmtParams = 1 << 16

// sqliteStmtRows is the most rows of one statement on SQLite.
const sqliteStmtRows = 256

type preparedStmts struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	params int // of the statements in m
	closed bool
}

func (c *preparedStmts) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepare keeps the statements qs prepared, as long as there is room.
// They are prepared on the pool, not on the writer's connection:
// database/sql re-prepares a statement of a sql.Conn in every
// transaction, but keeps a pool statement prepared on each connection
// that runs it.
func (c *preparedStmts) prepare(ctx context.Context, d *DB, qs []string) {
	for _, q := range qs {
		params := max(1, strings.Count(q, "?")+strings.Count(q, "$"))
		c.mu.Lock()
		_, have := c.m[q]
		full := c.closed || c.params+params > maxStmtParams
		c.mu.Unlock()
		if have || full {
			continue
		}
		s, err := d.db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, as before
		}
		c.mu.Lock()
		if _, have := c.m[q]; have || c.closed || c.params+params > maxStmtParams {
			s.Close()
		} else {
			if c.m == nil {
				c.m = map[string]*sql.Stmt{}
			}
			c.m[q] = s
			c.params += params
		}
		c.mu.Unlock()
	}
}

// close closes the statements kept; none are kept after it.
func (c *preparedStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, s := range c.m {
		s.Close()
	}
	c.m, c.params = nil, 0
}

// stmt returns q prepared for tx, or nil to run it as it is.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if tx.db.dialect != SQLite {
		return nil
	}
	s := tx.db.stmts.get(q)
	if s == nil {
		tx.unprepared = append(tx.unprepared, q)
		return nil
	}
	return tx.StmtContext(ctx, s)
}

// exec is ExecContext with the statement kept prepared.
func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := tx.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// query is QueryContext with the statement kept prepared.
func (tx *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := tx.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

// stmtRows returns how many of n rows the next multi-row statement
// takes. On SQLite it is a power of two up to sqliteStmtRows, so that a
// handful of statement texts serve batches of every size and stay
// prepared; on PostgreSQL it is up to chunkRows.
func (d *DB) stmtRows(n int) int {
	if d.dialect != SQLite {
		return min(n, chunkRows)
	}
	if n >= sqliteStmtRows {
		return sqliteStmtRows
	}
	return 1 << (bits.Len(uint(n)) - 1)
}
