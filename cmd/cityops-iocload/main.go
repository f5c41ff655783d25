// Command cityops-iocload measures cityops against the operations-centre
// issue's two targets on this machine and prints each figure with its
// target and "met" or "NOT met", with the command line, Go version, CPU
// count, load average and database, so that the output can go into
// docs/benchmarks.md:
//
//   - dashboard: every data endpoint the /ioc page loads, from 8 clients,
//     over -cases (1,000,000) cases and -readings (50,000,000) readings;
//     target p95 < 100 ms per endpoint, with GET /healthz under the same
//     load as the floor.
//   - alarms: -rate (20,000) MQTT readings a second through cityops's own
//     broker, with -rules (1,000) enabled alarm rules, a browser on the
//     live stream, and a few readings a second crossing a threshold;
//     targets ≥ 20,000 readings/s with the alarm engine keeping up, and
//     p99 < 1 s from publishing a reading to its alarm on the stream.
//
// Build cityops first (or leave out -cityops to have the tool build it
// from the repository it runs in):
//
//	go build -o /tmp/cityops ./cmd/cityops
//	go run ./cmd/cityops-iocload -cityops /tmp/cityops                        # both, full size
//	go run ./cmd/cityops-iocload -cityops /tmp/cityops -scenario dashboard -cases 100000 -readings 2000000
//	go run ./cmd/cityops-iocload -cityops /tmp/cityops -scenario alarms -rate 5000 -duration 20s
//	go run ./cmd/cityops-iocload -cityops /tmp/cityops -db 'postgres://USER@127.0.0.1:5432/DB?sslmode=disable'
//
// Each scenario runs its own `cityops serve -demo -simulate=false`
// subprocess on 127.0.0.1:0 on a fresh temporary data directory (with -db,
// in a PostgreSQL schema of its own, dropped afterwards), with an API key
// made by `cityops apikey create`. The dashboard's cases are written
// straight into the database while cityops is stopped; its readings go
// through the bulk observation path. The load tool and cityops share the
// machine's cores. All traffic stays on loopback addresses: other
// database hosts are refused. Ctrl-C stops a run; what was measured is
// printed.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// The targets on a 2-core machine, printed as met or not.
const (
	targetDashboardP95 = 100 * time.Millisecond
	targetAlarmRate    = 20_000.0 // readings/s, the city-data issue's full ingest rate
	targetAlarmP99     = time.Second
	targetRules        = 1000 // active rules while the alarm targets hold
)

// Exit statuses, as cityops-dataload's.
const (
	exitOK          = 0
	exitFail        = 1   // the run failed (an unmet target is not a failure)
	exitUsage       = 2   // the command line was wrong
	exitInterrupted = 130 // Ctrl-C or SIGTERM; what was measured is printed
)

// scenarios in the order "all" runs them.
var scenarios = []string{"dashboard", "alarms"}

// apiScopes are the API key's scopes: what the dashboard and the setup
// of both scenarios need.
const apiScopes = "ioc:view,alarms:read,data:write,data:read,rules:write,open311:write"

// main turns Ctrl-C and SIGTERM into a cancelled run, so that the figures
// so far are printed and the cityops subprocess is stopped; a second
// Ctrl-C ends the tool at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line; zero durations take each
// scenario's default.
type options struct {
	scenarios    []string
	scenarioFlag string
	bin, dsn     string
	keep         bool
	duration     optDuration
	warmup       optDuration

	// dashboard
	cases, readings int64
	alarms          int
	clients         int
	reportEvery     time.Duration

	// alarms
	rate       float64
	rules      int
	devices    int
	types      int
	publishers int
	crossings  float64
	hold       time.Duration
}

// optDuration is a duration flag that knows whether it was given, so
// that each scenario has its own default.
type optDuration struct {
	d   time.Duration
	set bool
}

func (f *optDuration) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *optDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 20s")
	}
	f.d, f.set = d, true
	return nil
}

// durationFor is -duration, or the scenario's default.
func (o *options) durationFor(scenario string) time.Duration {
	if o.duration.set {
		return o.duration.d
	}
	return map[string]time.Duration{"dashboard": 20 * time.Second, "alarms": 60 * time.Second}[scenario]
}

// warmupFor is -warmup, or the scenario's default.
func (o *options) warmupFor(scenario string) time.Duration {
	if o.warmup.set {
		return o.warmup.d
	}
	return map[string]time.Duration{"dashboard": 3 * time.Second, "alarms": 5 * time.Second}[scenario]
}

// parseFlags parses and checks the command line; status is -1 when the
// run should go ahead.
func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("cityops-iocload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenarioFlag, "scenario", "all", "`name`: dashboard, alarms, a comma-separated list, or all")
	fs.StringVar(&o.bin, "cityops", "", "`path` to a built cityops binary; empty builds ./cmd/cityops into a temporary directory")
	fs.StringVar(&o.dsn, "db", "", "postgres:// `URL` of a database on this machine (each scenario in a schema of its own); empty = SQLite in a fresh temporary data directory per scenario")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directories, server logs and PostgreSQL schemas")
	fs.Var(&o.duration, "duration", "`time` each scenario measures (default: dashboard 20s, alarms 60s)")
	fs.Var(&o.warmup, "warmup", "`time` of load before measuring, not counted (default: dashboard 3s, alarms 5s)")
	fs.Int64Var(&o.cases, "cases", 1_000_000, "dashboard: `cases` (reports) seeded over the past 365 days")
	fs.Int64Var(&o.readings, "readings", 50_000_000, "dashboard: `readings` of the demo's sensors, one a minute per series back from now")
	fs.IntVar(&o.alarms, "alarms", 50_000, "dashboard: `alarms` seeded over the past year (at most 200 of them open)")
	fs.IntVar(&o.clients, "clients", 8, "dashboard: concurrent `clients`, each with one request in flight")
	fs.DurationVar(&o.reportEvery, "report-every", 0, "dashboard: post a new Open311 report every `interval` during the warm-up and the measurement: each is a case event after which the figures are computed afresh (0: none, a quiet city)")
	fs.Float64Var(&o.rate, "rate", targetAlarmRate, "alarms: `readings/s` published over MQTT (open loop), four to a message, spread evenly over the devices")
	fs.IntVar(&o.rules, "rules", 1000, "alarms: enabled alarm `rules` imported over the devices' types")
	fs.IntVar(&o.devices, "devices", 2000, "alarms: `devices`, each feeding its own entity (a multiple of -publishers)")
	fs.IntVar(&o.types, "types", 40, "alarms: entity `types` the devices and rules are spread over")
	fs.IntVar(&o.publishers, "publishers", 4, "alarms: publishing MQTT `connections`")
	fs.Float64Var(&o.crossings, "crossings", 20, "alarms: `crossings` a second: readings over a trigger rule's level, each followed to its alarm")
	fs.DurationVar(&o.hold, "hold", time.Second, "alarms: how long a crossing device stays over the threshold before it comes back under the clear level")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: cityops-iocload [-cityops PATH] [-scenario NAME] [flags]\n\n"+
			"Measures cityops's operations-centre targets (dashboard endpoints over a million cases and\n"+
			"fifty million readings; alarm evaluation at the full MQTT ingest rate), each scenario with\n"+
			"its own cityops subprocess on a fresh database.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, exitOK
		}
		return o, exitUsage
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	for _, s := range strings.Split(o.scenarioFlag, ",") {
		switch s = strings.TrimSpace(s); {
		case s == "all":
			o.scenarios = append(o.scenarios, scenarios...)
		case slices.Contains(scenarios, s):
			o.scenarios = append(o.scenarios, s)
		default:
			problems = append(problems, fmt.Sprintf("-scenario %q: want dashboard, alarms or all", s))
		}
	}
	if o.bin != "" {
		if st, err := os.Stat(o.bin); err != nil || st.IsDir() {
			problems = append(problems, fmt.Sprintf("-cityops %s: not a file (build it with: go build -o /tmp/cityops ./cmd/cityops)", o.bin))
		}
	}
	if err := checkDSN(o.dsn); err != nil {
		problems = append(problems, err.Error())
	}
	if o.duration.set && o.duration.d <= 0 || o.warmup.d < 0 {
		problems = append(problems, "-duration must be positive, -warmup not negative")
	}
	if o.cases < 1 || o.readings < 1 || o.alarms < 0 || o.clients < 1 {
		problems = append(problems, "-cases, -readings and -clients must be at least 1, -alarms not negative")
	}
	if o.reportEvery < 0 || o.reportEvery > 0 && o.reportEvery < 10*time.Millisecond {
		problems = append(problems, "-report-every: 0 (none) or at least 10ms")
	}
	if o.cases > 100_000_000 || o.readings > 10_000_000_000 {
		problems = append(problems, "-cases: at most 100,000,000; -readings: at most 10,000,000,000")
	}
	if !(o.rate > 0) || o.rules < 1 || o.devices < 1 || o.types < 1 || o.publishers < 1 || !(o.crossings > 0) || o.hold <= 0 {
		problems = append(problems, "-rate, -rules, -devices, -types, -publishers, -crossings and -hold must be positive")
	} else {
		if o.devices%o.publishers != 0 {
			problems = append(problems, "-devices must be a multiple of -publishers (each device publishes on one connection, in order)")
		}
		if o.types > 100 || o.devices > 100_000 || o.rules > 10_000 {
			problems = append(problems, "-types: at most 100; -devices: at most 100,000; -rules: at most 10,000 (one CSV import)")
		}
		if o.crossings > o.rate/10 {
			problems = append(problems, "-crossings: at most a tenth of -rate")
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "cityops-iocload: %s\n", p)
		}
		return o, exitUsage
	}
	return o, -1
}

// runner is one run of the tool.
type runner struct {
	mu      sync.Mutex // one line at a time, from any goroutine
	o       options
	w       io.Writer // the report
	errw    io.Writer // progress
	work    string    // temporary directory: the built binary, the data directories
	bin     string
	stamp   string // names this run's PostgreSQL schemas
	results []result
	failed  bool // a scenario failed: keep its data for a look
}

// result is one target's outcome, for the summary.
type result struct {
	scenario, target, measured, status string
}

// progress prints a progress line.
func (r *runner) progress(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.errw, "cityops-iocload: "+format+"\n", a...)
}

// printf writes to the report.
func (r *runner) printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format, a...)
}

// status is "met" or "NOT met".
func status(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}

// target prints a target's outcome and keeps it for the summary.
func (r *runner) target(scenario, want, measured string, met bool) {
	note := ""
	if r.o.dsn != "" {
		note = " (this is PostgreSQL)"
	}
	r.printf("  target      %s: %s — %s%s\n", want, status(met), measured, note)
	r.keepResult(scenario, want, measured, met)
}

// keepResult keeps a target's outcome for the summary without a line of
// its own (a table printed it).
func (r *runner) keepResult(scenario, want, measured string, met bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, result{scenario, want, measured, status(met)})
}

// run is the whole program, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, st := parseFlags(args, stderr)
	if st >= 0 {
		return st
	}
	r := &runner{o: o, w: stdout, errw: stderr, stamp: time.Now().UTC().Format("20060102_150405")}
	var err error
	if r.work, err = os.MkdirTemp("", "cityops-iocload-"); err != nil {
		r.progress("%v", err)
		return exitFail
	}
	defer func() {
		if (r.failed || o.keep) && ctx.Err() == nil {
			r.progress("data and server logs kept in %s", r.work)
		} else {
			os.RemoveAll(r.work)
		}
	}()
	r.bin = o.bin
	if r.bin == "" {
		r.progress("building ./cmd/cityops")
		if r.bin, err = loadtool.BuildCityops(ctx, r.work); err != nil {
			r.progress("%v", err)
			return exitFail
		}
	}

	r.printf("cityops-iocload: the operations-centre targets\n")
	loadtool.RunInfo{Tool: "cityops-iocload", Args: args, Binary: r.bin, SharedBy: "the load tool and cityops", LoadAverage: true}.Write(r.printf)
	r.printf("database    %s\n", r.databaseText(ctx))
	r.printf("server      cityops serve -demo -simulate=false -addr 127.0.0.1:0 as a subprocess, one per scenario (Huế's organisation and alarm rules);\n")
	r.printf("            API key with %s\n", apiScopes)

	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		r.printf("\n")
		var err error
		switch name {
		case "dashboard":
			err = r.dashboard(ctx)
		case "alarms":
			err = r.alarms(ctx)
		}
		if err != nil && ctx.Err() == nil {
			r.failed = true
			r.printf("  FAILED      %v\n", err)
			r.progress("%s: %v", name, err)
		}
	}
	r.summary()
	switch {
	case ctx.Err() != nil:
		r.printf("\ninterrupted: the figures above are what was measured until then\n")
		return exitInterrupted
	case r.failed:
		return exitFail
	}
	return exitOK
}

// databaseText describes the database the scenarios use.
func (r *runner) databaseText(ctx context.Context) string {
	if r.o.dsn == "" {
		v := "?"
		if db, err := sql.Open("sqlite", ":memory:"); err == nil {
			db.QueryRowContext(ctx, `select sqlite_version()`).Scan(&v)
			db.Close()
		}
		return fmt.Sprintf("SQLite %s (modernc.org/sqlite; WAL, synchronous=FULL as cityops opens it), a fresh data directory per scenario in %s", v, r.work)
	}
	v := "?"
	if db, err := sql.Open("pgx", r.o.dsn); err == nil {
		db.QueryRowContext(ctx, `show server_version`).Scan(&v)
		db.Close()
	}
	return fmt.Sprintf("PostgreSQL %s at %s; each scenario in schema iocload_%s_NAME, dropped afterwards unless -keep", v, loadtool.RedactDSN(r.o.dsn), r.stamp)
}

// summary prints every target's outcome as a Markdown table, ready for
// docs/benchmarks.md.
func (r *runner) summary() {
	if len(r.results) == 0 {
		return
	}
	r.printf("\nsummary\n\n| scenario | target | measured | |\n|---|---|---|---|\n")
	for _, x := range r.results {
		r.printf("| %s | %s | %s | %s |\n", x.scenario, x.target, x.measured, x.status)
	}
}

// header prints a scenario's title and the load average at its start.
func (r *runner) header(title string) {
	r.printf("== %s\n", title)
	r.printf("  load avg    %s at the start of this scenario\n", loadtool.LoadAverage())
}
