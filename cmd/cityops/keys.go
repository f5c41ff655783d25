package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
)

// The data keyring seals reporters' names, phones and e-mail addresses
// in the database (storage/personal.go). `keys new` makes a keyring file,
// `keys rotate` adds a key and seals everything again with it, `keys seal`
// runs (or resumes) that pass alone, `keys status` says which keys are
// still in use.

// sealBatch is how many reports one transaction of a sealing pass takes.
const sealBatch = 500

func runKeys(ctx context.Context, args []string, env *Env) int {
	verb, args, st := sub(args, env, "keys", "new", "rotate", "seal", "status")
	if st >= 0 {
		return st
	}
	fs, dbf := flagSet("keys "+verb, "-file FILE [flags]", env)
	file := fs.String("file", "", "data keyring `file` (else CITYOPS_DATA_KEY_FILE; seal and status also take the keyring's text in CITYOPS_DATA_KEY)")
	batch := fs.Int("batch", sealBatch, "rotate, seal: `reports` per transaction")
	reseal := fs.Bool("seal", true, "rotate: seal every value again with the new key now; -seal=false only adds the key, for serve processes to do it when they restart (serve seals at start what an older key sealed)")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("keys %s: unexpected argument %q", verb, fs.Arg(0)))
	}
	if *batch < 1 {
		return fail(env.Stderr, exitUsage, errors.New("keys: -batch must be at least 1"))
	}
	if *file == "" {
		*file = os.Getenv("CITYOPS_DATA_KEY_FILE")
	}
	if *file == "" && (verb == "new" || verb == "rotate") {
		return fail(env.Stderr, exitUsage, fmt.Errorf("keys %s: give -file FILE (or CITYOPS_DATA_KEY_FILE)", verb))
	}
	if verb == "new" {
		return newKeyring(*file, env)
	}
	var k *keyring.Keyring
	if verb != "rotate" {
		var err error
		if k, err = keyring.FromConfig(*file, os.Getenv); err != nil {
			return fail(env.Stderr, exitUsage, fmt.Errorf("keys %s: %w", verb, err))
		}
		if k == nil && verb == "seal" {
			return fail(env.Stderr, exitUsage, errors.New("keys seal: give -file FILE, CITYOPS_DATA_KEY_FILE or CITYOPS_DATA_KEY"))
		}
	} else if _, err := keyring.Load(*file); err != nil { // before the database: a bad file changes nothing
		return fail(env.Stderr, exitUsage, fmt.Errorf("keys rotate: %w", err))
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	sctx := system(ctx)
	switch verb {
	case "status":
		return keyStatus(sctx, db, k, env)
	case "rotate":
		if k, err = keyring.Rotate(*file, time.Now()); err != nil {
			return fail(env.Stderr, exitError, fmt.Errorf("keys rotate: %w", err))
		}
		fmt.Fprintf(env.Stdout, "added key %s to %s; it encrypts from now on\n", k.Current(), *file)
		if !*reseal {
			if err := db.Record(sctx, &cityops.AuditEntry{Action: "keys.rotate", Object: "keyring", Outcome: cityops.AuditOK,
				Detail: fmt.Sprintf("key %s added; values sealed again when serve restarts", k.Current())}); err != nil {
				return fail(env.Stderr, exitError, fmt.Errorf("keys rotate: audit: %w", err))
			}
			fmt.Fprintln(env.Stdout, "restart every serve with this file: each seals at start, with the new key, what an older key sealed")
			return exitOK
		}
	}
	db.Keys = k
	sofar := 0
	total, err := db.SealAllPersonalData(sctx, *batch, func(b storage.SealBatch) {
		if sofar += b.Sealed; b.Sealed > 0 {
			fmt.Fprintf(env.Stdout, "sealed %d reports with %s (%d so far)\n", b.Sealed, k.Current(), sofar)
		}
	})
	action := "keys." + verb
	detail := fmt.Sprintf("key %s: %d reports sealed, %d skipped, %d failed", k.Current(), total.Sealed, total.Skipped, total.Failed)
	if err != nil {
		detail += "; stopped: " + err.Error()
	}
	if aerr := db.Record(sctx, &cityops.AuditEntry{Action: action, Object: "keyring", Outcome: outcome(err), Detail: detail}); aerr != nil {
		return fail(env.Stderr, exitError, fmt.Errorf("keys %s: audit: %w", verb, aerr))
	}
	if err != nil {
		return fail(env.Stderr, exitError, fmt.Errorf("keys %s: %w (run 'cityops keys seal' to finish)", verb, err))
	}
	fmt.Fprintf(env.Stdout, "done: %d reports sealed with %s", total.Sealed, k.Current())
	if total.Skipped > 0 {
		fmt.Fprintf(env.Stdout, "; %d left as they are, sealed with a key this keyring lacks", total.Skipped)
	}
	fmt.Fprintln(env.Stdout)
	if total.Failed > 0 {
		return fail(env.Stderr, exitError, fmt.Errorf("keys %s: %d reports hold a value that does not open (changed or moved; see the log)", verb, total.Failed))
	}
	fmt.Fprintln(env.Stdout, "run 'cityops keys status' to see when an older key's line may be removed")
	return exitOK
}

func outcome(err error) string {
	if err != nil {
		return cityops.AuditFailed
	}
	return cityops.AuditOK
}

// newKeyring writes a keyring file of one fresh key, readable by its
// owner only; it never replaces a file.
func newKeyring(path string, env *Env) int {
	line := keyring.NewLine(time.Now())
	text := "# cityops data keys: the last key encrypts, every key decrypts.\n" +
		"# Keep a copy apart from the database and its backups: without it the sealed data is lost.\n" + line + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(env.Stderr, exitUsage, fmt.Errorf("keys new: %w (it is never replaced; to add a key use 'cityops keys rotate')", err))
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fail(env.Stderr, exitError, fmt.Errorf("keys new: %w", err))
	}
	id, _, _ := strings.Cut(line, " ")
	fmt.Fprintf(env.Stdout, "wrote %s with key %s; give it to serve with -data-key-file %s\n", path, id, path)
	return exitOK
}

// keyStatus prints how many stored values each key sealed, and how many
// are in clear.
func keyStatus(ctx context.Context, db *storage.DB, k *keyring.Keyring, env *Env) int {
	counts, err := db.PersonalDataStatus(ctx)
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	var ids []string
	inRing := map[string]bool{}
	if k != nil {
		ids = k.IDs()
		for _, id := range ids {
			inRing[id] = true
		}
	}
	var strangers []string
	for id := range counts {
		if id != "" && !inRing[id] {
			strangers = append(strangers, id)
		}
	}
	sort.Strings(strangers)
	fmt.Fprintf(env.Stdout, "%-8d in clear\n", counts[""])
	for _, id := range ids {
		note := ""
		switch {
		case id == k.Current():
			note = " (current)"
		case counts[id] == 0:
			note = " (no longer used: its line may be removed)"
		}
		fmt.Fprintf(env.Stdout, "%-8d sealed with %s%s\n", counts[id], id, note)
	}
	for _, id := range strangers {
		fmt.Fprintf(env.Stdout, "%-8d sealed with %s (NOT in this keyring: these do not open)\n", counts[id], id)
	}
	if k == nil && len(counts) > 1 {
		fmt.Fprintln(env.Stdout, "(give -file to see which keys are in the keyring)")
	}
	return exitOK
}

// runPersonalData exports one person's data, as an administrator would
// through GET /api/v1/personal-data.
func runPersonalData(ctx context.Context, args []string, env *Env) int {
	_, args, st := sub(args, env, "personal-data", "export")
	if st >= 0 {
		return st
	}
	fs, dbf := flagSet("personal-data export", "-email E | -phone P [-data-key-file FILE]", env)
	email := fs.String("email", "", "the person's e-mail `address`")
	phone := fs.String("phone", "", "the person's phone `number` (+84… and 0… are the same number)")
	keyFile := keyFileFlag(fs)
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("personal-data export: unexpected argument %q", fs.Arg(0)))
	}
	k, err := keyring.FromConfig(*keyFile, os.Getenv)
	if err != nil {
		return fail(env.Stderr, exitUsage, fmt.Errorf("personal-data export: %w", err))
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	db.Keys = k
	out, err := db.ExportPersonalData(system(ctx), cityops.PersonalDataQuery{Email: *email, Phone: *phone})
	if err != nil {
		return fail(env.Stderr, exitFor(err), err)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fail(env.Stderr, exitError, err)
	}
	fmt.Fprintf(env.Stderr, "exported %d reports; the export is recorded in the audit trail\n", len(out.Reports))
	return exitOK
}

// personalData holds serve's flags for reporters' personal data.
type personalData struct {
	keyFile string
	after   days
}

// personalDataFlags adds -data-key-file and -anonymise-after to serve.
func personalDataFlags(fs *flag.FlagSet) *personalData {
	p := &personalData{after: days(365 * 24 * time.Hour)}
	fs.StringVar(&p.keyFile, "data-key-file", "", "data keyring `file` that seals reporters' names, phones and e-mail addresses in the database (else CITYOPS_DATA_KEY_FILE, or the keyring's text in CITYOPS_DATA_KEY); make one with 'cityops keys new'")
	fs.Var(&p.after, "anonymise-after", "remove the reporter's name, phone and e-mail from reports closed, rejected or merged this `long` ago (such as 365d or 8760h; 0: never)")
	return p
}

// keys reads the keyring (nil when none is given) and checks the period:
// a report may be reopened for reopenDays, and needs its reporter then.
func (p *personalData) keys(reopenDays int) (*keyring.Keyring, error) {
	if p.after != 0 && time.Duration(p.after) < time.Duration(reopenDays)*24*time.Hour {
		return nil, fmt.Errorf("-anonymise-after %s: 0 or at least -reopen-days (%d days)", p.after.String(), reopenDays)
	}
	k, err := keyring.FromConfig(p.keyFile, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("-data-key-file: %w", err)
	}
	return k, nil
}

// start runs serve's background work on personal data until ctx ends:
// sealing, once at start, what is in clear or sealed with an older key;
// anonymising finished reports every hour.
func (p *personalData) start(ctx context.Context, wg *sync.WaitGroup, db *storage.DB, log *slog.Logger) {
	sctx := system(ctx)
	if db.Keys == nil {
		log.Warn("reporters' personal data is stored in clear: give -data-key-file (make a keyring with 'cityops keys new')")
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			total, err := db.SealAllPersonalData(sctx, sealBatch, nil)
			if err != nil && ctx.Err() == nil {
				log.Error("seal personal data", "err", err)
			}
			if total.Sealed > 0 || total.Failed > 0 {
				log.Info("sealed personal data", "key", db.Keys.Current(), "reports", total.Sealed, "failed", total.Failed)
				detail := fmt.Sprintf("key %s: %d reports sealed, %d skipped, %d failed", db.Keys.Current(), total.Sealed, total.Skipped, total.Failed)
				if err := db.Record(sctx, &cityops.AuditEntry{Action: "keys.seal", Object: "keyring", Outcome: cityops.AuditOK, Detail: detail}); err != nil {
					log.Error("audit record", "action", "keys.seal", "err", err)
				}
			}
		}()
	}
	if p.after == 0 {
		return
	}
	every(ctx, wg, time.Hour, true, func(ctx context.Context) {
		for {
			n, err := db.AnonymiseReports(sctx, time.Duration(p.after), sealBatch)
			if err != nil && ctx.Err() == nil {
				log.Error("anonymise reports", "err", err)
			} else if n > 0 {
				log.Info("anonymised reports", "reports", n)
			}
			if err != nil || n < sealBatch {
				break
			}
		}
	})
}

// days is a duration flag that also takes whole days ("365d").
type days time.Duration

func (d *days) String() string {
	if *d != 0 && time.Duration(*d)%(24*time.Hour) == 0 {
		return strconv.Itoa(int(time.Duration(*d)/(24*time.Hour))) + "d"
	}
	return time.Duration(*d).String()
}

func (d *days) Set(s string) error {
	var v time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		i, err := strconv.Atoi(n)
		if err != nil {
			return errors.New("want a number of days such as 365d, or a duration such as 8760h")
		}
		v = time.Duration(i) * 24 * time.Hour
	} else {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return errors.New("want a number of days such as 365d, or a duration such as 8760h")
		}
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	*d = days(v)
	return nil
}
