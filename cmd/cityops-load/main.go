// Command cityops-load measures how many Open311 reports per second cityops
// accepts — POST /open311/v2/requests.json, each durable before its 201 —
// and compares it with a hello-world net/http handler loaded the same way
// in the same run. It then restarts cityops and checks that every accepted
// report is still there.
//
// Build cityops first, then run the tool:
//
//	go build -o /tmp/cityops ./cmd/cityops
//	go run ./cmd/cityops-load -cityops /tmp/cityops -duration 60s
//
// With PostgreSQL, give an EMPTY database on this machine; the demo data
// is loaded into it and the reports stay there afterwards:
//
//	psql -c 'create database load_test'
//	go run ./cmd/cityops-load -cityops /tmp/cityops -db postgres://USER@127.0.0.1/load_test
//
// cityops runs as a subprocess (`serve -demo` on 127.0.0.1:0 with a fresh
// temporary data directory); the baseline runs inside this process. The
// load client, the baseline and cityops share the machine's cores, as they
// would with any arrangement on one machine. All traffic stays on loopback
// addresses: other targets are refused.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// The goal for SQLite on a 2-core machine, printed as met or not
// so that a run answers the question it was made for.
const (
	goalRate     = 2000.0
	goalP99      = 50 * time.Millisecond
	goalDuration = 60 * time.Second
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the run failed, or accepted reports were lost
	exitUsage = 2 // the command line was wrong
)

// main turns Ctrl-C and SIGTERM into a cancelled run, so the cityops
// subprocess is always stopped, and exits with run's status.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line.
type options struct {
	duration, warmup time.Duration
	concurrency      int
	rate             float64
	bin, dsn         string
	skipBaseline     bool
}

// parseFlags parses and checks the command line; status is -1 when the
// run should go ahead.
func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("cityops-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long to measure each target, after the warm-up")
	fs.IntVar(&o.concurrency, "concurrency", 32, "`workers`: closed-loop clients, or in open loop the most requests in flight")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop target `req/s` (latency counts from the scheduled start); 0 = closed loop, as fast as the workers go")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "load each target this long before measuring (not counted)")
	fs.StringVar(&o.bin, "cityops", "", "`path` to a built cityops binary (go build -o /tmp/cityops ./cmd/cityops)")
	fs.StringVar(&o.dsn, "db", "", "postgres:// `URL` of an EMPTY database on this machine; empty = SQLite in a fresh temporary data directory")
	fs.BoolVar(&o.skipBaseline, "skip-baseline", false, "do not load the in-process hello-world baseline")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: cityops-load -cityops PATH [flags]\n\n"+
			"Loads POST /open311/v2/requests.json of a cityops subprocess and a hello-world\n"+
			"baseline the same way, then restarts cityops and checks every accepted report.\n\nFlags:\n")
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
	if o.bin == "" {
		problems = append(problems, "give -cityops PATH, a cityops binary built with: go build -o /tmp/cityops ./cmd/cityops")
	} else if st, err := os.Stat(o.bin); err != nil || st.IsDir() {
		problems = append(problems, fmt.Sprintf("-cityops %s: not a file (build it with: go build -o /tmp/cityops ./cmd/cityops)", o.bin))
	}
	if o.duration <= 0 || o.warmup < 0 {
		problems = append(problems, "-duration must be positive and -warmup not negative")
	}
	if o.concurrency < 1 {
		problems = append(problems, "-concurrency must be at least 1")
	}
	if o.rate < 0 {
		problems = append(problems, "-rate must not be negative")
	}
	if err := checkDSN(o.dsn); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "cityops-load: %s\n", p)
		}
		return o, exitUsage
	}
	return o, -1
}

// run is the whole program, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, st := parseFlags(args, stderr)
	if st >= 0 {
		return st
	}
	progress := loadtool.Progress(stderr, "cityops-load")
	fail := func(err error) int {
		progress("%v", err)
		return exitFail
	}

	w := stdout
	fmt.Fprintf(w, "cityops-load: Open311 POST /open311/v2/requests.json\n")
	loadtool.RunInfo{Tool: "cityops-load", Args: args, Binary: o.bin, BinName: "cityops binary",
		SharedBy: "the load client, the baseline and cityops"}.Write(func(format string, a ...any) { fmt.Fprintf(w, format, a...) })
	mode := "closed loop"
	if o.rate > 0 {
		mode = fmt.Sprintf("open loop at %g req/s", o.rate)
	}
	fmt.Fprintf(w, "load        %s, %d workers, %s warm-up then %s measured per target; one connection per worker\n",
		mode, o.concurrency, o.warmup, o.duration)

	dir, err := os.MkdirTemp("", "cityops-load-")
	if err != nil {
		return fail(err)
	}
	keep := false
	defer func() {
		if keep && ctx.Err() == nil { // an interrupted run leaves nothing worth keeping
			progress("data and server log kept in %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	logPath := filepath.Join(dir, "serve.log")
	if o.dsn == "" {
		fmt.Fprintf(w, "database    SQLite in a fresh data directory (%s)\n", dir)
	} else {
		fmt.Fprintf(w, "database    PostgreSQL %s (data directory %s)\n", loadtool.RedactDSN(o.dsn), dir)
	}
	fmt.Fprintf(w, "server      cityops as a subprocess (serve -demo -addr 127.0.0.1:0); baseline in this process\n")

	// The key comes first so that both targets get byte-for-byte the same
	// form; creating it also applies the migrations.
	progress("creating an API key with the open311:write scope")
	key, err := loadtool.CreateAPIKey(ctx, o.bin, dir, o.dsn, "load", "open311:write")
	if err != nil {
		keep = true
		return fail(err)
	}
	spec := loadSpec{APIKey: key, Concurrency: o.concurrency, Rate: o.rate, Warmup: o.warmup, Duration: o.duration}

	var base *result
	if !o.skipBaseline {
		u, stop, err := startBaseline()
		if err != nil {
			return fail(err)
		}
		s := spec
		s.URL, s.Check = u, checkOK
		cpu := &cpuMeter{pids: []string{"self"}}
		s.OnMeasure = cpu.start
		progress("loading the baseline at %s for %s + %s", u, o.warmup, o.duration)
		base, err = runLoad(ctx, s)
		stop()
		if err != nil {
			return fail(fmt.Errorf("baseline: %w", err))
		}
		fmt.Fprintf(w, "\nbaseline    net/http hello world in this process (handler writes \"ok\"), POST %s\n", u)
		printResult(w, base, "HTTP 200 \"ok\"", o.rate > 0)
		fmt.Fprintf(w, "  cpu         %s\n", cpu.report("load tool and baseline"))
	}

	progress("starting cityops serve -demo (migrations and demo data first)")
	srv, err := loadtool.Serve{Bin: o.bin, Args: loadtool.DBArgs([]string{"-demo", "-addr", "127.0.0.1:0"}, dir, o.dsn), Log: logPath, Guard: guard}.Start(ctx)
	if err != nil {
		keep = true
		return fail(err)
	}
	defer srv.Kill()
	s := spec
	s.URL, s.Check = srv.URL+"/open311/v2/requests.json", checkCreated
	cpu := &cpuMeter{pids: []string{srv.Pid(), "self"}}
	s.OnMeasure = cpu.start
	progress("loading cityops at %s for %s + %s", s.URL, o.warmup, o.duration)
	res, err := runLoad(ctx, s)
	if err != nil {
		keep = true
		return fail(fmt.Errorf("cityops: %w", err))
	}
	cpuText := cpu.report("cityops", "load tool")
	fmt.Fprintf(w, "\ncityops     POST %s (service_code %s, random points in central Huế)\n", s.URL, serviceCode)
	printResult(w, res, "HTTP 201 with a service_request_id", o.rate > 0)
	fmt.Fprintf(w, "  cpu         %s\n", cpuText)

	fmt.Fprintln(w)
	if base != nil && base.Throughput() > 0 {
		ratio := res.Throughput() / base.Throughput()
		fmt.Fprintf(w, "ratio       cityops/baseline throughput = %.1f/%.1f = %.4f (%.1f%%)\n",
			res.Throughput(), base.Throughput(), ratio, 100*ratio)
		if o.rate > 0 {
			fmt.Fprintf(w, "            (open loop: both are held to -rate %g, so compare the latencies instead)\n", o.rate)
		}
	} else {
		fmt.Fprintf(w, "ratio       n/a (no baseline)\n")
	}

	// Durability: stop as an init system would, start again without
	// -demo on the same data, and look every accepted id up.
	progress("stopping cityops with SIGTERM and starting it again on the same data")
	took, stopErr := srv.Stop()
	stopText := fmt.Sprintf("SIGTERM stop took %.1fs, clean exit", took.Seconds())
	if stopErr != nil {
		stopText = fmt.Sprintf("SIGTERM stop took %.1fs: %v", took.Seconds(), stopErr)
	}
	again, err := loadtool.Serve{Bin: o.bin, Args: loadtool.DBArgs([]string{"-addr", "127.0.0.1:0"}, dir, o.dsn), Log: logPath, Guard: guard}.Start(ctx)
	if err != nil {
		keep = true
		return fail(fmt.Errorf("restart: %w", err))
	}
	defer again.Kill()
	progress("looking up %d accepted ids at %s", res.IDs.Len(), again.URL)
	d, err := verifyDurable(ctx, again.URL, &res.IDs)
	if err != nil {
		keep = true
		return fail(fmt.Errorf("durability check: %w", err))
	}
	fmt.Fprintf(w, "durability  %d/%d accepted reports found after restart (warm-up included; %s)\n", d.Found, d.Unique, stopText)
	if d.Duplicates > 0 {
		fmt.Fprintf(w, "            %d ids were handed out more than once\n", d.Duplicates)
	}
	if d.Missing > 0 {
		fmt.Fprintf(w, "            MISSING %d, for example: %s\n", d.Missing, strings.Join(d.Sample, ", "))
	}
	if _, err := again.Stop(); err != nil {
		progress("stopping the restarted cityops: %v", err)
	}
	fmt.Fprintf(w, "goal        %s\n", goalText(res, d, o))

	switch {
	case d.Missing > 0 || d.Duplicates > 0:
		keep = true
		return exitFail
	case res.Accepted == 0:
		progress("cityops accepted no reports")
		keep = true
		return exitFail
	}
	return exitOK
}

// printResult prints one target's figures; accepted says what counted.
func printResult(w io.Writer, r *result, accepted string, openLoop bool) {
	fmt.Fprintf(w, "  sent        %d in %.2fs measured (warm-up, not counted: %d sent, %d accepted)\n",
		r.Sent, r.Elapsed.Seconds(), r.WarmupSent, r.WarmupAccepted)
	fmt.Fprintf(w, "  accepted    %d (%s)\n", r.Accepted, accepted)
	fmt.Fprintf(w, "  errors      %s\n", errorsText(r.Errors))
	fmt.Fprintf(w, "  throughput  %.1f accepted/s", r.Throughput())
	if len(r.PerSecond) > 0 {
		ps := slices.Clone(r.PerSecond)
		slices.Sort(ps)
		fmt.Fprintf(w, " (per whole second: min %d, median %d, max %d)", ps[0], ps[len(ps)/2], ps[len(ps)-1])
	}
	fmt.Fprintln(w)
	l := r.Latency
	fmt.Fprintf(w, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (exact, over all %d accepted)\n",
		ms(loadtool.Quantile(l, 500)), ms(loadtool.Quantile(l, 900)), ms(loadtool.Quantile(l, 990)), ms(loadtool.Quantile(l, 999)), ms(loadtool.Quantile(l, 1000)), len(l))
	if openLoop {
		fmt.Fprintf(w, "  schedule    %d of %d requests started over %s late (many: the workers could not keep up; raise -concurrency)\n",
			r.Late, r.Sent, lateAfter)
	}
}

// ms formats microseconds as milliseconds, one unit for every figure.
func ms(us uint32) string { return fmt.Sprintf("%.2fms", float64(us)/1000) }

// errorsText lists error kinds, the most frequent first.
func errorsText(m map[string]int64) string { return loadtool.ErrorsText(m, 0, ", ") }

// goalText says whether this run shows the goal, and if not, why.
func goalText(r *result, d *durability, o options) string {
	p99 := time.Duration(loadtool.Quantile(r.Latency, 990)) * time.Microsecond
	want := fmt.Sprintf("≥ %.0f accepted/s for %s with p99 < %s, all durable", goalRate, goalDuration, goalP99)
	var short []string
	if r.Throughput() < goalRate {
		short = append(short, fmt.Sprintf("%.1f accepted/s", r.Throughput()))
	}
	if p99 >= goalP99 {
		short = append(short, "p99 "+ms(loadtool.Quantile(r.Latency, 990)))
	}
	if d.Missing > 0 {
		short = append(short, fmt.Sprintf("%d reports lost", d.Missing))
	}
	if o.duration < goalDuration {
		short = append(short, fmt.Sprintf("only %s measured", o.duration))
	}
	if o.dsn != "" {
		want += " (the goal is set for SQLite; this is PostgreSQL)"
	}
	if len(short) == 0 {
		return want + ": met"
	}
	return want + ": NOT MET — " + strings.Join(short, "; ")
}

// cpuMeter measures how many cores processes use over the measured window,
// which shows whether the client or the server is the bottleneck.
type cpuMeter struct {
	mu   sync.Mutex
	pids []string
	t0   time.Time
	c0   []float64
	ok   bool
}

// start samples at the start of the window (called by runLoad).
func (m *cpuMeter) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t0, m.c0, m.ok = time.Now(), nil, true
	for _, p := range m.pids {
		c, ok := loadtool.CPUSeconds(p)
		m.c0 = append(m.c0, c)
		m.ok = m.ok && ok
	}
}

// report samples again and describes the use, one name per pid.
func (m *cpuMeter) report(names ...string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	wall := time.Since(m.t0).Seconds()
	if !m.ok || wall <= 0 {
		return "not measured (needs Linux /proc)"
	}
	var parts []string
	for i, p := range m.pids {
		c, ok := loadtool.CPUSeconds(p)
		if !ok {
			return "not measured (needs Linux /proc)"
		}
		parts = append(parts, fmt.Sprintf("%s %.2f cores", names[i], (c-m.c0[i])/wall))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" (of %d, over the measured window)", runtime.NumCPU())
}
