package main

// The cityops subprocess (run through internal/loadtool, as
// cmd/cityops-load runs it): building it when no -cityops is given, and
// measuring what it and this tool use of the machine.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// buildCityops builds ./cmd/cityops of the module the tool runs in into
// dir, for runs without -cityops.
func buildCityops(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "cityops")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cityops/cityops/cmd/cityops")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cityops (run from the repository, or give -cityops PATH): %w: %s", err, strings.TrimSpace(errb.String()))
	}
	return bin, nil
}

// cpuMeter measures how many cores the server and this tool use over a
// phase, which shows whether the client competes with the server.
type cpuMeter struct {
	t0        time.Time
	srv, self float64 // CPU seconds at t0
	pid       string
	ok        bool
	ncpu      int
}

// startCPU samples the server (by pid) and this process.
func startCPU(pid string, ncpu int) *cpuMeter {
	m := &cpuMeter{t0: time.Now(), pid: pid, ncpu: ncpu}
	var ok1, ok2 bool
	m.srv, ok1 = loadtool.CPUSeconds(pid)
	m.self, ok2 = loadtool.CPUSeconds("self")
	m.ok = ok1 && ok2
	return m
}

// String samples again and describes the use since startCPU.
func (m *cpuMeter) String() string {
	wall := time.Since(m.t0).Seconds()
	srv, ok1 := loadtool.CPUSeconds(m.pid)
	self, ok2 := loadtool.CPUSeconds("self")
	if !m.ok || !ok1 || !ok2 || wall <= 0 {
		return "not measured (needs Linux /proc)"
	}
	return fmt.Sprintf("cityops %.2f cores, load tool %.2f cores (of %d)", (srv-m.srv)/wall, (self-m.self)/wall, m.ncpu)
}

// loadAverage is /proc/loadavg's first three fields: other processes on
// the machine share its cores with the measurement.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "not available"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "not available"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

// loadAverage1 is the one-minute load average alone, for a table column.
func loadAverage1() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
