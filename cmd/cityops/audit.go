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

// auditRetentionFlag adds -audit-retention to fs and returns a function
// that checks it after parsing.
func auditRetentionFlag(fs *flag.FlagSet) func() (time.Duration, error) {
	d := fs.Duration("audit-retention", 365*24*time.Hour, "keep audit entries this `long` (default 12 months; 0 keeps them for ever); older ones are removed daily, the removal itself recorded in the trail")
	return func() (time.Duration, error) {
		if *d != 0 && *d < 24*time.Hour {
			return 0, fmt.Errorf("-audit-retention %s: 0 (keep for ever) or at least 24h", *d)
		}
		return *d, nil
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
	actor := fs.String("actor", "", "export: entries of this `actor` (an e-mail address, apikey:PREFIX, system, anonymous, citizen)")
	action := fs.String("action", "", "export: entries of this `action` (auth.login), or of every action under it when it ends in a dot (report.)")
	object := fs.String("object", "", "export: entries about this `object` (user:lan@hue.gov.vn, report:HUE-…)")
	outcome := fs.String("outcome", "", "export: entries with this `outcome`: ok, denied or failed")
	text := fs.String("text", "", "export: entries whose actor, object or detail contains this `text`")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("audit %s: unexpected argument %q", verb, fs.Arg(0)))
	}
	k, kerr := key()
	from, serr := parseTime("since", *since)
	to, uerr := parseTime("until", *until)
	var oerr error
	if *outcome != "" && !cityops.ValidOutcome(*outcome) {
		oerr = fmt.Errorf("-outcome %q: want ok, denied or failed", *outcome)
	}
	if err := errors.Join(kerr, serr, uerr, oerr); err != nil {
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
		if v.PurgeID != 0 {
			fmt.Fprintf(env.Stdout, "the trail starts at entry %d; older entries were removed by the retention purge of entry %d\n", v.FirstID, v.PurgeID)
		}
		if v.BrokenID != 0 {
			return fail(env.Stderr, exitError, fmt.Errorf("audit trail broken at entry %d: %s", v.BrokenID, v.Reason))
		}
		fmt.Fprintln(env.Stdout, "the audit trail is intact")
	case "export":
		// The same selection as GET /api/v1/audit; the export is itself
		// recorded ("audit.export").
		enc := json.NewEncoder(env.Stdout)
		opt := func(s string) *string {
			if s == "" {
				return nil
			}
			return &s
		}
		f := cityops.AuditFilter{Since: from, Until: to, Actor: opt(*actor), Action: opt(*action), Object: opt(*object),
			Outcome: opt(*outcome), Text: opt(*text)}
		if err := db.ExportAudit(sctx, f, func(e *cityops.AuditEntry) error { return enc.Encode(e) }); err != nil {
			return fail(env.Stderr, exitFor(err), err)
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
