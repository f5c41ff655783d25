// Command cityops-mqttload measures how many MQTT measurements a second
// cityops stores, and how long a measurement takes from publication until
// storage returns it. It registers -devices devices in a fresh database,
// publishes -rate messages a second across them (QoS 1, IoT Agent JSON
// topics /{key}/{deviceId}/attrs) for -duration, and follows one message
// in -sample-every, each with a unique TimeInstant and value: once storage
// reports its commit (an entity listener), History is asked for it, and
// its latency runs from when it was due to be published until History
// returns it.
//
// In the same run it measures a baseline: the same broker, subscription,
// parsing, queue and batches, with a device service that counts and
// discards instead of storing, so that the difference is the database.
//
//	go run ./cmd/cityops-mqttload -duration 30s                  # embedded broker, SQLite
//	go run ./cmd/cityops-mqttload -broker tcp://127.0.0.1:1883   # an external broker such as Mosquitto
//	go run ./cmd/cityops-mqttload -db 'postgres://USER@127.0.0.1:5432/DB?sslmode=disable'
//
// Everything runs in this process, as in `cityops serve -mqtt-listen`:
// the broker (mochi-mqtt, unless -broker names another), the ingestion,
// the database client and the publishers share the machine's cores.
// SQLite lives in a temporary directory; on PostgreSQL the run makes a
// schema of its own and drops it afterwards. Traffic stays on loopback
// addresses: other brokers and database hosts are refused.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// The goal on a 2-core machine, printed as met or not.
const (
	goalRate = 20000.0
	goalP99  = time.Second
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line.
type options struct {
	devices, publishers, sampleEvery, inflight int
	rate                                       float64
	duration, warmup                           time.Duration
	broker, dsn, cpuProfile                    string
	batch, queue, writers, subscribers         int
	batchWait                                  time.Duration
	skipBaseline, keep                         bool
}

func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("cityops-mqttload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.devices, "devices", 1000, "`number` of devices registered, each feeding its own entity")
	fs.Float64Var(&o.rate, "rate", goalRate, "`messages/s` published, spread evenly over the devices (open loop)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to publish and measure, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "publish this long before measuring (not counted)")
	fs.IntVar(&o.publishers, "publishers", 4, "publishing MQTT `connections`")
	fs.IntVar(&o.inflight, "inflight", 2000, "most unacknowledged QoS 1 `messages` per connection")
	fs.IntVar(&o.sampleEvery, "sample-every", 500, "follow one message in `N` from publication until storage returns it")
	fs.StringVar(&o.broker, "broker", "", "external broker `URL` such as tcp://127.0.0.1:1883 (loopback only); empty runs cityops's embedded broker on 127.0.0.1:0")
	fs.StringVar(&o.dsn, "db", "", "postgres:// `URL` on this machine (a schema of the run's own is made and dropped); empty = SQLite in a temporary directory")
	fs.IntVar(&o.batch, "batch", 0, "ingest batch `size` (0: cityops's default)")
	fs.DurationVar(&o.batchWait, "batch-wait", 0, "ingest batch wait (0: cityops's default)")
	fs.IntVar(&o.queue, "queue", 0, "ingest queue `size` (0: cityops's default)")
	fs.IntVar(&o.writers, "writers", 0, "ingest `writers` (0: as serve, 1 for SQLite and 4 for PostgreSQL)")
	fs.IntVar(&o.subscribers, "subscribers", 1, "with -broker: ingest `connections` sharing the subscription ($share/cityops/…)")
	fs.BoolVar(&o.skipBaseline, "skip-baseline", false, "do not measure the baseline")
	fs.BoolVar(&o.keep, "keep", false, "keep the SQLite directory or PostgreSQL schema afterwards")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the cityops run to `file` (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: cityops-mqttload [flags]\n\n"+
			"Publishes measurements over MQTT to cityops's ingestion and measures accepted\n"+
			"messages/s and publish→queryable latency, with a no-storage baseline.\n\nFlags:\n")
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
	if o.devices < 1 || o.publishers < 1 || o.sampleEvery < 1 || o.inflight < 1 || o.subscribers < 1 {
		problems = append(problems, "-devices, -publishers, -subscribers, -sample-every and -inflight must be at least 1")
	}
	if !(o.rate > 0) || o.duration <= 0 || o.warmup < 0 {
		problems = append(problems, "-rate and -duration must be positive, -warmup not negative")
	}
	if err := checkBroker(o.broker); err != nil {
		problems = append(problems, err.Error())
	}
	if err := checkDSN(o.dsn); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "cityops-mqttload: %s\n", p)
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
	progress := loadtool.Progress(stderr, "cityops-mqttload")
	fail := func(err error) int {
		progress("%v", err)
		return exitFail
	}
	w := stdout
	fmt.Fprintf(w, "cityops-mqttload: MQTT measurements /{key}/{deviceId}/attrs, QoS 1\n")
	fmt.Fprintf(w, "command     %s\n", loadtool.CommandLine("cityops-mqttload", args))
	fmt.Fprintf(w, "started     %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "go          %s %s/%s; cpus %d (GOMAXPROCS %d), shared by publishers, broker, ingestion and database client\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "load        %g messages/s over %d devices (each %.2f/s) on %d connections, %s warm-up then %s measured; 1 in %d followed\n",
		o.rate, o.devices, o.rate/float64(o.devices), o.publishers, o.warmup, o.duration, o.sampleEvery)

	env, err := setup(ctx, o, progress)
	if env != nil {
		defer env.close()
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(w, "database    %s\n", env.dbText)
	fmt.Fprintf(w, "broker      %s\n", env.brokerText)
	fmt.Fprintf(w, "ingest      queue %d, batches of up to %d messages or %s, %d writer(s)\n", env.queue, env.batch, env.batchWait, env.writers)

	var base *result
	if !o.skipBaseline {
		progress("baseline: publishing for %s + %s to an ingest that counts and discards", o.warmup, o.duration)
		base, err = env.measure(ctx, o, false, progress)
		if err != nil {
			return fail(fmt.Errorf("baseline: %w", err))
		}
		fmt.Fprintf(w, "\nbaseline    same broker, subscription, parsing, queue and batches; the device service counts and discards\n")
		base.print(w, "handed to storage")
	}
	progress("cityops: publishing for %s + %s to the ingest writing to %s", o.warmup, o.duration, env.db.Dialect())
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
	}
	res, err := env.measure(ctx, o, true, progress)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return fail(fmt.Errorf("cityops: %w", err))
	}
	fmt.Fprintf(w, "\ncityops     MeasureBatch into %s\n", env.db.Dialect())
	res.print(w, "queryable (History returns it)")
	fmt.Fprintln(w)
	if base != nil && base.Throughput() > 0 {
		fmt.Fprintf(w, "ratio       cityops/baseline accepted/s = %.0f/%.0f = %.1f%%\n", res.Throughput(), base.Throughput(), 100*res.Throughput()/base.Throughput())
	}
	fmt.Fprintf(w, "goal        %s\n", goalText(res, o))
	if res.Accepted == 0 {
		return exitFail
	}
	return exitOK
}

// goalText says whether the run shows the goal, and if not, why.
func goalText(r *result, o options) string {
	want := fmt.Sprintf("≥ %.0f accepted/s with p99 publish→queryable < %s", goalRate, goalP99)
	var short []string
	if r.Throughput() < goalRate {
		short = append(short, fmt.Sprintf("%.0f accepted/s", r.Throughput()))
	}
	if p99 := r.quantile(990); p99 >= goalP99 || len(r.Latency) == 0 {
		short = append(short, "p99 "+ms(p99))
	}
	if r.Dropped > 0 || r.Rejected > 0 || r.Unseen > 0 {
		short = append(short, fmt.Sprintf("%d dropped, %d rejected, %d samples never queryable", r.Dropped, r.Rejected, r.Unseen))
	}
	if o.rate < goalRate {
		short = append(short, fmt.Sprintf("only %g messages/s offered", o.rate))
	}
	if o.dsn != "" {
		want += " (set for SQLite; this is PostgreSQL)"
	}
	if len(short) == 0 {
		return want + ": met"
	}
	return want + ": NOT MET — " + strings.Join(short, "; ")
}
