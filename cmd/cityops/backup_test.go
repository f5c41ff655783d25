package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cityops/cityops/backupcrypt"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// backupEmail is a value that must not be readable in an encrypted backup.
const backupEmail = "lan.backup@hue.gov.vn"

// noKeyringEnv hides any data keyring of the environment from a test.
func noKeyringEnv(t *testing.T) {
	t.Setenv("CITYOPS_DATA_KEY", "")
	t.Setenv("CITYOPS_DATA_KEY_FILE", "")
}

// writeKeyring writes a keyring file of one fresh key and returns its path
// and the key's id.
func writeKeyring(t *testing.T) (string, string) {
	t.Helper()
	line := keyring.NewLine(time.Now())
	path := filepath.Join(t.TempDir(), "data.keys")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, strings.Fields(line)[0]
}

// seed migrates the database and adds a user with backupEmail.
func seed(t *testing.T, db ...string) {
	t.Helper()
	st, out, errs := run(t, "a long enough password\n", append([]string{"user", "add", "-email", backupEmail, "-role", "operator"}, db...)...)
	if st != 0 {
		t.Fatalf("user add = %d %q %q", st, out, errs)
	}
}

// hasUser reports whether the database at dsn holds backupEmail's user.
func hasUser(t *testing.T, dsn string) bool {
	t.Helper()
	db, err := storage.Open(context.Background(), dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.SQL().QueryRow(`select count(*) from users where email = $1`, backupEmail).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// tampered writes a copy of the file at path changed by edit.
func tampered(t *testing.T, path string, edit func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tampered")
	if err := os.WriteFile(out, edit(bytes.Clone(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func flipByte(at int) func([]byte) []byte {
	return func(b []byte) []byte {
		i := at
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 1
		return b
	}
}

// onlyFiles fails unless dir holds exactly the named entries: no plain
// copy or temporary directory was left behind.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestBackupRestoreSQLite(t *testing.T) {
	noKeyringEnv(t)
	dir := t.TempDir()
	db := []string{"-data", dir}
	seed(t, db...)
	keys, keyID := writeKeyring(t)
	out := t.TempDir()

	// -encrypt needs a keyring, and says how to make one.
	enc := filepath.Join(out, "cityops.backup")
	st, _, errs := run(t, "", append([]string{"backup", "-encrypt", "-to", enc}, db...)...)
	if st != exitUsage || !strings.Contains(errs, "no data keyring") || !strings.Contains(errs, "cityops keys new -file") {
		t.Fatalf("backup -encrypt without a keyring = %d %q", st, errs)
	}
	onlyFiles(t, out)

	st, stdout, errs := run(t, "", append([]string{"backup", "-encrypt", "-data-key-file", keys, "-to", enc}, db...)...)
	if st != 0 || !strings.Contains(stdout, keyID) {
		t.Fatalf("backup -encrypt = %d %q %q", st, stdout, errs)
	}
	onlyFiles(t, out, "cityops.backup")
	b, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(enc); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if !backupcrypt.IsEncrypted(b) || bytes.Contains(b, []byte(backupEmail)) || bytes.Contains(b, []byte("SQLite format")) {
		t.Fatal("the encrypted backup holds plain data")
	}
	if st, _, errs := run(t, "", append([]string{"backup", "-encrypt", "-data-key-file", keys, "-to", enc}, db...)...); st == 0 || !strings.Contains(errs, "exists") {
		t.Errorf("backup over an existing file = %d %q", st, errs)
	}

	// A plain backup, to show the check above is not vacuous; it is
	// private too.
	plainPath := filepath.Join(out, "plain.db")
	if st, _, errs := run(t, "", append([]string{"backup", "-to", plainPath}, db...)...); st != 0 {
		t.Fatalf("plain backup = %d %q", st, errs)
	}
	if p, _ := os.ReadFile(plainPath); !bytes.Contains(p, []byte(backupEmail)) {
		t.Fatal("the plain backup does not hold the e-mail address: the test checks nothing")
	}
	if fi, _ := os.Stat(plainPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("plain backup mode %v, want 0600", fi.Mode().Perm())
	}

	restoreDir := t.TempDir()
	target := filepath.Join(restoreDir, "restored.db")
	st, stdout, errs = run(t, "", "restore", "-from", enc, "-to", target, "-data-key-file", keys)
	if st != 0 || !strings.Contains(stdout, target) {
		t.Fatalf("restore = %d %q %q", st, stdout, errs)
	}
	onlyFiles(t, restoreDir, "restored.db")
	if !hasUser(t, target) {
		t.Fatal("the restored database lacks the user")
	}
	if st, _, errs := run(t, "", "restore", "-from", enc, "-to", target, "-data-key-file", keys); st != exitUsage || !strings.Contains(errs, "exists") {
		t.Errorf("restore over an existing file = %d %q", st, errs)
	}
	// A plain backup restores the same way.
	target2 := filepath.Join(restoreDir, "from-plain.db")
	if st, _, errs := run(t, "", "restore", "-from", plainPath, "-to", target2); st != 0 || !hasUser(t, target2) {
		t.Fatalf("restore of a plain backup = %d %q", st, errs)
	}

	// After a rotation, the old backup still restores with the keyring.
	if _, err := keyring.Rotate(keys, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, _, errs := run(t, "", "restore", "-from", enc, "-to", filepath.Join(restoreDir, "rotated.db"), "-data-key-file", keys); st != 0 {
		t.Fatalf("restore with the rotated keyring = %d %q", st, errs)
	}

	other, _ := writeKeyring(t)
	sameID := filepath.Join(t.TempDir(), "same-id.keys")
	os.WriteFile(sameID, []byte(keyID+" "+strings.Fields(keyring.NewLine(time.Now()))[1]+"\n"), 0o600)
	for _, tt := range []struct {
		name   string
		from   string
		keys   string
		status int
		want   string
	}{
		{"bit flipped in a chunk", tampered(t, enc, flipByte(len(backupcrypt.Magic)+200)), keys, exitError, "does not verify"},
		{"bit flipped in the salt", tampered(t, enc, flipByte(len(backupcrypt.Magic)+2+len(keyID)+5)), keys, exitError, "does not verify"},
		{"last chunk altered", tampered(t, enc, flipByte(-5)), keys, exitError, "does not verify"},
		{"cut short", tampered(t, enc, func(b []byte) []byte { return b[:len(b)-100] }), keys, exitError, "does not verify"},
		{"cut at a chunk boundary", tampered(t, enc, func(b []byte) []byte {
			sealed := backupcrypt.ChunkSize + 16
			cut := (len(b) - len(backupcrypt.Magic) - 2 - len(keyID) - 64) % sealed
			if cut == 0 {
				cut = sealed
			}
			return b[:len(b)-cut]
		}), keys, exitError, "cut short"},
		{"key not in the keyring", enc, other, exitError, keyID},
		{"another key of the same id", enc, sameID, exitError, "not the one that encrypted"},
		{"no keyring", enc, "", exitUsage, "-data-key-file"},
		{"not a backup", keys, "", exitUsage, "not a backup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(restoreDir, "bad.db")
			args := []string{"restore", "-from", tt.from, "-to", target}
			if tt.keys != "" {
				args = append(args, "-data-key-file", tt.keys)
			}
			st, _, errs := run(t, "", args...)
			if st != tt.status || !strings.Contains(errs, tt.want) {
				t.Errorf("restore = %d %q; want %d with %q", st, errs, tt.status, tt.want)
			}
			if _, err := os.Stat(target); err == nil {
				t.Error("a failed restore left the target")
			}
			onlyFiles(t, restoreDir, "from-plain.db", "restored.db", "rotated.db")
		})
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "-from", enc}, "give -from FILE and -to TARGET"},
		{[]string{"restore", "-from", enc, "-to", filepath.Join(restoreDir, "x.sqlite")}, "ending in .db"},
		{[]string{"restore", "-from", enc, "-to", "postgres://u@127.0.0.1:1/x", "-data-key-file", keys}, "is a SQLite backup"},
		{[]string{"restore", "-from", filepath.Join(out, "missing"), "-to", filepath.Join(restoreDir, "m.db")}, "no such file"},
	} {
		if st, _, errs := run(t, "", tt.args...); st != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%q = %d %q; want usage error with %q", tt.args, st, errs, tt.want)
		}
	}
	if st, _, errs := run(t, "", "restore", "-h"); st != 0 || !strings.Contains(errs, "-data-key-file") || strings.Contains(errs, "-data ") {
		t.Errorf("restore -h = %d %q", st, errs)
	}
}

// TestBackupPostgresCommand checks with a stand-in pg_dump that the
// database password reaches it only through its environment, never its
// command line (which ps shows), and that its failure leaves no file.
func TestBackupPostgresCommand(t *testing.T) {
	noKeyringEnv(t)
	bin := t.TempDir()
	script := `#!/bin/sh
echo "$@" > "$0.args"
env > "$0.env"
if [ -n "$FAIL" ]; then echo "pg_dump: error: $FAIL" >&2; exit 1; fi
printf 'PGDMP fake archive'
`
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	keys, _ := writeKeyring(t)
	out := t.TempDir()
	dsn := "postgres://cityops:s3cr%20et@db.example:6543/city%20ops?sslmode=require&search_path=hue"
	path := filepath.Join(out, "pg.backup")
	st, _, errs := run(t, "", "backup", "-encrypt", "-data-key-file", keys, "-db", dsn, "-to", path)
	if st != 0 {
		t.Fatalf("backup = %d %q", st, errs)
	}
	args, _ := os.ReadFile(filepath.Join(bin, "pg_dump.args"))
	env, _ := os.ReadFile(filepath.Join(bin, "pg_dump.env"))
	env = append([]byte("\n"), env...)
	if strings.Contains(string(args), "s3cr") || !strings.Contains(string(args), "--dbname=dbname='city ops'") {
		t.Errorf("pg_dump's command line: %q", args)
	}
	for _, want := range []string{"PGPASSWORD=s3cr et", "PGUSER=cityops", "PGHOST=db.example", "PGPORT=6543", "PGSSLMODE=require", `PGOPTIONS=-c search_path=hue`} {
		if !strings.Contains(string(env), "\n"+want+"\n") {
			t.Errorf("pg_dump's environment lacks %s", want)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keyring.Load(keys)
	r, err := backupcrypt.NewReader(f, k)
	var got bytes.Buffer
	if err == nil {
		_, err = got.ReadFrom(r)
	}
	f.Close()
	if err != nil || got.String() != "PGDMP fake archive" {
		t.Fatalf("backup holds %q, %v", got.String(), err)
	}

	t.Setenv("FAIL", "connection refused")
	st, _, errs = run(t, "", "backup", "-encrypt", "-data-key-file", keys, "-db", dsn, "-to", filepath.Join(out, "failed.backup"))
	if st == 0 || !strings.Contains(errs, "connection refused") || strings.Contains(errs, "s3cr") {
		t.Errorf("failed pg_dump: %d %q", st, errs)
	}
	onlyFiles(t, out, "pg.backup")

	st, _, errs = run(t, "", "backup", "-db", dsn, "-to", filepath.Join(out, "plain.backup"))
	if st != exitUsage || !strings.Contains(errs, "-encrypt") || !strings.Contains(errs, "pg_dump -Fc") {
		t.Errorf("plain PostgreSQL backup = %d %q", st, errs)
	}
}

// TestPGRunKillsOnBadInput: when the backup fails to decrypt midway, the
// program reading it is killed before its input ends, so that pg_restore
// never commits a restore of part of a backup.
func TestPGRunKillsOnBadInput(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\ncat > \"$0.in\"\necho committed > \"$0.done\"\n"
	if err := os.WriteFile(filepath.Join(bin, "fake-restore"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	bad := errors.New("chunk 2 does not verify")
	src := io.MultiReader(strings.NewReader("PGDMP first chunk"), iotest.ErrReader(bad))
	if err := pgRun(context.Background(), "fake-restore", nil, nil, src, nil); !errors.Is(err, bad) {
		t.Fatalf("pgRun = %v; want the reader's error", err)
	}
	if _, err := os.Stat(filepath.Join(bin, "fake-restore.done")); err == nil {
		t.Fatal("the program saw the end of its input and finished")
	}
	if err := pgRun(context.Background(), "fake-restore", nil, nil, strings.NewReader("PGDMP whole"), nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(bin, "fake-restore.in")); string(b) != "PGDMP whole" {
		t.Fatalf("the program read %q", b)
	}
}

func TestPGEnv(t *testing.T) {
	for _, tt := range []struct {
		dsn, db string
		env     []string
	}{
		{"postgres://u:p%40ss@h:5433/d?sslmode=disable", "d", []string{"PGUSER=u", "PGPASSWORD=p@ss", "PGHOST=h", "PGPORT=5433", "PGSSLMODE=disable"}},
		{"postgresql://h/d?dbname=other&search_path=a b&pool_max_conns=4&options=-c%20work_mem=8MB", "other",
			[]string{"PGHOST=h", `PGOPTIONS=-c work_mem=8MB -c search_path=a\ b`}},
		{"postgres://u@/d?host=/run/postgresql", "d", []string{"PGUSER=u", "PGHOST=/run/postgresql"}},
	} {
		env, db, err := pgEnv(tt.dsn)
		if err != nil || db != tt.db || strings.Join(env, "|") != strings.Join(tt.env, "|") {
			t.Errorf("pgEnv(%s) = %q, %q, %v; want %q, %q", tt.dsn, env, db, err, tt.env, tt.db)
		}
	}
	if _, _, err := pgEnv("postgres://u:secret@h:port/d"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: %v", err)
	}
	if got := conninfoDB(`a'b\c d=e`); got != `dbname='a\'b\\c d=e'` {
		t.Errorf("conninfoDB = %s", got)
	}
}

// pgDatabase creates an empty PostgreSQL database for the test, dropped
// when it ends, and returns its URL.
func pgDatabase(t *testing.T, base, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("cityops_bk_%d_%d_%s", os.Getpid(), time.Now().UnixNano()%1e9, suffix)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`create database ` + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`drop database ` + name + ` with (force)`); err != nil {
			t.Errorf("drop database: %v", err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// relations counts the tables, views, indexes and sequences in a database.
func relations(t *testing.T, dsn string) int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`select count(*) from pg_class c join pg_namespace s on s.oid = c.relnamespace
		where s.nspname <> 'information_schema' and s.nspname not like 'pg\_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBackupRestorePostgres(t *testing.T) {
	base := os.Getenv(storagetest.PGEnv)
	if base == "" {
		t.Skipf("%s not set", storagetest.PGEnv)
	}
	for _, prog := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s not installed", prog)
		}
	}
	noKeyringEnv(t)
	src := pgDatabase(t, base, "src")
	seed(t, "-db", src)
	keys, keyID := writeKeyring(t)
	out := t.TempDir()
	enc := filepath.Join(out, "pg.backup")
	st, stdout, errs := run(t, "", "backup", "-encrypt", "-data-key-file", keys, "-db", src, "-to", enc)
	if st != 0 || !strings.Contains(stdout, keyID) {
		t.Fatalf("backup = %d %q %q", st, stdout, errs)
	}
	onlyFiles(t, out, "pg.backup")
	b, _ := os.ReadFile(enc)
	if !backupcrypt.IsEncrypted(b) || bytes.Contains(b, []byte("PGDMP")) || bytes.Contains(b, []byte(backupEmail)) {
		t.Fatal("the encrypted backup holds plain data")
	}

	dst := pgDatabase(t, base, "dst")
	st, stdout, errs = run(t, "", "restore", "-from", enc, "-to", dst, "-data-key-file", keys)
	if st != 0 || !strings.Contains(stdout, "restored") {
		t.Fatalf("restore = %d %q %q", st, stdout, errs)
	}
	if !hasUser(t, dst) {
		t.Fatal("the restored database lacks the user")
	}
	if st, _, errs := run(t, "", "migrate", "-db", dst); st != 0 {
		t.Errorf("migrate the restored database = %d %q", st, errs)
	}
	if st, _, errs := run(t, "", "restore", "-from", enc, "-to", dst, "-data-key-file", keys); st == 0 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore into a database that is not empty = %d %q", st, errs)
	}
	if st, _, errs := run(t, "", "restore", "-from", enc, "-to", filepath.Join(out, "x.db"), "-data-key-file", keys); st != exitUsage || !strings.Contains(errs, "postgres:// URL") {
		t.Errorf("restore of a PostgreSQL backup to a file = %d %q", st, errs)
	}

	other, _ := writeKeyring(t)
	empty := pgDatabase(t, base, "empty")
	for _, tt := range []struct {
		name, from, keys, want string
	}{
		{"bit flipped in the last chunk", tampered(t, enc, flipByte(-3)), keys, "does not verify"},
		{"bit flipped in the first chunk", tampered(t, enc, flipByte(len(backupcrypt.Magic)+100)), keys, "does not verify"},
		{"cut short", tampered(t, enc, func(b []byte) []byte { return b[:len(b)-1] }), keys, "does not verify"},
		{"wrong keyring", enc, other, keyID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, _, errs := run(t, "", "restore", "-from", tt.from, "-to", empty, "-data-key-file", tt.keys)
			if st == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("restore = %d %q; want an error with %q", st, errs, tt.want)
			}
			if n := relations(t, empty); n != 0 {
				t.Errorf("a failed restore left %d relations", n)
			}
		})
	}
}
