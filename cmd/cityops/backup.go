package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/backupcrypt"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
)

// Backups are a SQLite copy (VACUUM INTO) or a pg_dump custom-format
// archive, either as it is or encrypted with the data keyring (package
// backupcrypt). Every file is made in a private directory beside its
// destination and moved into place only when whole; the directory, with
// any plain copy in it, is removed on every error.

const noKeyring = `no data keyring; give -data-key-file FILE, or set CITYOPS_DATA_KEY_FILE (a file) or CITYOPS_DATA_KEY (its text).
Make a keyring with:
  cityops keys new -file cityops-data.keys
and keep a copy apart from the backups: without its key a backup cannot be restored.`

func keyFileFlag(fs *flag.FlagSet) *string {
	return fs.String("data-key-file", "", "data keyring `file` (else CITYOPS_DATA_KEY_FILE, or the keyring's text in CITYOPS_DATA_KEY)")
}

func runBackup(ctx context.Context, args []string, env *Env) int {
	fs, dbf := flagSet("backup", "-to FILE [-encrypt] [-data-key-file FILE]", env)
	to := fs.String("to", "", "`file` to write the backup to (must not exist; only its owner may read it)")
	encrypt := fs.Bool("encrypt", false, "encrypt the backup with the data keyring's current key (PostgreSQL: a pg_dump archive, encrypted)")
	keyFile := keyFileFlag(fs)
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if *to == "" {
		return fail(env.Stderr, exitUsage, errors.New("backup: give -to FILE"))
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("backup: unexpected argument %q", fs.Arg(0)))
	}
	pg := isPostgres(dbf.dsn)
	if pg && !*encrypt {
		return fail(env.Stderr, exitUsage, errors.New("backup: cityops backs up PostgreSQL only encrypted: add -encrypt;\n"+
			"for a plain archive use pg_dump, e.g. pg_dump -Fc -f cityops.dump \"$CITYOPS_DB\" (cityops restore reads it too)"))
	}
	var k *keyring.Keyring
	if *encrypt {
		var err error
		if k, err = keyring.FromConfig(*keyFile, os.Getenv); err != nil {
			return fail(env.Stderr, exitUsage, fmt.Errorf("backup: data keyring: %w", err))
		}
		if k == nil {
			return fail(env.Stderr, exitUsage, errors.New("backup -encrypt: "+noKeyring))
		}
	}
	if _, err := os.Lstat(*to); err == nil {
		return fail(env.Stderr, exitUsage, fmt.Errorf("backup: %s exists already; choose a new file", *to))
	}
	var err error
	if pg {
		err = writeNew(*to, ".cityops-backup-*", func(dir string) (string, error) {
			return backupPostgres(ctx, dbf.dsn, dir, k)
		})
	} else {
		var db *storage.DB
		if db, err = dbf.open(ctx, quietLog(env.Stderr)); err != nil {
			return fail(env.Stderr, exitError, err)
		}
		defer db.Close()
		err = writeNew(*to, ".cityops-backup-*", func(dir string) (string, error) {
			plain := filepath.Join(dir, "plain.db")
			if err := db.Backup(ctx, plain); err != nil {
				return "", err
			}
			if k == nil {
				return plain, nil
			}
			return encryptFile(plain, filepath.Join(dir, "backup"), k)
		})
	}
	if err != nil {
		return fail(env.Stderr, exitFor(err), err)
	}
	if k != nil {
		fmt.Fprintf(env.Stdout, "backup written to %s, encrypted with data key %s\n", *to, k.Current())
	} else {
		fmt.Fprintf(env.Stdout, "backup written to %s\n", *to)
	}
	return exitOK
}

// encryptFile encrypts the file plain into a new file out and returns out.
func encryptFile(plain, out string, k *keyring.Keyring) (string, error) {
	src, err := os.Open(plain)
	if err != nil {
		return "", err
	}
	defer src.Close()
	err = writeEncrypted(out, k, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
	return out, err
}

// writeEncrypted makes a new file at path with what fill writes, encrypted.
func writeEncrypted(path string, k *keyring.Keyring, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	w, err := backupcrypt.NewWriter(f, k)
	if err == nil {
		err = fill(w)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// backupPostgres writes pg_dump's archive, encrypted, to a file in dir.
func backupPostgres(ctx context.Context, dsn, dir string, k *keyring.Keyring) (string, error) {
	env, dbname, err := pgEnv(dsn)
	if err != nil {
		return "", err
	}
	args := []string{"--format=custom", "--no-password"}
	if dbname != "" {
		args = append(args, "--dbname="+conninfoDB(dbname))
	}
	out := filepath.Join(dir, "backup")
	return out, writeEncrypted(out, k, func(w io.Writer) error {
		return pgRun(ctx, "pg_dump", args, env, nil, w)
	})
}

// writeNew makes the file at path, which must not exist, with what fill
// leaves in a file in a private temporary directory beside path. That
// directory, and whatever else fill left in it, is removed in any case.
func writeNew(path, pattern string, fill func(dir string) (string, error)) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), pattern)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	done, err := fill(dir)
	if err != nil {
		return err
	}
	f, err := os.Open(done)
	if err == nil {
		if err = f.Chmod(0o600); err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	if err != nil {
		return err
	}
	return place(done, path)
}

// place moves the file tmp to path, which must not exist; a hard link
// makes that check and the move one step.
func place(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case errors.Is(err, fs.ErrExist):
		return cityops.Errorf(cityops.ECONFLICT, "%s exists already; choose a new file", path)
	case err != nil: // no hard links on this file system
		if _, err := os.Lstat(path); err == nil {
			return cityops.Errorf(cityops.ECONFLICT, "%s exists already; choose a new file", path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	os.Remove(tmp)
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func runRestore(ctx context.Context, args []string, env *Env) int {
	const argsHelp = "-from FILE -to TARGET [-data-key-file FILE]"
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: cityops restore %s\n\nFlags (each also from CITYOPS_<NAME>, secrets from CITYOPS_<NAME>_FILE):\n", argsHelp)
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "backup `file`: one cityops backup wrote (encrypted or not), or a pg_dump -Fc archive")
	to := fs.String("to", "", "`target`: a new SQLite database file (ending in .db), or the postgres:// URL of an empty database")
	keyFile := keyFileFlag(fs)
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if *from == "" || *to == "" {
		return fail(env.Stderr, exitUsage, errors.New("restore: give -from FILE and -to TARGET"))
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("restore: unexpected argument %q", fs.Arg(0)))
	}
	pg := isPostgres(*to)
	if !pg {
		if !strings.HasSuffix(*to, ".db") {
			return fail(env.Stderr, exitUsage, errors.New("restore: -to is a new SQLite database file ending in .db, or a postgres:// URL"))
		}
		if _, err := os.Lstat(*to); err == nil {
			return fail(env.Stderr, exitUsage, fmt.Errorf("restore: %s exists already; restore to a new file", *to))
		}
	}
	f, err := os.Open(*from)
	if err != nil {
		return fail(env.Stderr, exitUsage, fmt.Errorf("restore: %w", err))
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(len(backupcrypt.Magic))
	var k *keyring.Keyring
	encrypted := backupcrypt.IsEncrypted(head)
	if encrypted {
		if k, err = keyring.FromConfig(*keyFile, os.Getenv); err != nil {
			return fail(env.Stderr, exitUsage, fmt.Errorf("restore: data keyring: %w", err))
		}
	}
	// open returns the plain data of a backup file.
	open := func(r io.Reader) (io.Reader, int, error) {
		if !encrypted {
			return r, 0, nil
		}
		cr, err := backupcrypt.NewReader(r, k)
		var ke *backupcrypt.KeyError
		switch {
		case errors.As(err, &ke) && k == nil:
			return nil, exitUsage, fmt.Errorf("restore: %s is encrypted with data key %q: give the keyring that holds it with -data-key-file FILE, CITYOPS_DATA_KEY_FILE or CITYOPS_DATA_KEY", *from, ke.ID)
		case errors.As(err, &ke):
			return nil, exitError, fmt.Errorf("restore: %s: %w (was it removed after a rotation?)", *from, err)
		case err != nil:
			return nil, exitError, fmt.Errorf("restore: %s: %w", *from, err)
		}
		return cr, 0, nil
	}
	src, st, err := open(br)
	if err != nil {
		return fail(env.Stderr, st, err)
	}
	plain := bufio.NewReaderSize(src, 64<<10)
	magic, err := plain.Peek(16)
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(env.Stderr, exitError, fmt.Errorf("restore: %s: %w", *from, err))
	}
	kind := ""
	switch {
	case bytes.HasPrefix(magic, []byte("SQLite format 3\x00")):
		kind = "SQLite"
	case bytes.HasPrefix(magic, []byte("PGDMP")):
		kind = "PostgreSQL"
	default:
		return fail(env.Stderr, exitUsage, fmt.Errorf("restore: %s is not a backup: neither a SQLite database nor a pg_dump -Fc archive, plain or encrypted", *from))
	}
	if (kind == "PostgreSQL") != pg {
		want := "a new .db file"
		if kind == "PostgreSQL" {
			want = "a postgres:// URL"
		}
		return fail(env.Stderr, exitUsage, fmt.Errorf("restore: %s is a %s backup; restore it to %s", *from, kind, want))
	}
	if !pg {
		if err := restoreSQLite(ctx, plain, *to); err != nil {
			return fail(env.Stderr, exitFor(err), fmt.Errorf("restore: %s: %w; nothing was restored", *from, err))
		}
		fmt.Fprintf(env.Stdout, "restored %s to %s; serve it with: cityops serve -db %s\n", *from, *to, *to)
		return exitOK
	}
	dbname, err := checkEmpty(ctx, *to)
	if err != nil {
		return fail(env.Stderr, exitFor(err), fmt.Errorf("restore: %w", err))
	}
	if encrypted {
		// Check the whole backup before the database sees any of it.
		g, err := os.Open(*from)
		if err != nil {
			return fail(env.Stderr, exitError, fmt.Errorf("restore: %w", err))
		}
		r, _, err := open(g)
		if err == nil {
			if _, err = io.Copy(io.Discard, r); err != nil {
				err = fmt.Errorf("restore: %s: %w", *from, err)
			}
		}
		g.Close()
		if err != nil {
			return fail(env.Stderr, exitError, fmt.Errorf("%w; nothing was restored", err))
		}
	}
	if err := restorePostgres(ctx, plain, *to, dbname); err != nil {
		return fail(env.Stderr, exitError, fmt.Errorf("restore: %w; nothing was restored", err))
	}
	fmt.Fprintf(env.Stdout, "restored %s to PostgreSQL database %s\n", *from, dbname)
	return exitOK
}

// restoreSQLite writes src to a new file, checks it is a whole cityops
// database, and only then moves it to target.
func restoreSQLite(ctx context.Context, src io.Reader, target string) error {
	return writeNew(target, ".cityops-restore-*", func(dir string) (string, error) {
		path := filepath.Join(dir, "cityops.db")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, src)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		db, err := storage.Open(ctx, path, "")
		if err != nil {
			return "", err
		}
		err = checkSQLite(ctx, db)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return path, err
	})
}

func checkSQLite(ctx context.Context, db *storage.DB) error {
	var res string
	if err := db.SQL().QueryRowContext(ctx, `pragma integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("the database in the backup is damaged: %s", res)
	}
	return checkMigrations(ctx, db)
}

func checkMigrations(ctx context.Context, db *storage.DB) error {
	var n int
	if err := db.SQL().QueryRowContext(ctx, `select count(*) from schema_migrations`).Scan(&n); err != nil || n == 0 {
		return fmt.Errorf("the backup is not a cityops database: it has no migrations (%v)", err)
	}
	return nil
}

// checkEmpty checks that the PostgreSQL database at dsn holds no tables,
// views or sequences, and returns its name.
func checkEmpty(ctx context.Context, dsn string) (string, error) {
	_, dbname, err := pgEnv(dsn)
	if err != nil {
		return "", err
	}
	if dbname == "" {
		return "", errors.New("name the database in the -to URL (postgres://…/NAME)")
	}
	db, err := storage.Open(ctx, dsn, "")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var n int
	if err := db.SQL().QueryRowContext(ctx, `select count(*) from pg_class c join pg_namespace s on s.oid = c.relnamespace
		where s.nspname <> 'information_schema' and s.nspname not like 'pg\_%'`).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return "", cityops.Errorf(cityops.ECONFLICT, "database %s is not empty (%d tables, views, indexes or sequences); restore into a new one (createdb NAME)", dbname, n)
	}
	return dbname, nil
}

// restorePostgres feeds the archive src to pg_restore, in one transaction,
// and checks what it restored. Objects are owned by the -to URL's user.
func restorePostgres(ctx context.Context, src io.Reader, dsn, dbname string) error {
	env, _, err := pgEnv(dsn)
	if err != nil {
		return err
	}
	args := []string{"--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", "--no-password",
		"--dbname=" + conninfoDB(dbname)}
	if err := pgRun(ctx, "pg_restore", args, env, src, nil); err != nil {
		return err
	}
	db, err := storage.Open(ctx, dsn, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return checkMigrations(ctx, db)
}

// pgRun runs a PostgreSQL client program with the connection in env, src
// (if any) on its standard input and its standard output to dst. When src
// fails, the program is killed before its input ends, so that pg_restore
// rolls back rather than commits what it read.
func pgRun(ctx context.Context, name string, args, env []string, src io.Reader, dst io.Writer) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%s is not on PATH: install the PostgreSQL client programs (of the server's major version or newer)", name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = dst
	stderr := &headBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	failed := func(err error) error {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			if !strings.HasPrefix(msg, name+":") {
				msg = name + ": " + msg
			}
			return errors.New(msg)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	if src == nil {
		if err := cmd.Run(); err != nil {
			return failed(err)
		}
		return nil
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return failed(err)
	}
	rs := &readErr{r: src}
	_, copyErr := io.Copy(stdin, rs)
	if rs.err != nil {
		cmd.Process.Kill()
	}
	stdin.Close()
	waitErr := cmd.Wait()
	switch {
	case rs.err != nil:
		return rs.err
	case waitErr != nil:
		return failed(waitErr)
	case copyErr != nil:
		return failed(copyErr)
	}
	return nil
}

// readErr remembers its reader's error, to tell it from the writer's.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// pgEnv turns a postgres:// URL, as cityops (pgx) reads it, into the
// environment of libpq programs such as pg_dump, and returns the database
// name apart. The password goes into PGPASSWORD: a process's environment
// is readable only by its user (and root), unlike its command line, which
// every user sees in ps. Nothing goes on the command line but the database
// name. Settings libpq has no name for are sent, as pgx does, as run-time
// parameters (-c in PGOPTIONS), and pgx's own are dropped.
func pgEnv(dsn string) ([]string, string, error) {
	u, err := url.Parse(dsn)
	if err != nil || !isPostgres(dsn) {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text holds the URL, password and all
		}
		return nil, "", fmt.Errorf("database URL does not parse: %v", err)
	}
	var env []string
	set := func(name, v string) { env = append(env, name+"="+v) }
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			set("PGUSER", name)
		}
		if pw, ok := u.User.Password(); ok {
			set("PGPASSWORD", pw)
		}
	}
	if h := u.Hostname(); h != "" {
		set("PGHOST", h)
	}
	if p := u.Port(); p != "" {
		set("PGPORT", p)
	}
	dbname := strings.TrimPrefix(u.Path, "/")
	var options []string
	q := u.Query()
	for _, key := range slices.Sorted(maps.Keys(q)) {
		v := q[key][len(q[key])-1]
		switch key {
		case "dbname", "database":
			dbname = v
		case "ssl":
			if v == "true" {
				set("PGSSLMODE", "require")
			}
		case "options":
			options = append(options, v)
		case "sslpassword":
			return nil, "", errors.New("database URL: sslpassword cannot be given to pg_dump; use a key file without a passphrase")
		case "krbspn", "statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
			"min_read_buffer_size", "pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime",
			"pool_max_conn_lifetime_jitter", "pool_max_conn_idle_time", "pool_health_check_period":
			// pgx's own
		default:
			if name, ok := libpqEnv[key]; ok {
				set(name, v)
			} else {
				options = append(options, "-c "+escapeOption(key)+"="+escapeOption(v))
			}
		}
	}
	if len(options) > 0 {
		set("PGOPTIONS", strings.Join(options, " "))
	}
	return env, dbname, nil
}

// libpqEnv names the environment variables of libpq's connection settings.
var libpqEnv = map[string]string{
	"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
	"passfile": "PGPASSFILE", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME",
	"client_encoding": "PGCLIENTENCODING", "sslmode": "PGSSLMODE", "requiressl": "PGREQUIRESSL",
	"sslkey": "PGSSLKEY", "sslcert": "PGSSLCERT", "sslcertmode": "PGSSLCERTMODE", "sslsni": "PGSSLSNI",
	"sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslnegotiation": "PGSSLNEGOTIATION",
	"ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
	"gssencmode": "PGGSSENCMODE", "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB",
	"target_session_attrs": "PGTARGETSESSIONATTRS", "load_balance_hosts": "PGLOADBALANCEHOSTS",
	"service": "PGSERVICE", "servicefile": "PGSERVICEFILE", "channel_binding": "PGCHANNELBINDING",
	"require_auth": "PGREQUIREAUTH", "min_protocol_version": "PGMINPROTOCOLVERSION", "max_protocol_version": "PGMAXPROTOCOLVERSION",
}

// escapeOption escapes a value for PGOPTIONS, where spaces separate words.
func escapeOption(s string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(s)
}

// conninfoDB is a libpq connection string naming only a database, quoted so
// that a name holding '=' or spaces is not read as more settings.
func conninfoDB(name string) string {
	return "dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'"
}
