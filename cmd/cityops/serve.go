package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/alarm"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/demo"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/media"
	"github.com/cityops/cityops/mqtt"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/simulate"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/workhours"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func runServe(ctx context.Context, args []string, env *Env) int {
	fs, dbf := flagSet("serve", "[flags]", env)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (host:port; port 0 picks a free one)")
	loadDemo := fs.Bool("demo", false, "load the Huế demo data into an empty database and print the URL and demo logins")
	simulateData := fs.Bool("simulate", true, "with -demo: keep the demo alive with simulated sensor data for Huế, one update a minute")
	locales := fs.String("locales", "", "`directory` of extra or replacement message catalogues (fr.json, …)")
	templates := fs.String("templates", "", "read page templates from this `directory` on every request (development)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure (when users reach cityops over HTTPS)")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body in `bytes`")
	idle := fs.Duration("session-idle", 30*time.Minute, "end staff sessions idle for this long")
	lifetime := fs.Duration("session-lifetime", 12*time.Hour, "end staff sessions this long after sign-in")
	shutdown := fs.Duration("shutdown-timeout", 20*time.Second, "how long in-flight requests may take to finish at shutdown")
	night := fs.String("night", "00:00-07:30", "`hours` when only urgent reports are handled; non-urgent ones wait for the end (\"off\" for none)")
	confirmDays := fs.Int("confirm-days", 7, "`days` a resolved report waits for the citizen before it closes by itself")
	reopenDays := fs.Int("reopen-days", 14, "`days` after resolution a citizen may reopen a report")
	warnBefore := fs.Duration("warn-before", 4*time.Hour, "warn the handling agency this long before a deadline")
	escalateAfter := fs.Duration("escalate-after", 24*time.Hour, "tell the centre when a report is still overdue this long after its deadline")
	dupRadius := fs.Float64("duplicate-radius", 50, "`metres` within which open reports of the same category are offered as duplicates")
	tiles := fs.String("tiles", "", "map tile `URL` template for the operations centre's map when it is online (https://…/{z}/{x}/{y}.png); empty draws it offline from the area boundaries")
	figureCache := fs.Duration("figure-cache", 2*time.Second, "how long the operations centre's figures serve other screens before they are computed again (0: every request)")
	population := fs.Int("population", 0, "the city's `population`, for indicators per 100,000 inhabitants (0: those indicators are left out)")
	dupDays := fs.Int("duplicate-days", 30, "`days` back that open reports are offered as duplicates")
	calendar := fs.String("calendar", "", "working-hours calendar `file` (JSON: zone, week, holidays, work_days); default: Vietnam's week and public holidays")
	contextDir := fs.String("contexts", "", "JSON-LD contexts NGSI-LD clients may name, as `BASE-URL=DIRECTORY[,…]`: DIRECTORY/x.jsonld is served for BASE-URL/x.jsonld (the server fetches none)")
	silence := fs.Duration("device-silence", 15*time.Minute, "raise \"not observed\" on a device silent this long")
	mqttURL := fs.String("mqtt", "", "MQTT `broker` to take device measurements from, e.g. tcp://127.0.0.1:1883 (topics /{key}/{deviceId}/attrs; tcp://USER:PASSWORD@HOST:PORT to sign in, best given in CITYOPS_MQTT_FILE)")
	mqttConns := fs.Int("mqtt-connections", 1, "`connections` to the -mqtt broker sharing the subscription ($share/cityops/…; Mosquitto 2, EMQX, MQTT 5 brokers): more keep up with more messages a second")
	mqttListen := fs.String("mqtt-listen", "", "run cityops's own MQTT broker on this `address` (such as "+mqtt.DefaultListen+") for devices to publish measurements to; off when empty; needs -mqtt-users; may be used with -mqtt")
	mqttUsers := fs.String("mqtt-users", "", "`file` of the users of the -mqtt-listen broker, one a line: USERNAME PASSWORD [KEY,KEY…] (KEYs limit the topics /KEY/{deviceId}/attrs the user may publish to); keep it readable by cityops only")
	smtpAddr := fs.String("smtp", "", "mail server `host:port` for e-mails to reporters; empty sends none")
	smtpFrom := fs.String("smtp-from", "cityops@localhost", "sender `address` of e-mails")
	auditKey := auditKeyFlag(fs)
	publicURL := fs.String("public-url", "", "the `URL` citizens reach cityops at, for links in e-mails (default: the listen address)")
	if st, err := parse(fs, args); st >= 0 {
		if st == exitOK {
			return st
		}
		return fail(env.Stderr, st, err)
	}

	// Check everything that can be checked before touching anything, and
	// report all problems at once.
	var problems []string
	if _, port, err := net.SplitHostPort(*addr); err != nil || port == "" {
		problems = append(problems, fmt.Sprintf("-addr %q: want host:port such as 127.0.0.1:8080", *addr))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("-log-level %q: want debug, info, warn or error", *logLevel))
	}
	if *maxBody < 1024 {
		problems = append(problems, "-max-body: must be at least 1024 bytes")
	}
	if *idle <= 0 || *lifetime <= 0 || *idle > *lifetime {
		problems = append(problems, "-session-idle and -session-lifetime: must be positive, idle no longer than lifetime")
	}
	cat, err := i18n.Load(*locales)
	if err != nil {
		problems = append(problems, err.Error())
	}
	nightFrom, nightTo, err := parseNight(*night)
	if err != nil {
		problems = append(problems, err.Error())
	}
	cal := workhours.Default()
	if *calendar != "" {
		if cal, err = loadCalendar(*calendar); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if *silence < time.Minute {
		problems = append(problems, "-device-silence: at least 1m")
	}
	if os.Getenv("GOGC") == "" {
		// The write paths allocate about a kilobyte per reading and keep
		// little of it: collecting at 4× the live heap instead of 2× costs
		// some memory and saves a fifth of the CPU under bulk ingestion
		// (docs/benchmarks.md). GOGC in the environment overrides it.
		debug.SetGCPercent(400)
	}
	if *confirmDays < 1 || *reopenDays < 1 || *dupDays < 1 || *dupRadius <= 0 || *dupRadius > 5000 || *warnBefore < 0 || *escalateAfter < 0 || *population < 0 || *figureCache < 0 {
		problems = append(problems, "-confirm-days, -reopen-days, -duplicate-days: at least 1; -duplicate-radius: 1 to 5000 metres; durations and -population not negative")
	}
	if *mqttConns < 1 || *mqttConns > 64 {
		problems = append(problems, "-mqtt-connections: 1 to 64")
	}
	var brokerUsers []mqtt.User
	switch {
	case *mqttListen != "":
		if _, port, err := net.SplitHostPort(*mqttListen); err != nil || port == "" {
			problems = append(problems, fmt.Sprintf("-mqtt-listen %q: want host:port such as %s", *mqttListen, mqtt.DefaultListen))
		}
		if *mqttUsers == "" {
			problems = append(problems, "-mqtt-listen: give -mqtt-users FILE; devices must sign in")
		} else if brokerUsers, err = mqtt.ReadUsers(*mqttUsers); err != nil {
			problems = append(problems, "-mqtt-users: "+err.Error())
		}
	case *mqttUsers != "":
		problems = append(problems, "-mqtt-users: only with -mqtt-listen")
	}
	sealKey, err := auditKey()
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fail(env.Stderr, exitUsage, errors.New(strings.Join(problems, "\n")))
	}

	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	db, err := dbf.open(ctx, log)
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()
	db.Sessions = cityops.SessionConfig{Idle: *idle, Lifetime: *lifetime}
	db.Reports.NightFrom, db.Reports.NightTo = nightFrom, nightTo
	db.Reports.ConfirmDays, db.Reports.ReopenDays = *confirmDays, *reopenDays
	db.Reports.WarnBefore, db.Reports.EscalateAfter = *warnBefore, *escalateAfter
	db.Reports.DuplicateRadius, db.Reports.DuplicateWindow = *dupRadius, time.Duration(*dupDays)*24*time.Hour
	db.Reports.Calendar = cal
	db.AuditKey = sealKey

	var logins []demo.Login
	loginsFile := filepath.Join(dbf.data, "demo-logins.txt")
	if *loadDemo {
		sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
		svc := demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db, Alarms: db}
		empty, err := demo.Empty(sys, svc)
		if err != nil {
			return fail(env.Stderr, exitError, err)
		}
		if empty {
			log.Info("loading the Huế demo data")
			if logins, err = demo.Load(sys, svc); err != nil {
				return fail(env.Stderr, exitError, fmt.Errorf("demo data: %w (start again with an empty database)", err))
			}
			if err := writeLogins(loginsFile, logins); err != nil {
				return fail(env.Stderr, exitError, err)
			}
		}
	}

	hub := &notify.Hub{Outbox: db, Interval: 250 * time.Millisecond, Log: log}
	// JSON-LD contexts clients may name, served from local files: the
	// server fetches nothing from the network.
	contexts := jsonld.NewCache()
	for _, pair := range strings.Split(*contextDir, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		base, dir, ok := strings.Cut(pair, "=")
		if !ok {
			return fail(env.Stderr, exitUsage, fmt.Errorf("-contexts %q: want BASE-URL=DIRECTORY", pair))
		}
		if _, err := contexts.AddDir(base, dir); err != nil {
			return fail(env.Stderr, exitUsage, fmt.Errorf("-contexts: %w", err))
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db.SQL(), db.Dialect()))
	// NGSI-LD subscriptions: the notifier hears every committed entity
	// write and serves the subscriptions API, so that changes apply at once.
	subs := &notify.Notifier{Store: db, Entities: db, Contexts: contexts, Log: log}
	db.OnEntityChange(subs.EntityChanged)
	reg.MustRegister(subs.Collectors()...)
	// The operations centre: its screens' live stream, and alarms and
	// warnings published as NGSI-LD Alert entities.
	live := notify.NewLiveHub(500 * time.Millisecond)
	db.OnEntityChange(live.EntityChanged)
	db.OnAlarmChange(live.AlarmChanged)
	db.OnWarning(live.WarningChanged)
	alerts := notify.NewAlertPublisher(db, log)
	db.OnAlarmChange(alerts.AlarmChanged)
	db.OnWarning(alerts.WarningChanged)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cityops_alerts_dropped_total",
		Help: "Alarm and warning changes not published as NGSI-LD Alerts because the queue was full."},
		func() float64 { return float64(alerts.Dropped()) }))
	// Alarm rules watch every committed entity write.
	engine := alarm.New(db, alarm.Options{Logger: log, InArea: func(lat, lon float64, area string) bool {
		ok, err := db.InArea(ctx, lat, lon, area)
		return err == nil && ok
	}})
	db.OnEntityChange(engine.Listen)
	registerAlarmMetrics(reg, engine)
	srv, err := cityhttp.NewServer(cityhttp.Services{
		Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
		Reports: db, Routing: db, Outbox: db, Events: hub, Stats: db, Entities: db, Contexts: contexts, Devices: db, Retention: db,
		Subscriptions: subs, Alarms: db, Warnings: db, IOC: db, KPI: db, Live: live,
	}, cityhttp.Config{
		Addr: *addr, SecureCookies: *secure, MaxBodyBytes: *maxBody, TemplateDir: *templates, Registry: reg,
		Media: &media.Store{Dir: filepath.Join(dbf.data, "media")}, Population: *population, FigureCache: *figureCache, TileURL: *tiles,
		RulesChanged: func(ctx context.Context) {
			if err := engine.Reload(cityops.NewContextWithActor(ctx, cityops.SystemActor())); err != nil {
				log.Error("reload alarm rules", "err", err)
			}
		},
	}, cat, log)
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	if err := srv.Open(); err != nil {
		return fail(env.Stderr, exitError, err)
	}
	log.Info("listening", "url", srv.URL(), "database", db.Dialect(), "version", cityops.Version)
	if *publicURL == "" {
		*publicURL = srv.URL()
	}
	// Background work stops before the database closes.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if *mqttURL != "" || *mqttListen != "" {
		// One ingest, one queue and one writer for both sources. The
		// deferred calls run in reverse: the broker closes, then the
		// ingest writes what is queued, then the database closes.
		in := &mqtt.Ingest{Broker: *mqttURL, ClientID: "cityops-" + auth.NewToken(6), Connections: *mqttConns, Devices: db, Log: log}
		if db.Dialect() == storage.Postgres {
			in.Writers = 4 // PostgreSQL commits in parallel; SQLite has one writer
		}
		if err := in.Start(bg); err != nil {
			stopBG()
			return fail(env.Stderr, exitError, err)
		}
		defer in.Stop()
		registerMQTTMetrics(reg, in)
		if *mqttListen != "" {
			broker := &mqtt.Broker{Addr: *mqttListen, Users: brokerUsers, Ingest: in, Log: log}
			if err := broker.Open(); err != nil {
				stopBG()
				return fail(env.Stderr, exitError, err)
			}
			defer broker.Close()
			log.Info("mqtt broker listening", "address", broker.Address(), "users", len(brokerUsers))
		}
	}
	if *loadDemo && *simulateData {
		wg.Add(1)
		go func() { defer wg.Done(); runDemoSimulator(bg, db, log) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if n, err := db.MarkSilentDevices(bg, *silence); err != nil && bg.Err() == nil {
				log.Error("device silence", "err", err)
			} else if n > 0 {
				log.Warn("devices not observed", "count", n, "silent_for", silence.String())
			}
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
		}
	}()
	wg.Add(1)
	go func() {
		// Retention policies, hourly: what they no longer keep goes,
		// series by series in short transactions.
		defer wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := db.ApplyRetention(bg); err != nil && bg.Err() == nil {
				log.Error("retention", "err", err)
			} else if n > 0 {
				log.Info("retention", "deleted_rows", n)
			}
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
		}
	}()
	if len(sealKey) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealHourly(bg, db.Seal, func(err error) { log.Error("audit seal", "err", err) })
		}()
	}
	wg.Add(7)
	go func() {
		defer wg.Done()
		if err := engine.Run(cityops.NewContextWithActor(bg, cityops.SystemActor())); err != nil {
			log.Error("alarm engine", "err", err)
		}
	}()
	go func() { defer wg.Done(); live.Run(bg, hub) }()
	go func() { defer wg.Done(); alerts.Run(bg) }()
	go func() { defer wg.Done(); hub.Run(bg) }()
	go func() { defer wg.Done(); subs.Run(bg) }()
	go func() { defer wg.Done(); notify.Timers(bg, db, time.Minute, log) }()
	go func() {
		defer wg.Done()
		(&notify.Worker{Outbox: db, Client: &http.Client{Timeout: 15 * time.Second}, SMTPAddr: *smtpAddr, SMTPFrom: *smtpFrom,
			PublicURL: *publicURL, Catalog: cat, Log: log, Interval: time.Second, Now: time.Now}).Run(bg)
	}()
	defer func() { stopBG(); wg.Wait() }()
	fmt.Fprintf(env.Stdout, "cityops is running at %s\n", srv.URL())
	if *loadDemo {
		printLogins(env, srv.URL(), loginsFile)
	}
	if env.Ready != nil {
		env.Ready(srv.URL())
	}

	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return exitError
	}
	return exitOK
}

// registerMQTTMetrics exports the ingest's counters and queue depth.
func registerMQTTMetrics(reg *prometheus.Registry, in *mqtt.Ingest) {
	const help = "MQTT measurements by outcome: accepted (stored), rejected (bad topic or payload, unknown device, " +
		"nothing mapped, refused by the broker's rules), dropped (queue full, shutting down, database failing)."
	for outcome, n := range map[string]*atomic.Int64{"accepted": &in.Accepted, "rejected": &in.Rejected, "dropped": &in.Dropped} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cityops_mqtt_messages_total", Help: help,
			ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 { return float64(n.Load()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_mqtt_queue_depth",
		Help: "MQTT measurements received and waiting to be written."}, func() float64 { return float64(in.QueueDepth()) }))
}

// runDemoSimulator writes simulated Huế sensor data straight into storage
// every minute, so that the demo's city data is alive.
func runDemoSimulator(ctx context.Context, db *storage.DB, log *slog.Logger) {
	gen, err := simulate.New(1, simulate.HueSites(), simulate.Options{})
	if err != nil {
		log.Error("simulator", "err", err)
		return
	}
	err = gen.Stream(ctx, time.Now(), time.Minute, 1, func(list []simulate.Entity) error {
		ents := make([]*cityops.Entity, 0, len(list))
		for _, e := range list {
			ent, err := simulate.ToEntity(e, nil)
			if err != nil {
				return err
			}
			ents = append(ents, ent)
		}
		errs, err := db.UpsertEntities(ctx, "", ents, false)
		if err != nil {
			return err
		}
		for id, e := range errs {
			log.Warn("simulator: entity refused", "id", id, "err", e)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		log.Error("simulator stopped", "err", err)
	}
}

// parseNight reads "HH:MM-HH:MM" into minutes after midnight; "off" gives
// an empty night.
func parseNight(s string) (from, to int, err error) {
	if s == "off" || s == "" {
		return 0, 0, nil
	}
	bad := fmt.Errorf("-night %q: want HH:MM-HH:MM such as 00:00-07:30, or off", s)
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, bad
	}
	parse := func(x string) (int, bool) {
		t, err := time.Parse("15:04", strings.TrimSpace(x))
		if err != nil {
			return 0, false
		}
		return t.Hour()*60 + t.Minute(), true
	}
	from, ok1 := parse(a)
	to, ok2 := parse(b)
	if !ok1 || !ok2 || from == to {
		return 0, 0, bad
	}
	return from, to, nil
}

// loadCalendar reads a working-hours calendar from a JSON file.
func loadCalendar(path string) (*workhours.Calendar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-calendar: %w", err)
	}
	var c workhours.Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("-calendar %s: %w", path, err)
	}
	cal, err := workhours.New(c)
	if err != nil {
		return nil, fmt.Errorf("-calendar %s: %w", path, err)
	}
	return cal, nil
}

// writeLogins keeps the demo passwords beside the database, readable only
// by the owner, so that a restart with -demo can show them again.
func writeLogins(path string, logins []demo.Login) error {
	var b strings.Builder
	for _, l := range logins {
		fmt.Fprintf(&b, "%-20s %-22s %s\n", l.Role, l.Email, l.Password)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("demo logins: %w", err)
	}
	return os.Rename(tmp, path)
}

func printLogins(env *Env, url, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stdout, "The database is not empty, so no demo data was loaded; the demo logins were printed when it was.\n")
		return
	}
	fmt.Fprintf(env.Stdout, "\nHuế demo — sign in at %s/login with one of these (role, e-mail, password):\n\n%s\n"+
		"(kept in %s; area boundaries in the demo are approximate)\n", url, b, path)
}

// registerAlarmMetrics exposes the alarm engine's counters.
func registerAlarmMetrics(reg *prometheus.Registry, e *alarm.Engine) {
	counter := func(name, help string, f func(alarm.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(e.Stats())) }))
	}
	counter("cityops_alarm_changes_total", "Entity changes the alarm engine evaluated.", func(s alarm.Stats) uint64 { return s.Changes })
	counter("cityops_alarm_readings_total", "Readings evaluated against a rule (one per rule and reading).", func(s alarm.Stats) uint64 { return s.Readings })
	counter("cityops_alarm_raised_total", "Alarm conditions met (new alarms and repeats).", func(s alarm.Stats) uint64 { return s.Raised })
	counter("cityops_alarm_ended_total", "Alarm conditions that ended.", func(s alarm.Stats) uint64 { return s.Ended })
	counter("cityops_alarm_failed_total", "Alarm transitions given up after the database failed.", func(s alarm.Stats) uint64 { return s.Failed })
	counter("cityops_alarm_dropped_total", "Entity changes dropped because the alarm engine's queue was full.", func(s alarm.Stats) uint64 { return s.Dropped })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_alarm_rules", Help: "Alarm rules the engine evaluates."},
		func() float64 { return float64(e.Stats().Rules) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_alarm_queue_depth",
		Help: "Entity changes waiting for the alarm engine."}, func() float64 { return float64(e.Stats().Queued) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_alarm_write_queue_depth",
		Help: "Alarm transitions waiting to be written to the database."}, func() float64 { return float64(e.Stats().Writing) }))
}
