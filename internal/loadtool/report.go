package loadtool

import (
	"bytes"
	"cmp"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Quantile returns the nearest-rank quantile of sorted samples, with q in
// thousandths (500 = p50, 999 = p99.9, 1000 = max); integer arithmetic
// keeps the rank exact. It is 0 for no samples.
func Quantile[T cmp.Ordered](sorted []T, q int) T {
	n := len(sorted)
	if n == 0 {
		var zero T
		return zero
	}
	rank := (q*n + 999) / 1000
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Micros converts a latency to whole microseconds, saturating, so that
// millions of samples fit in little memory.
func Micros(d time.Duration) uint32 {
	us := d.Microseconds()
	if us < 0 {
		return 0
	}
	return uint32(min(us, 1<<32-1))
}

// CPUSeconds returns the CPU time (user + system) a process has used,
// from /proc on Linux; ok is false elsewhere. pid "self" is this process.
func CPUSeconds(pid string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if errors.Join(err1, err2) != nil {
		return 0, false
	}
	return (utime + stime) / 100, true // USER_HZ is 100 on Linux
}

// BinaryInfo describes the cityops binary from its embedded build
// information: Go version and source revision.
func BinaryInfo(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return path + " (no build information)"
	}
	s := path + ", " + bi.GoVersion
	var rev, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		s += ", revision " + rev
		if modified == "true" {
			s += " with uncommitted changes"
		}
	}
	return s
}

// plainArg matches arguments a shell prints without quotes.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// ShellQuote quotes an argument for a shell unless it needs no quotes.
func ShellQuote(a string) string {
	if plainArg.MatchString(a) {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// CommandLine reproduces tool's command line for the record, quoted for
// a shell, with any password in -db, or in another URL (a -broker's, say),
// hidden.
func CommandLine(tool string, args []string) string {
	out := []string{tool}
	redactNext := false
	for _, a := range args {
		switch {
		case redactNext:
			a, redactNext = RedactDSN(a), false
		case a == "-db" || a == "--db":
			redactNext = true
		case strings.HasPrefix(a, "-db=") || strings.HasPrefix(a, "--db="):
			k, v, _ := strings.Cut(a, "=")
			a = k + "=" + RedactDSN(v)
		case strings.Contains(a, "://"):
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
				a = k + "=" + RedactDSN(v)
			} else {
				a = RedactDSN(a)
			}
		}
		out = append(out, ShellQuote(a))
	}
	return strings.Join(out, " ")
}

// RunInfo says how a run was made, for the first lines of a report.
type RunInfo struct {
	Tool    string   // the command's name
	Args    []string // its arguments, as CommandLine records them
	Binary  string   // the cityops binary, described by BinaryInfo
	BinName string   // names the binary on the go line; "cityops" if empty
	// SharedBy says who shares the cores, as in "the load tool and
	// cityops".
	SharedBy string
	// LoadAverage adds a line with the load average at the start.
	LoadAverage bool
}

// Write prints the lines that say how the run was made: its command line,
// start, Go version and cityops binary, cores and, if asked, the load
// average.
func (ri RunInfo) Write(printf func(format string, a ...any)) {
	name := cmp.Or(ri.BinName, "cityops")
	printf("command     %s\n", CommandLine(ri.Tool, ri.Args))
	printf("started     %s\n", time.Now().Format(time.RFC3339))
	printf("go          %s %s/%s (load tool); %s: %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, name, BinaryInfo(ri.Binary))
	printf("cpus        %d (GOMAXPROCS %d), shared by %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), ri.SharedBy)
	if ri.LoadAverage {
		printf("load        average %s at start; other processes may share the cores\n", LoadAverage())
	}
}

// Progress returns a printf that writes one progress line to w, prefixed
// with the tool's name.
func Progress(w io.Writer, tool string) func(format string, a ...any) {
	return func(format string, a ...any) { fmt.Fprintf(w, tool+": "+format+"\n", a...) }
}
