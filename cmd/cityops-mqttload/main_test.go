package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cityops/cityops/internal/loadtool"
)

// TestRun runs a small load end to end against the embedded broker and
// SQLite: every message is accepted and every followed one is found.
func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	st := run(context.Background(), []string{"-devices", "10", "-rate", "400", "-duration", "1s", "-warmup", "0s",
		"-sample-every", "20", "-publishers", "2"}, &out, &errb)
	if st != exitOK {
		t.Fatalf("status %d\n%s\n%s", st, out.String(), errb.String())
	}
	for _, want := range []string{
		"baseline    same broker",
		"  accepted    400; rejected 0; dropped 0; lost between broker and ingest 0 (",
		"(20 followed; 0 never seen)",
		"cityops     MeasureBatch into sqlite",
		"goal        ≥ 20000 accepted/s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-broker", "tcp://10.1.2.3:1883"}, "not a loopback address"},
		{[]string{"-broker", "http://127.0.0.1:1883"}, "want tcp://HOST:PORT"},
		{[]string{"-db", "postgres://u:secret@db.example.com/x"}, "refusing -db postgres://u:xxxxx@db.example.com/x"},
		{[]string{"-db", "cityops.db"}, "want a postgres:// URL"},
		{[]string{"-rate", "0", "-devices", "0"}, "-devices, -publishers"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		if st := run(context.Background(), tt.args, &out, &errb); st != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: status %d, %q; want %d with %q", tt.args, st, errb.String(), exitUsage, tt.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := loadtool.CommandLine("cityops-mqttload", []string{"-db", "postgres://u:secret@127.0.0.1/x", "-broker=tcp://a:b@127.0.0.1:1883", "-rate", "1e4"})
	want := "cityops-mqttload -db postgres://u:xxxxx@127.0.0.1/x -broker=tcp://a:xxxxx@127.0.0.1:1883 -rate 1e4"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
