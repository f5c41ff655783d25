package storage

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// TestCheckpointer checks that committed writes reach the database file
// without any connection checkpointing on its own, and that the log stays
// bounded while readers keep reading.
func TestCheckpointer(t *testing.T) {
	// Restored after the database (and its checkpointer) is closed:
	// cleanups run last in, first out.
	old := walRestartFrames
	walRestartFrames = 200
	t.Cleanup(func() { walRestartFrames = old })
	ctx := context.Background()
	d := openSQLite(t)
	size := func(path string) int64 {
		st, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	// Readers all along, as the dashboard's are.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			d.db.QueryRowContext(ctx, `select count(*) from entities`).Scan(&n)
		}
	}()
	before := size(d.Path)
	write := func(b int) {
		var batch []*cityops.Entity
		for i := range 100 {
			batch = append(batch, &cityops.Entity{ID: fmt.Sprintf("urn:x:e%03d", i), Type: "https://example.org/T", Attrs: map[string][]cityops.Attr{
				"https://example.org/v": {{"type": "Property", "value": float64(b*100 + i), "observedAt": time.Unix(int64(b*100+i), 0).UTC().Format(time.RFC3339)}}}})
		}
		if errs, err := d.UpsertEntities(ctx, "", batch, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
	}
	for b := range 60 {
		write(b)
	}
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for size(d.Path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after the writes: nothing checkpointed", size(d.Path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A reader that keeps an old snapshot keeps the log from starting
	// again on its own; past walRestartFrames the checkpointer waits for
	// it to finish, and the next transaction starts the log again.
	rd, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rd.QueryRowContext(ctx, `select count(*) from entities`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for b := range 20 {
		write(100 + b)
	}
	// The checkpointer waits restartWait for the reader, then tries
	// again on the next commit.
	go func() {
		time.Sleep(restartWait / 2)
		rd.Rollback()
	}()
	if err := d.checkpoints.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	write(200)
	var busy, frames, done int
	if err := d.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	if frames >= walRestartFrames {
		t.Errorf("the log holds %d frames after one more transaction; it did not start again", frames)
	}
}

// TestWriterConnRenewed checks that writes go on when database/sql has
// closed the writer's connection.
func TestWriterConnRenewed(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	e := &cityops.Entity{ID: "urn:x:1", Type: "https://example.org/T", Attrs: map[string][]cityops.Attr{}}
	if err := d.CreateEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	d.wconn.Close()
	e.ID = "urn:x:2"
	if err := d.CreateEntity(ctx, e); err != nil {
		t.Fatalf("a write after the writer's connection closed: %v", err)
	}
	if err := d.Logout(ctx, "no such token"); err != nil {
		t.Fatalf("a single statement after the connection closed again: %v", err)
	}
	d.wconn.Close()
	if err := d.Logout(ctx, "no such token"); err != nil {
		t.Fatalf("a single statement after the writer's connection closed: %v", err)
	}
}
