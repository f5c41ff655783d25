package mqtt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestIngestQueueFull stalls the database with a transaction that holds
// SQLite's write lock: deliveries wait for room in the queue up to
// MaxWait, and what still finds none is dropped and counted, never lost
// silently. Once the database moves again, what was queued is written.
func TestIngestQueueFull(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ctx := context.Background()
	sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
	if err := db.CreateDevice(sys, &cityops.Device{ID: "d", Key: "k", EntityID: "urn:ngsi-ld:Thing:d", EntityType: "Thing",
		Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}); err != nil {
		t.Fatal(err)
	}
	in := &Ingest{Devices: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		QueueSize: 2, BatchSize: 1, BatchWait: time.Millisecond, MaxWait: 100 * time.Millisecond}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lock, err := db.SQL().BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()

	in.receive("/k/d/attrs", []byte(`{"v": 0}`))
	deadline := time.Now().Add(5 * time.Second)
	for in.QueueDepth() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the writer is waiting for the lock
	// One message is with the writer; two fit in the queue; seven wait
	// 100 ms each, in parallel, and are dropped.
	var wg sync.WaitGroup
	for range 9 {
		wg.Go(func() { in.receive("/k/d/attrs", []byte(`{"v": 1}`)) })
	}
	wg.Wait()
	if d, q := in.Dropped.Load(), in.QueueDepth(); d != 7 || q != 2 {
		t.Fatalf("dropped %d with %d queued; want 7 and 2", d, q)
	}
	lock.Rollback()
	for in.Accepted.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a := in.Accepted.Load(); a != 3 {
		t.Fatalf("accepted %d after the database moved again; want 3", a)
	}
	in.Stop()
	in.receive("/k/d/attrs", []byte(`{"v": 2}`))
	if d := in.Dropped.Load(); d != 8 {
		t.Errorf("dropped %d after a delivery past Stop; want 8", d)
	}
}

// TestIngestStopWrites checks that Stop writes what is queued, with one
// writer and with several.
func TestIngestStopWrites(t *testing.T) {
	for _, writers := range []int{1, 3} {
		t.Run(fmt.Sprint(writers), func(t *testing.T) {
			db := storagetest.Open(t, storage.SQLite)
			ctx := context.Background()
			sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
			for i := range 5 {
				id := fmt.Sprint("d", i)
				if err := db.CreateDevice(sys, &cityops.Device{ID: id, Key: "k", EntityID: "urn:ngsi-ld:Thing:" + id, EntityType: "Thing",
					Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}); err != nil {
					t.Fatal(err)
				}
			}
			in := &Ingest{Devices: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), BatchSize: 7, BatchWait: time.Hour, Writers: writers}
			if err := in.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
			for i := range 100 {
				in.receive(fmt.Sprintf("/k/d%d/attrs", i%5), fmt.Appendf(nil, `{"v": %d, "TimeInstant": %q}`, i, t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
			}
			in.Stop()
			if a, d := in.Accepted.Load(), in.Dropped.Load(); a != 100 || d != 0 {
				t.Errorf("accepted %d, dropped %d after Stop; want 100 and 0", a, d)
			}
			// A device's messages are written in the order received.
			for i := range 5 {
				e, err := db.FindEntity(ctx, "", fmt.Sprint("urn:ngsi-ld:Thing:d", i))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := e.Attrs["value"][0]["value"], float64(95+i); got != want {
					t.Errorf("d%d: value %v, want the last sent, %v", i, got, want)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		topic, payload string
		ok             bool
		at             time.Time
	}{
		{"/k/d/attrs", `{"v": 1}`, true, now},
		{"/k/d/attrs", `{"v": 1, "TimeInstant": "2026-11-28T01:00:00.5+07:00"}`, true, time.Date(2026, 11, 27, 18, 0, 0, 5e8, time.UTC)},
		{"/k/d/attrs", `{"v": 1, "TimeInstant": "yesterday"}`, false, now},
		{"/k/d/attrs", `null`, false, now},
		{"/k/d/attrs", `[1]`, false, now},
		{"k/d/attrs", `{"v": 1}`, false, now},
		{"/k//attrs", `{"v": 1}`, false, now},
		{"/k/d/cmd", `{"v": 1}`, false, now},
		{"/k/d/attrs/x", `{"v": 1}`, false, now},
	} {
		m, err := parse(tt.topic, []byte(tt.payload), now)
		if (err == nil) != tt.ok {
			t.Errorf("parse(%q, %s): %v, want ok %v", tt.topic, tt.payload, err, tt.ok)
			continue
		}
		if tt.ok && (!m.At.Equal(tt.at) || m.Key != "k" || m.DeviceID != "d" || m.Payload["TimeInstant"] != nil) {
			t.Errorf("parse(%q, %s) = %+v", tt.topic, tt.payload, m)
		}
	}
}

func TestLimiter(t *testing.T) {
	var l limiter
	t0 := time.Now()
	if ok, held := l.allow(t0); !ok || held != 0 {
		t.Fatalf("first: %v %d", ok, held)
	}
	for i := range 5 {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatalf("line %d within %s let through", i, logEvery)
		}
	}
	if ok, held := l.allow(t0.Add(logEvery)); !ok || held != 5 {
		t.Fatalf("after %s: %v, held %d; want true, 5", logEvery, ok, held)
	}
}

// TestIngestPreview: with Preview set to the database's, a message of a
// device already written reaches the preview listeners before it is
// written, and its write is then marked previewed for the listeners of
// committed changes.
func TestIngestPreview(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ctx := context.Background()
	sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
	if err := db.CreateDevice(sys, &cityops.Device{ID: "d", Key: "k", EntityID: "urn:ngsi-ld:Thing:d", EntityType: "Thing",
		Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var previewed []float64
	var committed []bool
	db.OnMeasurePreview(func(cs []cityops.EntityChange) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			v, _ := c.Entity.Attrs["value"][0].Number()
			previewed = append(previewed, v)
		}
	})
	db.OnEntityChange(func(cs []cityops.EntityChange) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			committed = append(committed, c.Previewed)
		}
	})
	in := &Ingest{Devices: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Preview: db.PreviewMeasurement, BatchSize: 1, BatchWait: time.Millisecond}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in.receive("/k/d/attrs", []byte(`{"v": 1}`)) // device and entity not yet in memory
	deadline := time.Now().Add(5 * time.Second)
	for in.Accepted.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	in.receive("/k/d/attrs", []byte(`{"v": 2}`))
	in.Stop()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(previewed) != "[2]" || fmt.Sprint(committed) != "[false true]" {
		t.Errorf("previewed %v, committed changes previewed %v; want [2] and [false true]", previewed, committed)
	}
}
