package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	idle := fs.Duration("session-idle", 15*time.Minute, "end staff sessions idle for this long")
	outboundAllow := fs.String("outbound-allow", "", "internal `addresses` (10.20.0.0/16,192.168.5.7,…) that webhooks and NGSI-LD notifications may reach; public addresses always may, loopback, private and link-local ones only when listed")
	idleAdmin := fs.Duration("session-idle-admin", 5*time.Minute, "end administrators' sessions idle for this long")
	mfaRoles := fs.String("mfa-roles", "admin,operator,agency_head", "`roles` that must sign in in two steps (password and an authenticator app's code), comma-separated; others may choose to; \"none\" for none")
	lockFailures := fs.Int("lockout-failures", 5, "failed sign-ins within -lockout-window that lock the account, and the source address, for -lockout (0: no lockout)")
	lockWindow := fs.Duration("lockout-window", 15*time.Minute, "how long failed sign-ins are remembered for the lockout")
	lockFor := fs.Duration("lockout", 15*time.Minute, "how long a lockout lasts")
	inactive := fs.Duration("disable-inactive", 45*24*time.Hour, "disable staff accounts nobody signed in to for this long (0: never)")
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
	personal := personalDataFlags(fs)
	auditKey := auditKeyFlag(fs)
	auditRetention := auditRetentionFlag(fs)
	publicURL := fs.String("public-url", "", "the `URL` citizens reach cityops at, for links in e-mails (default: the listen address)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate `file` (PEM, the chain after the certificate); needs -tls-key; cookies become Secure and answers carry HSTS")
	tlsKey := fs.String("tls-key", "", "private key `file` (PEM) of -tls-cert")
	httpRedirect := fs.String("http-redirect", "", "with -tls-cert: also listen on this `address` (such as :80) with plain HTTP that only redirects to HTTPS")
	rateLimits := fs.String("rate-limits", "", "request rate limits per source address (IPv6: per /64), and per API key for the -key classes, as `CLASS=RATE,…` over the defaults "+
		cityhttp.DefaultRateLimits().String()+"; RATE is N/s, N/m or N/h with an optional :BURST (default N) or off; \"off\" alone turns all off")
	oidcIssuer := fs.String("oidc-issuer", "", "single sign-on: the city's OpenID Connect identity provider's issuer `URL` (https://…); with -oidc-client-id and -oidc-client-secret; off when empty")
	oidcClient := fs.String("oidc-client-id", "", "single sign-on: cityops's client `ID` at the identity provider (its redirect URL: -public-url + /login/oidc/callback)")
	oidcSecret := fs.String("oidc-client-secret", "", "single sign-on: the client `SECRET`, best given in CITYOPS_OIDC_CLIENT_SECRET_FILE")
	oidcName := fs.String("oidc-name", "", "single sign-on: the identity provider's name on the sign-in button, as `TEXT` (default: the city's sign-in)")
	corsOrigins := fs.String("cors-origins", "", "`origins` (https://app.example.vn,…) whose web apps may call the API with an API key (CORS on /api/v1, /ngsi-ld/v1, /open311/v2); empty for none")
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
	if *idle <= 0 || *idleAdmin <= 0 || *lifetime <= 0 || *idle > *lifetime || *idleAdmin > *lifetime {
		problems = append(problems, "-session-idle, -session-idle-admin and -session-lifetime: must be positive, idle no longer than lifetime")
	}
	outbound, err := notify.ParseOutbound(*outboundAllow)
	if err != nil {
		problems = append(problems, err.Error())
	}
	signIn := cityops.SignInConfig{Failures: *lockFailures, Window: *lockWindow, Lockout: *lockFor, InactiveAfter: *inactive, ResetTTL: 30 * time.Minute}
	if *mfaRoles != "none" {
		for _, r := range strings.Split(*mfaRoles, ",") {
			if r = strings.TrimSpace(r); !cityops.ValidRole(r) {
				problems = append(problems, fmt.Sprintf("-mfa-roles: unknown role %q; roles: %s", r, strings.Join(cityops.Roles, ", ")))
			} else {
				signIn.MFARoles = append(signIn.MFARoles, r)
			}
		}
	}
	if *lockFailures < 0 || (*lockFailures > 0 && (*lockWindow <= 0 || *lockFor <= 0)) || *inactive < 0 {
		problems = append(problems, "-lockout-failures, -lockout-window, -lockout, -disable-inactive: not negative; a lockout needs a window and a duration")
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
	dataKeys, err := personal.keys(*reopenDays)
	if err != nil {
		problems = append(problems, err.Error())
	}
	sealKey, err := auditKey()
	if err != nil {
		problems = append(problems, err.Error())
	}
	retention, err := auditRetention()
	if err != nil {
		problems = append(problems, err.Error())
	}
	var cert *tls.Certificate
	switch {
	case (*tlsCert == "") != (*tlsKey == ""):
		problems = append(problems, "-tls-cert and -tls-key: give both or neither")
	case *tlsCert != "":
		if c, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey); err != nil {
			problems = append(problems, "-tls-cert, -tls-key: "+err.Error())
		} else {
			cert = &c
		}
	}
	if *httpRedirect != "" {
		if _, port, err := net.SplitHostPort(*httpRedirect); err != nil || port == "" {
			problems = append(problems, fmt.Sprintf("-http-redirect %q: want host:port such as :80", *httpRedirect))
		} else if *tlsCert == "" {
			problems = append(problems, "-http-redirect: only with -tls-cert and -tls-key")
		}
	}
	limits, err := cityhttp.ParseRateLimits(*rateLimits)
	if err != nil {
		problems = append(problems, err.Error())
	}
	origins, err := cityhttp.ParseOrigins(*corsOrigins)
	if err != nil {
		problems = append(problems, err.Error())
	}
	var sso *cityhttp.OIDCConfig
	switch {
	case *oidcIssuer == "" && *oidcClient == "" && *oidcSecret == "":
		if *oidcName != "" {
			problems = append(problems, "-oidc-name: only with -oidc-issuer")
		}
	case *oidcIssuer == "" || *oidcClient == "" || *oidcSecret == "":
		problems = append(problems, "-oidc-issuer, -oidc-client-id and -oidc-client-secret: give all three or none")
	default:
		sso = &cityhttp.OIDCConfig{Issuer: *oidcIssuer, ClientID: *oidcClient, ClientSecret: *oidcSecret, Name: *oidcName}
		if err := sso.Validate(); err != nil {
			problems = append(problems, "-oidc-issuer: "+err.Error())
		}
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
	// serve is the process that ingests: on SQLite it keeps the latest
	// roll-up sums in memory (one serve per database).
	if err := db.DeferRollups(ctx); err != nil {
		return fail(env.Stderr, exitError, err)
	}
	db.Sessions = cityops.SessionConfig{Idle: *idle, IdleAdmin: *idleAdmin, Lifetime: *lifetime}
	db.SignIn = signIn
	db.Reports.NightFrom, db.Reports.NightTo = nightFrom, nightTo
	db.Reports.ConfirmDays, db.Reports.ReopenDays = *confirmDays, *reopenDays
	db.Reports.WarnBefore, db.Reports.EscalateAfter = *warnBefore, *escalateAfter
	db.Reports.DuplicateRadius, db.Reports.DuplicateWindow = *dupRadius, time.Duration(*dupDays)*24*time.Hour
	db.Reports.Calendar = cal
	db.Keys = dataKeys
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
	if db.Dialect() == storage.SQLite {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_rollup_sums_in_memory",
			Help: "Hour and day roll-up sums of committed history not yet written to their rows (written every 5 s)."},
			func() float64 { n, _ := db.RollupsInMemory(); return float64(n) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cityops_rollup_flush_failures_total",
			Help: "Parts of a roll-up flush that failed; their sums stay in memory and are written later."},
			func() float64 { _, n := db.RollupsInMemory(); return float64(n) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_history_log_blocks",
			Help: "History blocks in the log, not yet merged into the history (merged every 10 s)."},
			func() float64 { n, _ := db.LogRows(); return float64(n) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cityops_history_log_compaction_failures_total",
			Help: "Compactions of the history log that failed; their blocks stay in the log and are merged later."},
			func() float64 { _, n := db.LogRows(); return float64(n) }))
	}
	// NGSI-LD subscriptions: the notifier hears every committed entity
	// write and serves the subscriptions API, so that changes apply at once.
	subs := &notify.Notifier{Store: db, Entities: db, Contexts: contexts, Log: log, Client: outbound.Client(0, false)}
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
	db.OnMeasurePreview(engine.Listen)
	registerAlarmMetrics(reg, engine)
	srv, err := cityhttp.NewServer(cityhttp.Services{
		Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
		Reports: db, Routing: db, Outbox: db, Events: hub, Stats: db, Entities: db, Contexts: contexts, Devices: db, Retention: db,
		Subscriptions: subs, Alarms: db, Warnings: db, IOC: db, KPI: db, Live: live, Audit: db,
	}, cityhttp.Config{
		Addr: *addr, SecureCookies: *secure, MaxBodyBytes: *maxBody, TemplateDir: *templates, Registry: reg,
		Media: &media.Store{Dir: filepath.Join(dbf.data, "media")}, Population: *population, FigureCache: *figureCache, TileURL: *tiles,
		Certificate: cert, RedirectAddr: *httpRedirect, RateLimits: limits, CORSOrigins: origins,
		SendMail: sendMail(*smtpAddr, *smtpFrom), PublicURL: *publicURL,
		OIDC: sso,
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
	if u := srv.RedirectURL(); u != "" {
		log.Info("redirecting to HTTPS", "url", u)
	}
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
		// The alarm engine sees each reading as it arrives (SQLite:
		// storage.DB.PreviewMeasurement), not once its batch is written.
		in.Preview = db.PreviewMeasurement
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
	every(bg, &wg, time.Minute, true, func(ctx context.Context) {
		if n, err := db.MarkSilentDevices(ctx, *silence); err != nil && ctx.Err() == nil {
			log.Error("device silence", "err", err)
		} else if n > 0 {
			log.Warn("devices not observed", "count", n, "silent_for", silence.String())
		}
	})
	// Hourly: retention policies (what they no longer keep goes, series
	// by series in short transactions) and accounts unused for too long.
	every(bg, &wg, time.Hour, true, func(ctx context.Context) {
		if n, err := db.DisableInactive(ctx); err != nil && ctx.Err() == nil {
			log.Error("disable inactive accounts", "err", err)
		} else if n > 0 {
			log.Info("disabled inactive accounts", "accounts", n)
		}
		if n, err := db.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
			log.Error("retention", "err", err)
		} else if n > 0 {
			log.Info("retention", "deleted_rows", n)
		}
	})
	personal.start(bg, &wg, db, log)
	if len(sealKey) > 0 {
		// The audit trail is sealed hourly (an empty one has nothing to
		// seal, which is no error).
		every(bg, &wg, time.Hour, false, func(ctx context.Context) {
			if _, err := db.Seal(system(ctx)); err != nil && ctx.Err() == nil && cityops.ErrorCode(err) != cityops.EINVALID {
				log.Error("audit seal", "err", err)
			}
		})
	}
	if retention > 0 {
		every(bg, &wg, 24*time.Hour, true, func(ctx context.Context) {
			if n, err := db.PurgeAudit(system(ctx), retention); err != nil && ctx.Err() == nil {
				log.Error("audit retention", "err", err)
			} else if n > 0 {
				log.Info("audit retention", "removed_entries", n, "retention", retention.String())
			}
		})
	}
	// API-key requests counted since their key's last audit entry are
	// recorded at shutdown, once the server takes no more requests.
	defer db.FlushAPIKeyUse(system(context.Background()))
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
		(&notify.Worker{Outbox: db, Client: outbound.Client(15*time.Second, true), SMTPAddr: *smtpAddr, SMTPFrom: *smtpFrom,
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

// every runs job every d until ctx ends — at once too when first — on a
// goroutine counted in wg.
func every(ctx context.Context, wg *sync.WaitGroup, d time.Duration, first bool, job func(ctx context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			if first {
				job(ctx)
			}
			first = true
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sendMail returns the function that e-mails password reset links, or nil
// without a mail server.
func sendMail(addr, from string) func(to, subject, body string) error {
	if addr == "" {
		return nil
	}
	return func(to, subject, body string) error {
		return notify.SendMail(addr, from, to, subject, body, time.Now(), "")
	}
}

func printLogins(env *Env, url, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stdout, "The database is not empty, so no demo data was loaded; the demo logins were printed when it was.\n")
		return
	}
	fmt.Fprintf(env.Stdout, "\nHuế demo — sign in at %s/login with one of these (role, e-mail, password):\n\n%s\n"+
		"(kept in %s; area boundaries in the demo are approximate)\n"+
		"The administrator, the operator and the agency head set up two-step sign-in (an authenticator app such as\n"+
		"FreeOTP or Aegis) at their first sign-in; -mfa-roles changes which roles must.\n", url, b, path)
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
