package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds how long cityops may take to print its URL:
// migrations and the demo data come first, slower on PostgreSQL.
const startTimeout = 3 * time.Minute

// stopTimeout is how long cityops may take to exit after SIGTERM; its own
// shutdown timeout for in-flight requests is 20 s.
const stopTimeout = 30 * time.Second

// runningPrefix starts the line cityops serve prints once it listens.
const runningPrefix = "cityops is running at "

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
// prints alone on stdout.
func createAPIKey(ctx context.Context, bin, data, dsn string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, dbArgs([]string{"apikey", "create", "-name", "load", "-scopes", "open311:write"}, data, dsn)...)
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
// for the line that gives its URL. The process is gone when it fails.
func startCityops(ctx context.Context, bin string, args []string, logPath string) (*cityopsProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = childEnv()
	cmd.Stderr = logf
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
		io.Copy(io.Discard, br) // the demo logins, and anything later
		p.waitErr = cmd.Wait()  // only after the pipe is drained
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

// okBody is the baseline's whole answer.
var okBody = []byte("ok")

// startBaseline starts the hello-world server the cityops figure is
// compared with: plain net/http on 127.0.0.1, in this process.
func startBaseline() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(okBody) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
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
	if err := errors.Join(err1, err2); err != nil {
		return 0, false
	}
	return (utime + stime) / 100, true // USER_HZ is 100 on Linux
}
