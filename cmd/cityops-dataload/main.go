// Command cityops-dataload measures cityops against the city-data issue's
// targets on this machine and prints each figure with its target and
// "met" or "NOT met", with the command line, Go version, CPU count, load
// average and database, so that the output can go into docs/benchmarks.md:
//
//   - upsert: NGSI-LD batch upsert, batches of 100 stations (history
//     kept), from 8 clients; target ≥ 20,000 entity updates/s.
//   - bulk: NDJSON into POST /api/v1/observations from 2 clients, against
//     a plain batched INSERT of the same rows into the same database;
//     targets ≥ 150,000 observations/s into SQLite and ≥ half the
//     baseline.
//   - query: GET /ngsi-ld/v1/entities with q over 100,000 entities, per
//     query shape; target p95 < 20 ms.
//   - temporal: aggregations over a year of one-minute data; target
//     < 50 ms for a year.
//   - history: the ingest rate per million observations as history grows
//     to -n (50,000,000), with the disk it takes; no target, the rate at
//     1 M and at the end are compared.
//
// Build cityops first (or leave out -cityops to have the tool build it
// from the repository it runs in):
//
//	go build -o /tmp/cityops ./cmd/cityops
//	go run ./cmd/cityops-dataload -cityops /tmp/cityops                    # all but history
//	go run ./cmd/cityops-dataload -cityops /tmp/cityops -scenario history -n 50000000
//	go run ./cmd/cityops-dataload -cityops /tmp/cityops -db 'postgres://USER@127.0.0.1:5432/DB?sslmode=disable'
//
// Each scenario runs its own `cityops serve` subprocess on 127.0.0.1:0
// (without demo data) on a fresh temporary data directory, with an API
// key made by `cityops apikey create`. With -db the scenarios share the
// PostgreSQL database, each in an NGSILD-Tenant of its own, and their
// data stays there. The load tool and cityops share the machine's cores.
// All traffic stays on loopback addresses: other targets and database
// hosts are refused. Ctrl-C stops a run; what was measured is printed.
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
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage"
)

// The targets on a 2-core machine, printed as met or not.
const (
	targetUpsertRate   = 20_000.0  // entity updates/s, batches of 100, history kept
	targetBulkRate     = 150_000.0 // observations/s into SQLite
	targetBulkBaseline = 0.5       // of the plain INSERT's rate in the same run
	targetQueryP95     = 20 * time.Millisecond
	targetTemporalP95  = 50 * time.Millisecond // an aggregation over a year
)

// Exit statuses.
const (
	exitOK          = 0
	exitFail        = 1   // the run failed (an unmet target is not a failure)
	exitUsage       = 2   // the command line was wrong
	exitInterrupted = 130 // Ctrl-C or SIGTERM; what was measured is printed
)

// scenarios in the order "all" runs them; history is left out of "all"
// because at its default size it runs far longer than the others.
var scenarios = []string{"upsert", "bulk", "query", "temporal", "history"}

// main turns Ctrl-C and SIGTERM into a cancelled run, so that the figures
// so far are printed and the cityops subprocess is stopped; a second
// Ctrl-C ends the tool at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line; zero sizes take each scenario's
// default.
type options struct {
	scenarios      []string
	bin, dsn       string
	duration       time.Duration
	clients        int
	stations       int
	batch          int
	attrs          int
	counts         bool
	format         string
	perLine        int
	request        int
	entities       int
	days           int
	repeat         int
	total, window  int64
	keep           bool
	scenarioFlag   string
	clientsDefault map[string]int
}

// clientsFor is -clients, or the scenario's default.
func (o *options) clientsFor(scenario string) int {
	if o.clients > 0 {
		return o.clients
	}
	return o.clientsDefault[scenario]
}

// parseFlags parses and checks the command line; status is -1 when the
// run should go ahead.
func parseFlags(args []string, stderr io.Writer) (options, int) {
	o := options{clientsDefault: map[string]int{"upsert": 8, "bulk": 2, "query": 8, "history": 2}}
	fs := flag.NewFlagSet("cityops-dataload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenarioFlag, "scenario", "all", "`name`: upsert, bulk, query, temporal, history, a comma-separated list, or all (all but history)")
	fs.StringVar(&o.bin, "cityops", "", "`path` to a built cityops binary; empty builds ./cmd/cityops into a temporary directory")
	fs.StringVar(&o.dsn, "db", "", "postgres:// `URL` of a database on this machine; empty = SQLite in a fresh temporary data directory per scenario")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long upsert, bulk (and its baseline) and query measure")
	fs.IntVar(&o.clients, "clients", 0, "concurrent `clients`, each with one request in flight (0: upsert 8, bulk 2, query 8, history 2; temporal times one request at a time)")
	fs.IntVar(&o.stations, "stations", 0, "`number` of stations (0: upsert 10,000; bulk and history 1,000)")
	fs.IntVar(&o.batch, "batch", 100, "upsert: `entities` per batch")
	fs.BoolVar(&o.counts, "counts", true, "query: also time each shape with count=true (false: pages alone)")
	fs.IntVar(&o.attrs, "attrs", 2, "upsert: `attributes` per update: 2 (pm25 and no2) or 1 (pm25 alone, as BenchmarkUpsertEntities)")
	fs.StringVar(&o.format, "format", "reading", "bulk and history lines: `reading` (one observation per line; the server groups them) or temporal (one line per station and attribute)")
	fs.IntVar(&o.perLine, "per-line", 60, "bulk and history with -format temporal: `instances` per line")
	fs.IntVar(&o.request, "request", 200_000, "bulk, history and loading: `observations` per request")
	fs.IntVar(&o.entities, "entities", 100_000, "query: `number` of entities loaded")
	fs.IntVar(&o.days, "days", 365, "temporal: `days` of one-minute data loaded (365 is a year: 525,600 observations)")
	fs.IntVar(&o.repeat, "repeat", 20, "temporal: `times` each aggregation is timed")
	fs.Int64Var(&o.total, "n", 50_000_000, "history: `observations` to store in all")
	fs.Int64Var(&o.window, "window", 1_000_000, "history: print the rate every this many `observations`")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directories and server logs")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: cityops-dataload [-cityops PATH] [-scenario NAME] [flags]\n\n"+
			"Measures cityops's city-data paths against the issue's targets, each with its own\n"+
			"cityops subprocess on a fresh database.\n\nFlags:\n")
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
			o.scenarios = append(o.scenarios, scenarios[:4]...)
		case slices.Contains(scenarios, s):
			o.scenarios = append(o.scenarios, s)
		default:
			problems = append(problems, fmt.Sprintf("-scenario %q: want upsert, bulk, query, temporal, history or all", s))
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
	if o.format != "reading" && o.format != "temporal" {
		problems = append(problems, "-format: want reading or temporal")
	}
	switch {
	case o.duration <= 0:
		problems = append(problems, "-duration must be positive")
	case o.clients < 0 || o.stations < 0:
		problems = append(problems, "-clients and -stations must not be negative")
	case o.attrs < 1 || o.attrs > len(readingAttrs):
		problems = append(problems, "-attrs: 1 or 2")
	case o.batch < 1 || o.batch > 1000:
		problems = append(problems, "-batch: 1 to 1000 (the server's limit)")
	case o.perLine < 1 || o.request < 1 || o.entities < 1 || o.days < 1 || o.repeat < 1:
		problems = append(problems, "-per-line, -request, -entities, -days and -repeat must be at least 1")
	case o.total < 1 || o.window < 1:
		problems = append(problems, "-n and -window must be at least 1")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "cityops-dataload: %s\n", p)
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
	stamp   string // names this run's PostgreSQL tenants
	results []result
	failed  bool // a scenario failed: keep the data for a look
}

// result is one target's outcome, for the summary.
type result struct {
	scenario, target, measured, status string
}

// progress prints a progress line.
func (r *runner) progress(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.errw, "cityops-dataload: "+format+"\n", a...)
}

// printf writes to the report.
func (r *runner) printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format, a...)
}

// target prints a target's outcome and keeps it for the summary.
func (r *runner) target(scenario, want, measured string, met bool) {
	status := "NOT met"
	if met {
		status = "met"
	}
	note := ""
	if r.o.dsn != "" && strings.Contains(want, "SQLite") {
		note = " (the target is set for SQLite; this is PostgreSQL)"
	}
	r.printf("  target      %s: %s — %s%s\n", want, status, measured, note)
	r.results = append(r.results, result{scenario, want, measured, status})
}

// run is the whole program, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, st := parseFlags(args, stderr)
	if st >= 0 {
		return st
	}
	r := &runner{o: o, w: stdout, errw: stderr, stamp: time.Now().UTC().Format("20060102-150405")}
	var err error
	if r.work, err = os.MkdirTemp("", "cityops-dataload-"); err != nil {
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

	r.printf("cityops-dataload: the city-data targets\n")
	loadtool.RunInfo{Tool: "cityops-dataload", Args: args, Binary: r.bin, SharedBy: "the load tool and cityops", LoadAverage: true}.Write(r.printf)
	r.printf("database    %s\n", r.databaseText(ctx))
	r.printf("server      cityops serve -addr 127.0.0.1:0 (no demo data) as a subprocess, one per scenario; API key with data:write,data:read\n")

	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		r.printf("\n")
		var err error
		switch name {
		case "upsert":
			err = r.upsert(ctx)
		case "bulk":
			err = r.bulk(ctx)
		case "query":
			err = r.query(ctx)
		case "temporal":
			err = r.temporal(ctx)
		case "history":
			err = r.history(ctx)
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
	if db, err := storage.Open(ctx, r.o.dsn, r.work); err == nil {
		db.SQL().QueryRowContext(ctx, `show server_version`).Scan(&v)
		db.Close()
	}
	return fmt.Sprintf("PostgreSQL %s at %s; each scenario in tenant dataload-%s-NAME, left in the database", v, loadtool.RedactDSN(r.o.dsn), r.stamp)
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

// session is one scenario's cityops server on a fresh database.
type session struct {
	r      *runner
	name   string
	dir    string // the data directory
	log    string // the server's log
	key    string
	tenant string // PostgreSQL: the scenario's own tenant
	srv    *loadtool.Proc
	api    *api
	cpu    *loadtool.CPUMeter
}

// newSession makes a data directory and an API key (which migrates the
// database); the server is not started yet, so that a baseline can use
// the database alone.
func (r *runner) newSession(ctx context.Context, name string) (*session, error) {
	s := &session{r: r, name: name, dir: filepath.Join(r.work, name)}
	s.log = filepath.Join(s.dir, "serve.log")
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, err
	}
	if r.o.dsn != "" {
		s.tenant = "dataload-" + r.stamp + "-" + name
	}
	r.progress("%s: creating an API key (and the database) in %s", name, s.dir)
	key, err := loadtool.CreateAPIKey(ctx, r.bin, s.dir, r.o.dsn, "dataload", "data:write,data:read")
	if err != nil {
		return nil, err
	}
	s.key = key
	return s, nil
}

// start starts the server, with a client for clients workers whose
// requests time out after requestTimeout.
func (s *session) start(ctx context.Context, clients int) error {
	s.r.progress("%s: starting cityops serve", s.name)
	srv, err := loadtool.Serve{Bin: s.r.bin, Args: loadtool.DBArgs([]string{"-addr", "127.0.0.1:0"}, s.dir, s.r.o.dsn), Log: s.log, Guard: guard, SysProcAttr: loadtool.ChildProcAttr()}.Start(ctx)
	if err != nil {
		return err
	}
	s.srv = srv
	s.api, err = newAPI(srv.URL, s.key, s.tenant, clients, requestTimeout)
	return err
}

// startCPU starts measuring the cores used, for cpuText.
func (s *session) startCPU() { s.cpu = loadtool.StartCPU(s.srv.Pid()) }

// close stops the server with SIGTERM and removes the data directory,
// unless the run keeps it or the scenario failed. An unclean stop is an
// error.
func (s *session) close(failed bool) error {
	var err error
	if s.api != nil {
		s.api.Close()
	}
	if s.srv != nil {
		took, serr := s.srv.Stop()
		if serr != nil {
			err = fmt.Errorf("stopping cityops (SIGTERM, %.1fs): %w\n%s", took.Seconds(), serr, loadtool.LogTail(s.log, 10))
		}
	}
	if err == nil && !failed && !s.r.o.keep {
		os.RemoveAll(s.dir)
	}
	return err
}

// finish closes the session and joins its error to the scenario's; the
// data of a failed scenario stays for a look.
func (s *session) finish(err *error) {
	if cerr := s.close(*err != nil); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}

// header prints a scenario's title and the load average at its start.
func (r *runner) header(title string) {
	r.printf("== %s\n", title)
	r.printf("  load avg    %s at the start of this scenario\n", loadtool.LoadAverage())
}
