package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/mqtt"
	"github.com/cityops/cityops/storage"
)

// env is what both measured runs share: the database with its devices,
// and how to reach the broker.
type env struct {
	db         *storage.DB
	dir        string // temporary directory: SQLite, media
	cleanup    []func()
	key        string // the run's service key, the topics' first level
	entities   []string
	external   string // external broker URL, or empty for the embedded one
	user, pass string // the embedded broker's credentials
	queue      int
	batch      int
	writers    int
	subs       int // ingest connections to an external broker
	batchWait  time.Duration
	dbText     string
	brokerText string
	following  atomic.Pointer[sampler] // of the run that stores, for the listener
}

// quiet is the log of the ingestion and the broker: errors only, so that
// a run's output stays readable; the counters say the rest.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// setup makes the database and registers the devices. The env it returns
// (also with an error) must be closed.
func setup(ctx context.Context, o options, progress func(string, ...any)) (*env, error) {
	e := &env{key: "load" + auth.NewToken(4), external: o.broker, queue: o.queue, batch: o.batch, batchWait: o.batchWait, writers: o.writers, subs: o.subscribers}
	e.key = strings.Map(func(r rune) rune { // a topic level and a device key: letters and digits only
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return 'x'
	}, e.key)
	if e.queue == 0 {
		e.queue = mqtt.DefaultQueueSize
	}
	if e.batch == 0 {
		e.batch = mqtt.DefaultBatchSize
	}
	if e.batchWait == 0 {
		e.batchWait = mqtt.DefaultBatchWait
	}
	dir, err := os.MkdirTemp("", "cityops-mqttload-")
	if err != nil {
		return nil, err
	}
	e.dir = dir
	e.cleanup = append(e.cleanup, func() {
		if o.keep {
			progress("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	dsn := ""
	if o.dsn == "" {
		e.dbText = "SQLite in a fresh data directory " + dir
	} else {
		schema := fmt.Sprintf("mqttload_%d", time.Now().UnixNano())
		if dsn, err = pgSchema(ctx, o.dsn, schema, o.keep, e, progress); err != nil {
			return e, err
		}
		e.dbText = fmt.Sprintf("PostgreSQL %s, schema %s of this run", loadtool.RedactDSN(o.dsn), schema)
	}
	db, err := storage.Open(ctx, dsn, dir)
	if err != nil {
		return e, err
	}
	db.Log = quiet
	e.db = db
	db.OnEntityChange(func(changes []cityops.EntityChange) {
		if s := e.following.Load(); s != nil {
			s.committed(changes)
		}
	})
	e.cleanup = append(e.cleanup, func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		return e, err
	}
	if err := db.DeferRollups(ctx); err != nil {
		return e, err
	}
	if e.writers == 0 {
		e.writers = 1
		if db.Dialect() == storage.Postgres {
			e.writers = 4
		}
	}
	if e.external != "" {
		e.brokerText = fmt.Sprintf("external %s, subscription /%s/+/attrs on %d connection(s)", loadtool.RedactDSN(e.external), e.key, e.subs)
	} else {
		e.user, e.pass = "load", auth.NewToken(16)
		e.brokerText = "embedded (mochi-mqtt, as serve -mqtt-listen), 127.0.0.1:0, password sign-in"
	}

	progress("registering %d devices", o.devices)
	sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
	t0 := time.Now()
	for i := range o.devices {
		dev := &cityops.Device{ID: deviceID(i), Key: e.key, EntityID: fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:load-%05d", i),
			EntityType: "AirQualityObserved",
			Attrs:      []cityops.DeviceAttr{{ObjectID: "p", Name: "pm25", UnitCode: "GQ"}, {ObjectID: "n", Name: "no2", UnitCode: "GQ"}}}
		if err := db.CreateDevice(sys, dev); err != nil {
			return e, fmt.Errorf("register device %d: %w", i, err)
		}
		e.entities = append(e.entities, dev.EntityID)
	}
	progress("registered %d devices in %.1fs", o.devices, time.Since(t0).Seconds())
	return e, nil
}

func deviceID(i int) string { return fmt.Sprintf("d%05d", i) }

// pgSchema makes a schema for the run and returns a DSN that uses it; the
// schema is dropped at close unless kept.
func pgSchema(ctx context.Context, base, schema string, keep bool, e *env, progress func(string, ...any)) (string, error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	if _, err := admin.ExecContext(ctx, `create schema `+schema); err != nil {
		admin.Close()
		return "", fmt.Errorf("create schema: %w", err)
	}
	e.cleanup = append(e.cleanup, func() {
		defer admin.Close()
		if keep {
			progress("kept schema %s", schema)
			return
		}
		if _, err := admin.Exec(`drop schema ` + schema + ` cascade`); err != nil {
			progress("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, nil
}

// close undoes setup, the last step first.
func (e *env) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// ingest starts an ingest writing to svc and, for the embedded broker, a
// broker feeding it; it returns the URL publishers connect to and a
// function that stops both, broker first.
func (e *env) ingest(ctx context.Context, svc cityops.DeviceService) (*mqtt.Ingest, string, func(), error) {
	in := &mqtt.Ingest{Devices: svc, Log: quiet, QueueSize: e.queue, BatchSize: e.batch, BatchWait: e.batchWait, Writers: e.writers}
	if e.external != "" {
		in.Broker, in.ClientID, in.Topic, in.Connections = e.external, "cityops-mqttload-"+e.key, "/"+e.key+"/+/attrs", e.subs
	}
	if err := in.Start(ctx); err != nil {
		return nil, "", nil, err
	}
	if e.external != "" {
		time.Sleep(300 * time.Millisecond) // the subscription settles
		return in, e.external, in.Stop, nil
	}
	b := &mqtt.Broker{Addr: "127.0.0.1:0", Users: []mqtt.User{{Name: e.user, Password: e.pass, Keys: []string{e.key}}}, Ingest: in, Log: quiet}
	if err := b.Open(); err != nil {
		in.Stop()
		return nil, "", nil, err
	}
	return in, "tcp://" + b.Address(), func() { b.Close(); in.Stop() }, nil
}

// discard is the baseline's device service: it takes every measurement
// and stores nothing, telling seen about each.
type discard struct{ seen func(cityops.Measurement) }

func (d *discard) MeasureBatch(_ context.Context, list []cityops.Measurement) ([]error, error) {
	for _, m := range list {
		d.seen(m)
	}
	return make([]error, len(list)), nil
}

func (d *discard) CreateDevice(context.Context, *cityops.Device) error { return nil }

func (d *discard) FindDevices(context.Context) ([]*cityops.Device, error) { return nil, nil }

func (d *discard) DeleteDevice(context.Context, string, string) error { return nil }

func (d *discard) Measure(context.Context, string, string, map[string]any, time.Time) error {
	return nil
}

func (d *discard) MarkSilentDevices(context.Context, time.Duration) (int, error) { return 0, nil }
