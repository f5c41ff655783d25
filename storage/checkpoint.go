package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// SQLite's WAL is copied back into the database file by checkpoints. By
// default the writer that commits past a size does it, inside its commit:
// under steady ingestion that was a copy of tens of megabytes and two
// fsyncs on the one goroutine that writes, every second or so. Here the
// connections never checkpoint on their own (wal_autocheckpoint(0) in the
// DSN) and a goroutine does, on a reading connection, beside the writer:
// a PASSIVE checkpoint copies what no reader still needs without taking
// the write lock, so the writer goes on appending meanwhile. If readers
// keep the log from being reused and it passes walRestartFrames, a
// RESTART checkpoint waits for them, so the file stays bounded; it holds
// off writers while it waits, so it waits at most restartWait and tries
// again later.

// checkpointDelay is how long after a commit the checkpointer runs.
const checkpointDelay = 250 * time.Millisecond

// walRestartFrames is the log size (in pages of 4 KiB) past which the
// checkpointer makes the log start again; tests lower it.
var walRestartFrames = 65536

// restartWait is the checkpointer connection's busy timeout.
const restartWait = 200 * time.Millisecond

type checkpointer struct {
	db        *DB
	mu        sync.Mutex // one checkpoint at a time, on conn
	conn      *sql.Conn  // its own, with a short busy timeout
	kick      chan struct{}
	stop      chan struct{}
	once      sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newCheckpointer(d *DB) *checkpointer {
	return &checkpointer{db: d, kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

// committed tells the checkpointer that a write transaction committed.
func (c *checkpointer) committed() {
	c.once.Do(func() {
		c.wg.Add(1)
		go c.run()
	})
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer c.wg.Done()
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		select {
		case <-time.After(checkpointDelay):
		case <-c.stop:
			return
		}
		if err := c.checkpoint(context.Background()); err != nil {
			c.db.Log.Warn("wal checkpoint", "err", err)
		}
	}
}

func (c *checkpointer) shutdown() {
	c.closeOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		// Back in the pool it waits as long as the others.
		c.conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA busy_timeout = %d`, writerWait.Milliseconds()))
		c.conn.Close()
		c.conn = nil
	}
}

// checkpoint copies the WAL into the database file as far as readers
// allow, and makes the log start again when it has grown too long.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := c.db.db.Conn(ctx)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, restartWait.Milliseconds())); err != nil {
			conn.Close()
			return err
		}
		c.conn = conn
	}
	var busy, frames, done int
	if err := c.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		return err
	}
	if frames < walRestartFrames {
		return nil
	}
	// Busy (a reader still on an old snapshot after restartWait) is no
	// error: the next run tries again.
	return c.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &done)
}
