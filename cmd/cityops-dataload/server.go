package main

// The cityops subprocess, as cmd/cityops-load runs it: `cityops apikey
// create` for credentials (which also migrates the database), then
// `cityops serve` on 127.0.0.1:0, stopped with SIGTERM. The process
// handling repeats cityops-load's server.go in a reduced form, for the
// reason given in guard.go.

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds how long cityops may take to print its URL.
const startTimeout = 3 * time.Minute

// stopTimeout is how long cityops may take to exit after SIGTERM; its own
// shutdown timeout for in-flight requests is 20 s.
const stopTimeout = 30 * time.Second

// runningPrefix starts the line cityops serve prints once it listens.
const runningPrefix = "cityops is running at "

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

// childEnv is this process's environment without CITYOPS_* variables, so
// that the server's settings come only from the flags this tool passes.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CITYOPS_") {
			env = append(env, kv)
		}
	}
	return env
}

// dbArgs appends the database flags shared by every cityops command.
func dbArgs(args []string, data, dsn string) []string {
	args = append(args, "-data", data)
	if dsn != "" {
		args = append(args, "-db", dsn)
	}
	return args
}

// createAPIKey runs `cityops apikey create` and returns the key, which it
// prints alone on stdout. It migrates the database first.
func createAPIKey(ctx context.Context, bin, data, dsn string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, dbArgs([]string{"apikey", "create", "-name", "dataload", "-scopes", "data:write,data:read"}, data, dsn)...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s apikey create: %w: %s", bin, err, strings.TrimSpace(errb.String()))
	}
	key := strings.TrimSpace(out.String())
	if key == "" || strings.ContainsAny(key, " \t\n") {
		return "", fmt.Errorf("%s apikey create printed %q, want only the key", bin, out.String())
	}
	return key, nil
}

// cityopsProc is a running `cityops serve` subprocess.
type cityopsProc struct {
	cmd     *exec.Cmd
	URL     string        // base URL, checked to be on a loopback address
	exited  chan struct{} // closed once the process has exited
	waitErr error         // its exit status, valid after exited
}

// startCityops runs `cityops serve ARGS`, logging to logPath, and waits
// for the line that gives its URL. The process is gone when it fails. It
// runs in a process group of its own, so that Ctrl-C reaches only this
// tool, which then stops it with SIGTERM after printing what it measured.
func startCityops(ctx context.Context, bin string, args []string, logPath string) (*cityopsProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = childEnv()
	cmd.Stderr = logf
	cmd.SysProcAttr = childProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &cityopsProc{cmd: cmd, exited: make(chan struct{})}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		first <- line
		io.Copy(io.Discard, br)
		p.waitErr = cmd.Wait() // only after the pipe is drained
		close(p.exited)
	}()
	fail := func(err error) (*cityopsProc, error) {
		p.kill()
		return nil, fmt.Errorf("%w\n%s", err, logTail(logPath, 15))
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, runningPrefix) {
			<-p.exited
			return fail(fmt.Errorf("cityops serve did not start (%v); it printed %q", p.waitErr, line))
		}
		p.URL = strings.TrimSpace(strings.TrimPrefix(line, runningPrefix))
		if err := checkTargetURL(p.URL); err != nil {
			return fail(err)
		}
		return p, nil
	case <-timer.C:
		return fail(fmt.Errorf("cityops serve did not print its URL within %s", startTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// pid is the process id, as /proc names it.
func (p *cityopsProc) pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

// stop sends SIGTERM, as an init system would, and waits for a clean exit,
// killing the process if it takes longer than stopTimeout.
func (p *cityopsProc) stop() (time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.kill()
		return time.Since(t0), fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.exited:
		return time.Since(t0), p.waitErr
	case <-time.After(stopTimeout):
		p.kill()
		return time.Since(t0), fmt.Errorf("did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

// kill ends the process at once if it still runs, and waits for it; it is
// the cleanup on every error path.
func (p *cityopsProc) kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail returns the last n lines of the server log, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "last lines of " + path + ":\n" + strings.Join(lines, "\n")
}

// cpuSeconds returns the CPU time (user + system) a process has used, from
// /proc on Linux; ok is false elsewhere. pid "self" is this process.
func cpuSeconds(pid string) (float64, bool) {
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
	m.srv, ok1 = cpuSeconds(pid)
	m.self, ok2 = cpuSeconds("self")
	m.ok = ok1 && ok2
	return m
}

// String samples again and describes the use since startCPU.
func (m *cpuMeter) String() string {
	wall := time.Since(m.t0).Seconds()
	srv, ok1 := cpuSeconds(m.pid)
	self, ok2 := cpuSeconds("self")
	if !m.ok || !ok1 || !ok2 || wall <= 0 {
		return "not measured (needs Linux /proc)"
	}
	return fmt.Sprintf("cityops %.2f cores, load tool %.2f cores (of %d)", (srv-m.srv)/wall, (self-m.self)/wall, m.ncpu)
}

// binaryInfo describes the cityops binary from its embedded build
// information: Go version and source revision.
func binaryInfo(path string) string {
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
