package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cityops/cityops/storage"
)

// flagSet returns a flag set that reports errors to env.Stderr and does not
// exit, with the database flags every command shares.
func flagSet(name, args string, env *Env) (*flag.FlagSet, *dbFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	db := &dbFlags{}
	fs.StringVar(&db.data, "data", "./data", "data `directory`: the SQLite database and uploaded media")
	fs.StringVar(&db.dsn, "db", "", "database: empty for SQLite in the data directory, or a postgres:// `URL`")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: cityops %s %s\n\nFlags (each also from CITYOPS_<NAME>, secrets from CITYOPS_<NAME>_FILE):\n", name, args)
		fs.PrintDefaults()
	}
	return fs, db
}

type dbFlags struct {
	data, dsn string
}

// parse parses args, then fills every flag not given on the command line
// from CITYOPS_<NAME> or the file named by CITYOPS_<NAME>_FILE. It returns
// the exit status to use when parsing failed, or -1.
func parse(fs *flag.FlagSet, args []string) (int, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, err
		}
		return exitUsage, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "CITYOPS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if !ok {
			file, fok := os.LookupEnv(env + "_FILE")
			if !fok {
				return
			}
			b, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", env, err))
				return
			}
			v = strings.TrimRight(string(b), "\r\n")
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %v", env, v, err))
		}
	})
	if len(errs) > 0 {
		return exitUsage, errors.Join(errs...)
	}
	return -1, nil
}

// fail prints an error as "cityops: ..." lines and returns status.
func fail(w io.Writer, status int, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(w, "cityops: %s\n", line)
		}
	}
	return status
}

// openDB opens and migrates the database named by the flags.
func (f *dbFlags) open(ctx context.Context, log *slog.Logger) (*storage.DB, error) {
	db, err := storage.Open(ctx, f.dsn, f.data)
	if err != nil {
		return nil, err
	}
	db.Log = log
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// quietLog is the logger of the one-shot commands: warnings only, as text.
func quietLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
