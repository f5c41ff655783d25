package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// auditKeyFlag adds -audit-key-file to fs and returns a function that
// reads the key after parsing: nil when no file is given.
func auditKeyFlag(fs *flag.FlagSet) func() ([]byte, error) {
	path := fs.String("audit-key-file", "", "`file` holding the secret key that seals the audit trail (at least 16 bytes; keep it outside the database and its backups)")
	return func() ([]byte, error) {
		if *path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(*path)
		if err != nil {
			return nil, fmt.Errorf("-audit-key-file: %w", err)
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) < 16 {
			return nil, fmt.Errorf("-audit-key-file %s: the key is shorter than 16 bytes", *path)
		}
		return b, nil
	}
}

// parseTime reads an RFC 3339 time or a date (midnight UTC).
func parseTime(name, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("-%s %q: want a time such as 2025-03-01 or 2025-03-01T08:00:00+07:00", name, s)
}

func runAudit(ctx context.Context, args []string, env *Env) int {
	verb, args, st := sub(args, env, "audit", "verify", "export", "seal")
	if st >= 0 {
		return st
	}
	fs, dbf := flagSet("audit "+verb, "[flags]", env)
	key := auditKeyFlag(fs)
	since := fs.String("since", "", "export: entries at or after this `time` (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "export: entries before this `time` (RFC 3339 or YYYY-MM-DD)")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("audit %s: unexpected argument %q", verb, fs.Arg(0)))
	}
	k, kerr := key()
	from, serr := parseTime("since", *since)
	to, uerr := parseTime("until", *until)
	if err := errors.Join(kerr, serr, uerr); err != nil {
		return fail(env.Stderr, exitUsage, err)
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	db.AuditKey = k
	sctx := system(ctx)
	switch verb {
	case "verify":
		v, err := db.VerifyAudit(sctx)
		if err != nil {
			return fail(env.Stderr, exitError, err)
		}
		checked := "HMACs checked"
		if !v.SealKey {
			checked = "HMACs not checked: give -audit-key-file"
		}
		fmt.Fprintf(env.Stdout, "checked %d entries and %d seals (%s)\n", v.Entries, v.Seals, checked)
		if v.BrokenID != 0 {
			return fail(env.Stderr, exitError, fmt.Errorf("audit trail broken at entry %d: %s", v.BrokenID, v.Reason))
		}
		fmt.Fprintln(env.Stdout, "the audit trail is intact")
	case "export":
		enc := json.NewEncoder(env.Stdout)
		f := cityops.AuditFilter{Since: from, Until: to, Limit: 1000}
		for {
			list, _, err := db.FindAudit(sctx, f)
			if err != nil {
				return fail(env.Stderr, exitError, err)
			}
			for _, e := range list {
				if err := enc.Encode(e); err != nil {
					return fail(env.Stderr, exitError, err)
				}
			}
			if len(list) < f.Limit {
				break
			}
			f.Offset += len(list)
		}
	case "seal":
		s, err := db.Seal(sctx)
		if err != nil {
			return fail(env.Stderr, exitFor(err), err)
		}
		fmt.Fprintf(env.Stdout, "sealed the audit trail up to entry %d\n", s.UptoID)
	}
	return exitOK
}

// sealHourly seals the audit trail every hour until ctx ends. An empty
// trail has nothing to seal and is no error.
func sealHourly(ctx context.Context, seal func(context.Context) (*cityops.AuditSeal, error), logErr func(error)) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := seal(system(ctx)); err != nil && ctx.Err() == nil && cityops.ErrorCode(err) != cityops.EINVALID {
			logErr(err)
		}
	}
}
