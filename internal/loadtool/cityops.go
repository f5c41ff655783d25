package loadtool

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// ChildEnv is this process's environment without CITYOPS_* variables, so
// that the server's settings come only from the flags the tool passes.
func ChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CITYOPS_") {
			env = append(env, kv)
		}
	}
	return env
}

// DBArgs appends the database flags shared by every cityops command.
func DBArgs(args []string, data, dsn string) []string {
	args = append(args, "-data", data)
	if dsn != "" {
		args = append(args, "-db", dsn)
	}
	return args
}

// CreateAPIKey runs `cityops apikey create -name NAME -scopes SCOPES` and
// returns the key, which it prints alone on stdout. It migrates the
// database first.
func CreateAPIKey(ctx context.Context, bin, data, dsn, name, scopes string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, DBArgs([]string{"apikey", "create", "-name", name, "-scopes", scopes}, data, dsn)...)
	cmd.Env = ChildEnv()
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

// Serve says how to run `cityops serve`.
type Serve struct {
	Bin   string   // the cityops binary
	Args  []string // after "serve"
	Log   string   // the server's stderr is appended here
	Guard Guard    // checks the URL the server prints
	// SysProcAttr, if set, is the subprocess's, for example a process
	// group of its own.
	SysProcAttr *syscall.SysProcAttr
}

// Proc is a running `cityops serve` subprocess.
type Proc struct {
	cmd     *exec.Cmd
	URL     string        // base URL, checked to be on a loopback address
	exited  chan struct{} // closed once the process has exited
	waitErr error         // its exit status, valid after exited
}

// Start runs `cityops serve -rate-limits off ARGS`, logging to s.Log, and
// waits for the line that gives its URL. The process is gone when it
// fails. The load tools measure what cityops can take, all from the
// loopback: the per-address limits that protect a public server would
// measure only themselves.
func (s Serve) Start(ctx context.Context) (*Proc, error) {
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(s.Bin, append([]string{"serve", "-rate-limits", "off"}, s.Args...)...)
	cmd.Env = ChildEnv()
	cmd.Stderr = logf
	cmd.SysProcAttr = s.SysProcAttr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		first <- line
		io.Copy(io.Discard, br) // the demo logins, and anything later
		p.waitErr = cmd.Wait()  // only after the pipe is drained
		close(p.exited)
	}()
	fail := func(err error) (*Proc, error) {
		p.Kill()
		return nil, fmt.Errorf("%w\n%s", err, LogTail(s.Log, 15))
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
		if err := s.Guard.CheckTargetURL(p.URL); err != nil {
			return fail(err)
		}
		return p, nil
	case <-timer.C:
		return fail(fmt.Errorf("cityops serve did not print its URL within %s", startTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// Pid is the process id, as /proc names it.
func (p *Proc) Pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

// Exited is closed once the process has exited, however it ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitErr is the process's exit status; call it only after Exited.
func (p *Proc) WaitErr() error { return p.waitErr }

// Stop sends SIGTERM, as an init system would, and waits for a clean
// exit, killing the process if it takes longer than stopTimeout.
func (p *Proc) Stop() (time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
		return time.Since(t0), fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.exited:
		return time.Since(t0), p.waitErr
	case <-time.After(stopTimeout):
		p.Kill()
		return time.Since(t0), fmt.Errorf("did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

// Kill ends the process at once if it still runs, and waits for it; it is
// the cleanup on every error path.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// LogTail returns the last n lines of the server log, for error messages.
func LogTail(path string, n int) string {
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
