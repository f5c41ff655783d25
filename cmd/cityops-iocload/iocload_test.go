package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage/storagetest"
)

// buildDir holds the cityops binary the tests build once.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "iocload-test-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cityopsBin builds cityops from this repository, once.
var cityopsBin = sync.OnceValues(func() (string, error) {
	return loadtool.BuildCityops(context.Background(), buildDir)
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := cityopsBin()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// watcher is a progress writer that calls on once a line contains text.
type watcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	text string
	on   func()
	done bool
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.text) {
		w.done = true
		w.on()
	}
	return len(p), nil
}

// dsnArgs runs the scenarios on PostgreSQL as well when CITYOPS_TEST_PG
// is set (each in a schema of the run's own, dropped afterwards).
func dsnArgs() map[string][]string {
	out := map[string][]string{"sqlite": nil}
	if pg := os.Getenv(storagetest.PGEnv); pg != "" {
		out["postgres"] = []string{"-db", pg}
	}
	return out
}

// TestDashboard runs a tiny dashboard scenario against the real cityops,
// built from this repository: every endpoint answers with real work
// behind it and has its line in the table.
func TestDashboard(t *testing.T) {
	bin := binary(t)
	for name, extra := range dsnArgs() {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append([]string{"-cityops", bin, "-scenario", "dashboard", "-cases", "2000", "-readings", "20000", "-alarms", "500",
				"-duration", "2s", "-warmup", "0s", "-clients", "4"}, extra...)
			var stdout, stderr bytes.Buffer
			if st := run(ctx, args, &stdout, &stderr); st != exitOK {
				t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", st, stdout.String(), stderr.String())
			}
			out := stdout.String()
			for _, want := range []string{"== dashboard", "readings    20,007 stored", "cases       2,000 reports", "200 of them open",
				"every dashboard data endpoint p95 < 100 ms", "| dashboard | none: GET /healthz"} {
				if !strings.Contains(out, want) {
					t.Errorf("the report lacks %q:\n%s", want, out)
				}
			}
			for _, e := range dashboardEndpoints {
				line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(e.path) + ` +[0-9,]+ +0 +[0-9.]+ ms`)
				if !line.MatchString(out) {
					t.Errorf("no table line for %s with requests and no error:\n%s", e.path, out)
				}
				if !strings.Contains(out, "  check       "+e.path) {
					t.Errorf("no check line for %s", e.path)
				}
			}
			if strings.Contains(out, "FAILED") {
				t.Errorf("the scenario failed:\n%s", out)
			}
		})
	}
}

// TestAlarms runs a tiny alarms scenario end to end: readings over MQTT,
// rules imported, crossings followed to their alarms on the live stream.
func TestAlarms(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-cityops", bin, "-scenario", "alarms", "-rate", "500", "-rules", "50", "-devices", "40", "-publishers", "2",
		"-crossings", "5", "-duration", "3s", "-warmup", "1s"}
	var stdout, stderr bytes.Buffer
	if st := run(ctx, args, &stdout, &stderr); st != exitOK {
		t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", st, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"== alarms", "50 enabled rules imported", "the engine evaluates", "dropped 0",
		"reading → alarm → browser p99 < 1 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`crossings   ([0-9,]+) started; their alarm on the stream: ([0-9,]+) raised`).FindStringSubmatch(out)
	if m == nil || m[2] == "0" {
		t.Fatalf("no crossing raised its alarm:\n%s", out)
	}
	lat := regexp.MustCompile(`latency     publish → .alarm. event: p50 ([0-9.]+) ms.*\(([0-9,]+) seen\)`).FindStringSubmatch(out)
	if lat == nil || lat[2] == "0" {
		t.Fatalf("no alarm latency:\n%s", out)
	}
	if p50, _ := strconv.ParseFloat(lat[1], 64); p50 <= 0 || p50 > 5000 {
		t.Errorf("p50 %s ms", lat[1])
	}
}

// TestAlarmsInterrupted checks that Ctrl-C while publishing prints what
// was measured and exits with the interrupted status.
func TestAlarmsInterrupted(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stderr := &watcher{text: "alarms: publishing for", on: func() { time.AfterFunc(2*time.Second, stop) }}
	st := run(runCtx, []string{"-cityops", bin, "-scenario", "alarms", "-rate", "200", "-rules", "40", "-devices", "20",
		"-publishers", "1", "-crossings", "2", "-duration", "1m", "-warmup", "0s"}, &stdout, stderr)
	if st != exitInterrupted {
		t.Fatalf("run = %d, want %d\n%s\n%s", st, exitInterrupted, stdout.String(), stderr.buf.String())
	}
	for _, want := range []string{"published ", "crossings ", "interrupted"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestUsage checks that bad command lines are refused with a reason and
// the usage status, before anything runs.
func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "nope"}, `-scenario "nope"`},
		{[]string{"-cases", "0"}, "-cases, -readings and -clients must be at least 1"},
		{[]string{"-rate", "0"}, "-rate, -rules"},
		{[]string{"-devices", "10", "-publishers", "4"}, "a multiple of -publishers"},
		{[]string{"-crossings", "500", "-rate", "1000"}, "at most a tenth of -rate"},
		{[]string{"-duration", "-1s"}, "-duration must be positive"},
		{[]string{"-warmup", "soon"}, "want a duration"},
		{[]string{"-cityops", "/nonexistent/cityops"}, "not a file"},
		{[]string{"-db", "cityops.db"}, "want a postgres:// URL"},
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		if st := run(context.Background(), tt.args, &out, &errb); st != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: status %d, %q; want %d with %q", tt.args, st, errb.String(), exitUsage, tt.want)
		}
		if out.Len() > 0 {
			t.Errorf("%v: printed a report: %s", tt.args, out.String())
		}
	}
	var out, errb bytes.Buffer
	if st := run(context.Background(), []string{"-h"}, &out, &errb); st != exitOK || !strings.Contains(errb.String(), "Usage: cityops-iocload") {
		t.Errorf("-h: status %d, %q", st, errb.String())
	}
}

// TestRefuseNonLoopback checks that databases and brokers off this
// machine are refused before any traffic.
func TestRefuseNonLoopback(t *testing.T) {
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "")
	if err := checkDSN("/tmp/x.db"); err == nil || !strings.Contains(err.Error(), "want a postgres:// URL on 127.0.0.1") {
		t.Errorf("checkDSN(/tmp/x.db) = %v", err)
	}
	var stderr bytes.Buffer
	if st := run(context.Background(), []string{"-db", "postgres://u:secret@db.example.com/x"}, &bytes.Buffer{}, &stderr); st != exitUsage ||
		!strings.Contains(stderr.String(), "not a loopback address") || strings.Contains(stderr.String(), "secret") {
		t.Errorf("run with a remote -db = %d, %q", st, stderr.String())
	}
	log := filepath.Join(t.TempDir(), "serve.log")
	os.WriteFile(log, []byte(`{"level":"INFO","msg":"mqtt broker listening","address":"10.0.0.7:1883"}`+"\n"), 0o600)
	if _, err := brokerAddress(log); !errors.Is(err, loadtool.ErrNotLoopback) {
		t.Errorf("broker on 10.0.0.7: %v", err)
	}
	os.WriteFile(log, []byte(`{"level":"INFO","msg":"mqtt broker listening","address":"127.0.0.1:41883"}`+"\n"), 0o600)
	if addr, err := brokerAddress(log); err != nil || addr != "127.0.0.1:41883" {
		t.Errorf("broker on loopback: %q, %v", addr, err)
	}
}

// TestRules checks the rule import: every rule valid, one trigger per
// type, and no quiet rule met by the devices' normal readings.
func TestRules(t *testing.T) {
	w := newWorld(options{types: 40, devices: 2000, rules: 1000})
	b, mix := w.rulesCSV()
	rules, err := cityops.ParseAlarmRulesCSV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1000 || mix.triggers != 40 || mix.caseTriggers != caseTypes || mix.silents == 0 || mix.rates == 0 || mix.counts == 0 {
		t.Fatalf("%d rules, mix %+v", len(rules), mix)
	}
	lo := map[string]float64{"level": 10, "temperature": 20, "humidity": 40, "flow": 1}
	hi := map[string]float64{"level": 20, "temperature": 30, "humidity": 60, "flow": 5}
	for _, r := range rules {
		if !r.Enabled {
			t.Errorf("%s disabled", r.Code)
		}
		switch {
		case strings.HasSuffix(r.Code, "-00"):
			if r.Attr != "level" || r.Value != triggerAbove || r.ClearLevel() != triggerClear || r.ForMinutes != 0 {
				t.Errorf("trigger %s: %+v", r.Code, r)
			}
			if cityops.Compare(hi["level"], r.Op, r.Value) || !cityops.Compare(crossingLow, r.Op, r.Value) ||
				cityops.Compare(hi["level"], r.Op, r.ClearLevel()) {
				t.Errorf("trigger %s: normal readings or crossings on the wrong side", r.Code)
			}
		case r.Kind == cityops.RuleThreshold || r.Kind == cityops.RuleCount:
			if cityops.Compare(lo[r.Attr], r.Op, r.Value) || cityops.Compare(hi[r.Attr], r.Op, r.Value) || r.Attr == "level" && r.Kind == cityops.RuleCount {
				t.Errorf("%s (%s %s %g) is met by normal readings", r.Code, r.Attr, r.Op, r.Value)
			}
			if r.Attr == "level" && cityops.Compare(crossingLow+80, r.Op, r.Value) {
				t.Errorf("%s is met by the crossings", r.Code)
			}
		case r.Kind == cityops.RuleRate:
			width := hi[r.Attr] - lo[r.Attr]
			if r.Attr == "level" || cityops.Compare(width, r.Op, r.Value) || cityops.Compare(-width, r.Op, r.Value) {
				t.Errorf("%s (rate of %s %s %g) is met by normal readings", r.Code, r.Attr, r.Op, r.Value)
			}
		case r.Kind == cityops.RuleSilent:
			if r.WindowMinutes < 60 {
				t.Errorf("%s: a silence of %d minutes may fire in a run", r.Code, r.WindowMinutes)
			}
		}
	}
	for seq := range 10000 {
		for i := range measurements {
			v := normal(i, seq)
			if name := measurements[i].attr; v < lo[name] || v > hi[name] {
				t.Fatalf("normal(%d, %d) = %g, outside [%g, %g]", i, seq, v, lo[name], hi[name])
			}
		}
	}
}

// TestReadingStream checks that the readings are NDJSON the bulk path
// reads, as many as announced, within the demo alarm rules' normal
// ranges.
func TestReadingStream(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	st := newReadingStream(10_000, now)
	if st.series != 81 || st.minutes != 124 || !st.at(st.minutes).Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("%d series, %d minutes, ending %v", st.series, st.minutes, st.at(st.minutes))
	}
	// The demo's rules (demo/alarm_rules.csv) that the history must not
	// meet: their levels, as upper (or lower) bounds.
	below := map[string]float64{"pm25": 15, "currentLevel": 1.0, "occupancy": 0.98, "bedOccupancyRate": 88, "visitorCount": 2200}
	above := map[string]float64{"averageVehicleSpeed": 15, "attendanceRate": 70}
	obs := 0
	sc := bufio.NewScanner(bytes.NewReader(st.appendMinutes(nil, 0, st.minutes)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for k, v := range e {
			l, ok := v.([]any)
			if !ok {
				continue
			}
			for _, x := range l {
				val := x.(map[string]any)["value"].(float64)
				if b, ok := below[k]; ok && val >= b {
					t.Errorf("%s %s = %g, not under %g", e["id"], k, val, b)
				}
				if b, ok := above[k]; ok && val <= b {
					t.Errorf("%s %s = %g, not over %g", e["id"], k, val, b)
				}
				obs++
			}
		}
	}
	if want := int(st.minutes) * st.series; obs != want {
		t.Errorf("%d observations, want %d", obs, want)
	}
}

// TestParseMetrics checks the reading of the Prometheus text format.
func TestParseMetrics(t *testing.T) {
	m := parseMetrics([]byte(`# HELP cityops_mqtt_messages_total MQTT measurements by outcome.
# TYPE cityops_mqtt_messages_total counter
cityops_mqtt_messages_total{outcome="accepted"} 1.2345e+06
cityops_mqtt_messages_total{outcome="dropped"} 0
cityops_alarm_changes_total 42
go_info{version="go1.26"} 1
odd_line
`))
	if m.count(mAccepted) != 1234500 || m.count(mDropped) != 0 || m.count(mChanges) != 42 || m[`go_info{version="go1.26"}`] != 1 || len(m) != 4 {
		t.Errorf("parsed %v", m)
	}
}
