package main

// One scenario's cityops subprocess (run through internal/loadtool, as
// cmd/cityops-dataload runs it) on a fresh database, and what it and
// this tool use of the machine.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage"
)

// requestTimeout bounds one request: far beyond any target, long enough
// for a bulk request of readings into a large history.
const requestTimeout = 5 * time.Minute

// session is one scenario's cityops server on a fresh database.
type session struct {
	r      *runner
	name   string
	dir    string // the data directory
	log    string // the server's log
	dsn    string // cityops's -db: empty (SQLite in dir) or the scenario's PostgreSQL schema
	schema string // PostgreSQL: the scenario's schema
	admin  *sql.DB
	key    string
	srv    *loadtool.Proc
	api    *loadtool.Client
}

// newSession makes a data directory (and, on PostgreSQL, a schema) and an
// API key, which migrates the database; the server is not started yet.
func (r *runner) newSession(ctx context.Context, name string) (*session, error) {
	s := &session{r: r, name: name, dir: filepath.Join(r.work, name)}
	s.log = filepath.Join(s.dir, "serve.log")
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, err
	}
	if r.o.dsn != "" {
		s.schema = "iocload_" + r.stamp + "_" + name
		admin, err := sql.Open("pgx", r.o.dsn)
		if err != nil {
			return nil, err
		}
		if _, err := admin.ExecContext(ctx, `create schema `+s.schema); err != nil {
			admin.Close()
			return nil, fmt.Errorf("create schema %s: %w", s.schema, err)
		}
		s.admin = admin
		sep := "?"
		if strings.Contains(r.o.dsn, "?") {
			sep = "&"
		}
		s.dsn = r.o.dsn + sep + "search_path=" + s.schema
	}
	r.progress("%s: creating an API key (and the database) in %s", name, s.dir)
	key, err := loadtool.CreateAPIKey(ctx, r.bin, s.dir, s.dsn, "iocload", apiScopes)
	if err != nil {
		s.close(true)
		return nil, err
	}
	s.key = key
	return s, nil
}

// start starts `cityops serve -simulate=false -addr 127.0.0.1:0 ARGS`
// with a client of conns connections.
func (s *session) start(ctx context.Context, conns int, args ...string) error {
	s.r.progress("%s: starting cityops serve %s", s.name, strings.Join(args, " "))
	args = append([]string{"-simulate=false", "-addr", "127.0.0.1:0"}, args...)
	srv, err := loadtool.Serve{Bin: s.r.bin, Args: loadtool.DBArgs(args, s.dir, s.dsn), Log: s.log, Guard: guard,
		SysProcAttr: loadtool.ChildProcAttr()}.Start(ctx)
	if err != nil {
		return err
	}
	s.srv = srv
	s.api, err = guard.NewClient(srv.URL, s.key, conns, requestTimeout)
	return err
}

// stop stops the server with SIGTERM; an unclean stop is an error.
func (s *session) stop() error {
	if s.api != nil {
		s.api.Close()
		s.api = nil
	}
	if s.srv == nil {
		return nil
	}
	srv := s.srv
	s.srv = nil
	took, err := srv.Stop()
	if err != nil {
		return fmt.Errorf("stopping cityops (SIGTERM, %.1fs): %w\n%s", took.Seconds(), err, loadtool.LogTail(s.log, 10))
	}
	return nil
}

// exited returns an error once the server has exited by itself.
func (s *session) exited() error {
	if s.srv == nil {
		return nil
	}
	select {
	case <-s.srv.Exited():
		return fmt.Errorf("cityops exited during the run (%v)\n%s", s.srv.WaitErr(), loadtool.LogTail(s.log, 10))
	default:
		return nil
	}
}

// openDB opens the scenario's database directly, while cityops is
// stopped.
func (s *session) openDB(ctx context.Context) (*storage.DB, error) {
	return storage.Open(ctx, s.dsn, s.dir)
}

// close stops the server and removes the data directory and schema,
// unless the run keeps them or the scenario failed.
func (s *session) close(failed bool) error {
	err := s.stop()
	keep := failed || s.r.o.keep
	if s.admin != nil {
		if keep {
			s.r.progress("%s: PostgreSQL schema %s kept", s.name, s.schema)
		} else if _, derr := s.admin.Exec(`drop schema ` + s.schema + ` cascade`); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop schema %s: %w", s.schema, derr))
		}
		s.admin.Close()
	}
	if !keep && err == nil {
		os.RemoveAll(s.dir)
	}
	return err
}

// finish closes the session and joins its error to the scenario's.
func (s *session) finish(err *error) {
	if cerr := s.close(*err != nil); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}

// dbSize is the database's size: for SQLite its file and write-ahead
// log, for PostgreSQL the scenario's schema.
func (s *session) dbSize(ctx context.Context) string {
	if s.admin != nil {
		var n sql.NullInt64
		err := s.admin.QueryRowContext(ctx, `select sum(pg_total_relation_size(c.oid)) from pg_class c
			join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'm')`, s.schema).Scan(&n)
		if err != nil {
			return "?"
		}
		return loadtool.Bytes(uint64(n.Int64)) + " (schema " + s.schema + ")"
	}
	var n int64
	for _, f := range []string{"cityops.db", "cityops.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
			n += st.Size()
		}
	}
	return loadtool.Bytes(uint64(n)) + " (cityops.db and its WAL)"
}

// startCPU starts measuring the cores the server and this tool use.
func (s *session) startCPU() *loadtool.CPUMeter { return loadtool.StartCPU(s.srv.Pid()) }

// ms formats a latency in milliseconds, one unit for every figure.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// limit formats a target's time: whole seconds or milliseconds.
func limit(d time.Duration) string {
	if d >= time.Second && d%time.Second == 0 {
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// thousands and rate shorten the shared formats.
var (
	thousands = loadtool.Thousands
	rate      = loadtool.Rate
)
