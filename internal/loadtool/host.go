package loadtool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// BuildCityops builds ./cmd/cityops of the module the tool runs in into
// dir, for runs without a -cityops binary.
func BuildCityops(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "cityops")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cityops/cityops/cmd/cityops")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cityops (run from the repository, or give -cityops PATH): %w: %s", err, strings.TrimSpace(errb.String()))
	}
	return bin, nil
}

// LoadAverage is /proc/loadavg's first three fields: other processes on
// the machine share its cores with a measurement.
func LoadAverage() string {
	f := loadAvg()
	if len(f) < 3 {
		return "not available"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

// LoadAverage1 is the one-minute load average alone, for a table column;
// "?" where there is none.
func LoadAverage1() string {
	f := loadAvg()
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// loadAvg is /proc/loadavg's fields; none off Linux.
func loadAvg() []string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// CPUMeter measures how many cores the server and the load tool use over
// a phase, which shows whether the client competes with the server.
type CPUMeter struct {
	t0        time.Time
	srv, self float64 // CPU seconds at t0
	pid       string
	ok        bool
}

// StartCPU samples the server (by pid) and this process.
func StartCPU(pid string) *CPUMeter {
	m := &CPUMeter{t0: time.Now(), pid: pid}
	var ok1, ok2 bool
	m.srv, ok1 = CPUSeconds(pid)
	m.self, ok2 = CPUSeconds("self")
	m.ok = ok1 && ok2
	return m
}

// String samples again and describes the use since StartCPU.
func (m *CPUMeter) String() string {
	wall := time.Since(m.t0).Seconds()
	srv, ok1 := CPUSeconds(m.pid)
	self, ok2 := CPUSeconds("self")
	if !m.ok || !ok1 || !ok2 || wall <= 0 {
		return "not measured (needs Linux /proc)"
	}
	return fmt.Sprintf("cityops %.2f cores, load tool %.2f cores (of %d)", (srv-m.srv)/wall, (self-m.self)/wall, runtime.NumCPU())
}

// Thousands formats n with commas, as the benchmarks page does.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Rate formats a per-second figure without decimals, with commas.
func Rate(f float64) string { return Thousands(int64(f + 0.5)) }

// Bytes formats a size in binary units.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
