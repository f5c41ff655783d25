// Package storage implements the cityops services on SQLite (embedded, the
// default) and PostgreSQL with one set of hand-written SQL. Dialect
// differences are confined to this file and dialect.go.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/workhours"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is the storage of one cityops process. It implements every service
// interface of the cityops package. It holds no state that another process
// sharing the same PostgreSQL would need: caches (the area index) are
// rebuilt from the database when it changes.
type DB struct {
	db      *sql.DB
	dialect string
	dsn     string
	// Path is the SQLite file; empty for PostgreSQL.
	Path string

	// Now returns the current time; tests set it.
	Now cityops.Clock
	// PasswordParams are the argon2id costs for new hashes.
	PasswordParams auth.Params
	// Sessions sets session lifetimes.
	Sessions cityops.SessionConfig
	// SignIn sets lockout, second-factor and inactivity rules.
	SignIn cityops.SignInConfig
	// Log receives storage warnings.
	Log *slog.Logger
	// Reports holds the city's rules of report handling.
	Reports cityops.ReportConfig
	// AuditKey is the HMAC key that seals the audit trail. It is kept
	// outside the database (a file the caller reads), so that whoever can
	// write to the database cannot forge seals. Without it, Seal refuses
	// and VerifyAudit cannot check the seals' HMACs.
	AuditKey []byte
	// keyUses counts API-key requests between "apikey.use" entries.
	keyUses apiKeyUses
	// Keys seals reporters' names, phones and e-mail addresses at rest
	// (personal.go); nil stores them in clear.
	Keys *keyring.Keyring

	areas  *areaCache
	intake *intake
	// entityGroups commits entity batches together.
	entityGroups *entityGroups
	// writer queues this process's SQLite writes (nil on PostgreSQL):
	// see lockWriter. They all go through wconn, one connection, whose
	// page cache then stays valid: SQLite drops a connection's cache
	// whenever another connection has written, and a write transaction on
	// a cold connection read every B-tree page it touched back through
	// system calls (over half of the writer's time under MQTT ingestion).
	writer chan struct{}
	wconn  *sql.Conn
	// checkpoints copies SQLite's WAL into the database file (nil on
	// PostgreSQL).
	checkpoints *checkpointer
	// rollups keeps roll-up sums in memory once DeferRollups is called
	// (nil on PostgreSQL): rollup_defer.go.
	rollups *deferredRollups
	// hlog holds the recent history while this process ingests (nil on
	// PostgreSQL): history_log.go.
	hlog *historyLog
	// devices caches what MeasureBatch looks up (device.go), entities
	// what batches wrote (entity_cache.go).
	devices  deviceCache
	entities entityCache
	// attrs are the attribute codes of history and values (attrnames.go).
	attrs attrCodes
	// counts are the turns of broad count=true queries (query.go).
	counts chan struct{}
	// stmts keeps the entity write path's statements prepared (stmt.go).
	stmts     preparedStmts
	dummyOnce sync.Once
	dummy     string

	listenMu  sync.Mutex
	listeners []cityops.EntityListener
	// previewers are told of measurements before they are written.
	previewers []cityops.EntityListener
	// alarmListeners are told of committed alarm changes.
	alarmListeners   []func(cityops.AlarmChange)
	warningListeners []func(*cityops.Warning)
}

// Open connects to the database named by dsn: empty means SQLite in
// dataDir/cityops.db, a postgres:// or postgresql:// URL means PostgreSQL.
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	d := &DB{
		Now:            time.Now,
		PasswordParams: auth.DefaultParams,
		Sessions:       cityops.SessionConfig{Idle: 15 * time.Minute, IdleAdmin: 5 * time.Minute, Lifetime: 12 * time.Hour},
		// No role needs a second factor unless the caller says so (serve
		// does, by default); lockout is on.
		SignIn: cityops.SignInConfig{Failures: 5, Window: 15 * time.Minute, Lockout: 15 * time.Minute, ResetTTL: 30 * time.Minute},
		counts: make(chan struct{}, countSlots),
		Log:    slog.Default(),
		Reports: cityops.ReportConfig{NightFrom: 0, NightTo: 7*60 + 30, Zone: time.FixedZone("ICT", 7*3600),
			ConfirmDays: 7, ReopenDays: 14, Calendar: workhours.Default(), WarnBefore: 4 * time.Hour, EscalateAfter: 24 * time.Hour,
			DuplicateRadius: 50, DuplicateWindow: 30 * 24 * time.Hour},
		areas: &areaCache{},
	}
	switch {
	case dsn == "" || strings.HasPrefix(dsn, "file:") || strings.HasSuffix(dsn, ".db"):
		path := filepath.Join(dataDir, "cityops.db")
		if dsn != "" { // a DSN given: its options are cityops' own
			path = strings.TrimPrefix(dsn, "file:")
			if i := strings.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		if err := checkWritable(filepath.Dir(path)); err != nil {
			return nil, err
		}
		d.dialect, d.Path = SQLite, path
		d.dsn = sqliteDSN(path)
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			// url's error quotes the whole URL, password and all.
			return nil, errors.New("database URL: not a valid URL (characters such as @ : / % in the user name or password must be %-escaped)")
		}
		d.dialect, d.dsn = Postgres, dsn
	default:
		return nil, fmt.Errorf("database %q: want empty (SQLite in the data directory), a path ending in .db, or a postgres:// URL", redact(dsn))
	}
	driver := "sqlite"
	if d.dialect == Postgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, d.dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	d.db = db
	d.intake = newIntake(d)
	d.entityGroups = newEntityGroups(d)
	if d.dialect == SQLite {
		// One writer at a time is SQLite's model; several connections still
		// read in parallel under WAL. This process's writers queue in
		// lockWriter; busy_timeout covers other processes.
		d.writer = make(chan struct{}, 1)
		d.checkpoints = newCheckpointer(d)
		d.rollups = newDeferredRollups(d)
		d.hlog = newHistoryLog(d)
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	} else {
		// Keep the connections open: database/sql keeps only two idle
		// ones by default, and a new PostgreSQL connection is a new
		// server process.
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", d.dialect, redact(dsn), err)
	}
	if d.dialect == SQLite {
		if d.wconn, err = writerConn(pctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to sqlite database %s: %w", redact(dsn), err)
		}
	}
	return d, nil
}

// sqliteDSN sets the pragmas on every connection: WAL so readers never block
// the writer, FULL sync so a committed write survives a crash or power loss,
// foreign keys on, and a busy timeout so concurrent writers wait instead of
// failing.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", writerWait.Milliseconds()))
	// No connection checkpoints the WAL on its own: a goroutine does,
	// beside the writer (checkpoint.go). Every commit is still synced to
	// the WAL.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// When the log starts again, a file grown past 64 MiB is cut back.
	q.Add("_pragma", "journal_size_limit(67108864)")
	// 64 MiB of page cache per connection (the default is 2 MiB): the
	// indexes of a large history stay in memory as it grows.
	q.Add("_pragma", "cache_size(-65536)")
	q.Set("_time_format", "sqlite")
	q.Set("_txlock", "immediate")
	// The path is escaped as a URI path: SQLite reads "file:" names as
	// URIs, where '#' and '?' in a directory name would cut it short.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".cityops-write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// redact hides the password of a database URL for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// It cannot be taken apart, so nothing of it is shown.
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://(not a valid URL)"
	}
	if u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Dialect returns SQLite or Postgres.
func (d *DB) Dialect() string { return d.dialect }

// SQL returns the underlying pool, for metrics.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the pool. For SQLite it checkpoints the WAL first so the
// database file is complete on its own.
func (d *DB) Close() error {
	d.intake.shutdown()
	d.entityGroups.shutdown()
	d.rollups.shutdown()
	d.stmts.close()
	if d.checkpoints != nil {
		d.checkpoints.shutdown()
	}
	if d.wconn != nil {
		d.wconn.Close()
	}
	if d.dialect == SQLite {
		if _, err := d.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			d.Log.Warn("wal checkpoint at close", "err", err)
		}
	}
	return d.db.Close()
}

// Ping checks that the database answers, for /readyz.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return cityops.Errorf(cityops.EUNAVAILABLE, "database unreachable")
	}
	var one int
	if err := d.db.QueryRowContext(ctx, `select 1`).Scan(&one); err != nil {
		return cityops.Errorf(cityops.EUNAVAILABLE, "database unreachable")
	}
	return nil
}

// Tx is one service call's transaction. It fixes the time once so that
// every row written by the call carries the same timestamp.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
	// changes are the entities written, handed to the listeners after
	// commit; values are their indexed values to rewrite before it.
	changes []cityops.EntityChange
	values  []valueChange
	// unprepared are statements to keep prepared after commit (stmt.go).
	unprepared []string
	// locked: the transaction holds the writer's turn (lockWriter).
	locked bool
	// staged are roll-up sums to keep in memory once it commits; settled:
	// it wrote those in memory to the rows (rollup_defer.go).
	staged  map[rollKey]*rollAgg
	settled bool
	// firstBlock is the first history block it wrote (on SQLite, when
	// sums wait in memory); flushed, the sums in memory it wrote.
	firstBlock int64
	flushed    map[pkAttr]bool
	// cached are entity states for the cache once it commits.
	cached []*entityRow
	// newCodes are the attribute codes it gave (attrnames.go).
	newCodes map[attrKey]string
	// logAdded are the history log rows it wrote, logRemoved those it
	// merged or deleted; logChanging: it moves or removes log rows
	// (history_log.go).
	logAdded, logRemoved []loggedBlock
	logChanging          bool
}

// writerWait bounds the wait for SQLite's writer, as busy_timeout does
// inside SQLite.
const writerWait = 10 * time.Second

// lockWriter waits for this process's turn to write to SQLite (at once on
// PostgreSQL). SQLite lets one writer in at a time and makes the others
// poll, sleeping up to 100 ms between tries: under steady ingestion the
// committer that has just finished takes the lock again before a poller
// wakes, so a report, an alarm or a session's touch waited seconds, or
// failed after busy_timeout. A channel serves its waiters in turn.
func (d *DB) lockWriter(ctx context.Context) error {
	if d.writer == nil {
		return nil
	}
	select {
	case d.writer <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case d.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return cityops.Errorf(cityops.EUNAVAILABLE, "the database is busy; try again")
	}
}

func (d *DB) unlockWriter() {
	if d.writer != nil {
		<-d.writer
	}
}

// execWrite runs one statement that writes, outside a transaction, in
// its turn.
func (d *DB) execWrite(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := d.lockWriter(ctx); err != nil {
		return nil, err
	}
	defer d.unlockWriter()
	if d.wconn == nil {
		return d.db.ExecContext(ctx, q, args...)
	}
	res, err := d.wconn.ExecContext(ctx, q, args...)
	if errors.Is(err, sql.ErrConnDone) && d.renewWriteConn(ctx) == nil {
		res, err = d.wconn.ExecContext(ctx, q, args...)
	}
	if err == nil {
		d.checkpoints.committed()
	}
	return res, err
}

// writerConn takes the connection all SQLite writes go through. Its
// statement journals (the pages a multi-row statement changes, kept in
// case it fails half-way) stay in memory: past 64 KiB SQLite writes them
// to a temporary file, which under MQTT ingestion was a tenth of the
// writer's system calls. Readers keep temporary files for large sorts.
func writerConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// renewWriteConn replaces the writer's connection after database/sql
// has closed it (which it does to a connection it no longer trusts); the
// caller holds the writer's turn.
func (d *DB) renewWriteConn(ctx context.Context) error {
	c, err := writerConn(ctx, d.db)
	if err != nil {
		return err
	}
	d.wconn.Close()
	d.wconn = c
	d.Log.Warn("sqlite: the writer's connection was closed; using a new one")
	return nil
}

// begin starts a transaction. SQLite transactions take the write lock at
// once (_txlock=immediate) so two writers never deadlock on upgrade, in
// this process's turn (lockWriter) until Commit or Rollback.
func (d *DB) begin(ctx context.Context) (*Tx, error) {
	if err := d.lockWriter(ctx); err != nil {
		return nil, err
	}
	var tx *sql.Tx
	var err error
	if d.wconn != nil {
		tx, err = d.wconn.BeginTx(ctx, nil)
		if errors.Is(err, sql.ErrConnDone) && d.renewWriteConn(ctx) == nil {
			tx, err = d.wconn.BeginTx(ctx, nil)
		}
	} else {
		tx, err = d.db.BeginTx(ctx, nil)
	}
	if err != nil {
		d.unlockWriter()
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{Tx: tx, db: d, now: d.Now().UTC().Truncate(time.Microsecond), locked: true}, nil
}

// Commit commits the transaction and lets the next writer in.
func (tx *Tx) Commit() error {
	err := tx.Tx.Commit()
	if err == nil {
		tx.db.rollups.committed(tx)
		tx.db.hlog.committed(tx)
		if len(tx.cached) > 0 {
			tx.db.entities.put(tx.cached)
		}
		if len(tx.newCodes) > 0 {
			tx.db.attrs.put(tx.newCodes)
		}
	} else {
		tx.db.rollups.aborted(tx)
		tx.db.hlog.aborted(tx)
	}
	tx.staged, tx.settled, tx.cached, tx.flushed = nil, false, nil, nil
	tx.newCodes, tx.logAdded, tx.logRemoved, tx.logChanging = nil, nil, nil, false
	tx.unlock()
	if err == nil && tx.db.checkpoints != nil {
		tx.db.checkpoints.committed()
	}
	return err
}

// Rollback rolls the transaction back, unless it is done, and lets the
// next writer in.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.db.rollups.aborted(tx)
	tx.db.hlog.aborted(tx)
	tx.staged, tx.settled, tx.cached, tx.flushed = nil, false, nil, nil
	tx.newCodes, tx.logAdded, tx.logRemoved, tx.logChanging = nil, nil, nil, false
	tx.unlock()
	return err
}

func (tx *Tx) unlock() {
	if tx.locked {
		tx.locked = false
		tx.db.unlockWriter()
	}
}

// inTx runs fn in a transaction, committing when it returns nil.
func (d *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.flushValues(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	d.notifyEntities(tx.changes)
	if len(tx.unprepared) > 0 {
		d.stmts.prepare(ctx, d, tx.unprepared)
	}
	return nil
}

// OnEntityChange adds a listener for committed entity writes.
func (d *DB) OnEntityChange(f cityops.EntityListener) {
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	d.listeners = append(d.listeners, f)
}

func (d *DB) notifyEntities(changes []cityops.EntityChange) {
	if len(changes) == 0 {
		return
	}
	d.listenMu.Lock()
	ls := d.listeners
	d.listenMu.Unlock()
	for _, f := range ls {
		f(changes)
	}
}

// Backup writes a consistent copy of the SQLite database to path while other
// processes keep using it. The copy is written beside path and renamed into
// place, so a failed backup leaves nothing half-written.
func (d *DB) Backup(ctx context.Context, path string) error {
	if d.dialect != SQLite {
		return cityops.Errorf(cityops.EINVALID, "online backup is for SQLite; for PostgreSQL use pg_dump")
	}
	if _, err := os.Stat(path); err == nil {
		return cityops.Errorf(cityops.ECONFLICT, "%s exists already; choose a new file", path)
	}
	tmp := path + ".partial"
	os.Remove(tmp)
	if _, err := d.db.ExecContext(ctx, `VACUUM INTO $1`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup sync: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
