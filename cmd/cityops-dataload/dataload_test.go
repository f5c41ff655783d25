package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestScenarios runs a tiny version of every scenario against the real
// cityops, built from this repository, on SQLite (and on PostgreSQL when
// CITYOPS_TEST_PG is set), so that the tool keeps working as the server
// changes. Each scenario checks what the server stored or answered, and a
// wrong answer fails the run; the targets are not judged here.
func TestScenarios(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := loadtool.BuildCityops(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	small := []string{"-cityops", bin, "-scenario", "all,history", "-duration", "1s", "-clients", "2",
		"-stations", "20", "-request", "4000", "-entities", "300", "-days", "8", "-repeat", "2", "-n", "40000", "-window", "10000"}
	for _, dialect := range storagetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			args := small
			if dialect == storage.Postgres {
				args = append(args, "-db", storagetest.DSN(t, dialect))
			}
			var stdout, stderr bytes.Buffer
			if st := run(ctx, args, &stdout, &stderr); st != exitOK {
				t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", st, stdout.String(), stderr.String())
			}
			out := stdout.String()
			for _, want := range []string{
				"== upsert", "check       20 stations stored",
				"== bulk", "rows/s", "check       station 0:",
				"== query", `name=="Station …", limit 20, count=true`,
				"== temporal", "8-day span, PT1H", "month, PT1M",
				"== history", "ratio       last/first",
				"| upsert |", "| bulk |", "| query |", "| temporal |", "| history |",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the report lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "FAILED") {
				t.Errorf("a scenario failed:\n%s", out)
			}
		})
	}
}

// TestInterrupted checks that a cancelled history run still prints what it
// measured and exits with the interrupted status, the server stopped.
func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := loadtool.BuildCityops(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	time.AfterFunc(3*time.Second, stop)
	var stdout, stderr bytes.Buffer
	st := run(runCtx, []string{"-cityops", bin, "-scenario", "history", "-stations", "20", "-request", "4000",
		"-n", "1000000000", "-window", "8000"}, &stdout, &stderr)
	if st != exitInterrupted {
		t.Fatalf("run = %d, want %d\n%s\n%s", st, exitInterrupted, stdout.String(), stderr.String())
	}
	for _, want := range []string{"total ", "disk        at end", "interrupted"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestStreamLines checks that both line formats carry the same
// observations, every line a JSON object the bulk path reads.
func TestStreamLines(t *testing.T) {
	count := func(b []byte) (lines, obs int) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if e["type"] != entityType || !strings.HasPrefix(e["id"].(string), idPrefix) {
				t.Fatalf("line %q: wrong id or type", sc.Text())
			}
			lines++
			for _, a := range readingAttrs {
				switch v := e[a].(type) {
				case map[string]any:
					obs++
				case []any:
					obs += len(v)
				}
			}
		}
		return lines, obs
	}
	st := &stream{stations: 7, attrs: readingAttrs, start: dataStart, tag: "t-"}
	lines, obs := count(st.appendMinutes(nil, 3, 13))
	if lines != 140 || obs != 140 {
		t.Errorf("readings: %d lines, %d observations; want 140, 140", lines, obs)
	}
	st.perLine = 4
	lines, obs = count(st.appendMinutes(nil, 3, 13))
	if lines != 7*2*3 || obs != 140 {
		t.Errorf("temporal: %d lines, %d observations; want 42, 140", lines, obs)
	}
	if got := minutesPerRequest(st, 1000); got != 68 {
		t.Errorf("minutesPerRequest = %d, want 68 (71 rounded down to whole lines of 4)", got)
	}

	var batch []map[string]any
	if err := json.Unmarshal(appendUpsertBatch(nil, 95, 10, 100, 2), &batch); err != nil || len(batch) != 10 {
		t.Fatalf("upsert batch: %v, %d entities", err, len(batch))
	}
	// Update 100 is station 0's second: a minute after its first.
	if batch[5]["id"] != idPrefix+"hue-00000" || batch[5]["pm25"].(map[string]any)["observedAt"] != "2026-01-01T00:01:00Z" {
		t.Errorf("upsert batch entity 5: %v", batch[5])
	}
	var e map[string]any
	if err := json.Unmarshal(appendQueryEntity(nil, 42, []byte("2026-01-01T00:00:00Z")), &e); err != nil || len(e) != 2+queryAttrs {
		t.Errorf("query entity: %v, %v", err, e)
	}
}

// TestQueryShapes checks the expected matches against a count by hand of
// the skewed pm25: a selective and an unselective filter.
func TestQueryShapes(t *testing.T) {
	shapes := queryShapes(100_000, true)
	if len(shapes) != 8 {
		t.Fatalf("%d shapes", len(shapes))
	}
	if pages := queryShapes(100_000, false); len(pages) != 4 || slices.ContainsFunc(pages, func(s queryShape) bool { return s.count }) {
		t.Fatalf("without counts: %d shapes, %+v", len(pages), pages)
	}
	over80, both := shapes[1].want, shapes[2].want
	if over80 < 3000 || over80 > 6000 || both < 5000 || both > 20000 || shapes[3].want != 1 {
		t.Errorf("matches: pm25>80 %d, pm25>20;no2<40 %d, name %d", over80, both, shapes[3].want)
	}
}

// TestRefuseNonLoopback checks that targets and databases off this
// machine are refused before any traffic.
func TestRefuseNonLoopback(t *testing.T) {
	t.Setenv("PGHOST", "")
	t.Setenv("PGSERVICE", "")
	if err := checkDSN("/tmp/x.db"); err == nil || !strings.Contains(err.Error(), "want a postgres:// URL on 127.0.0.1") {
		t.Errorf("checkDSN(/tmp/x.db) = %v", err)
	}
	if _, err := newAPI("http://192.0.2.1:8080", "k", "", 1, time.Second); !errors.Is(err, loadtool.ErrNotLoopback) {
		t.Errorf("newAPI to 192.0.2.1: %v", err)
	}
	var stderr bytes.Buffer
	if st := run(context.Background(), []string{"-db", "postgres://u@example.com/db"}, &bytes.Buffer{}, &stderr); st != exitUsage ||
		!strings.Contains(stderr.String(), "not a loopback address") {
		t.Errorf("run with a remote -db = %d, %q", st, stderr.String())
	}
}

// TestCommandLine checks the recorded command line hides a -db password.
func TestCommandLine(t *testing.T) {
	got := loadtool.CommandLine("cityops-dataload", []string{"-db", "postgres://u:secret@127.0.0.1/x", "-scenario", "bulk", "a b"})
	want := "cityops-dataload -db postgres://u:xxxxx@127.0.0.1/x -scenario bulk 'a b'"
	if got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}
