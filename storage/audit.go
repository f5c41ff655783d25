package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

var _ cityops.AuditService = (*DB)(nil)

// auditHash returns the hex SHA-256 of e's canonical encoding: every field
// but ID and Hash, each as its length in 8 bytes and then its bytes, so
// that no two different entries encode alike.
func auditHash(e *cityops.AuditEntry) string {
	h := sha256.New()
	writeFields(h, e.PrevHash, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Source, e.Action, e.Object, e.Outcome, e.Detail)
	return hex.EncodeToString(h.Sum(nil))
}

func writeFields(h hash.Hash, fields ...string) {
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
}

// sealMAC returns the hex HMAC-SHA256 of a seal of entry id with hash.
func sealMAC(key []byte, id int64, hash string) string {
	m := hmac.New(sha256.New, key)
	writeFields(m, strconv.FormatInt(id, 10), hash)
	return hex.EncodeToString(m.Sum(nil))
}

// appendAudit adds e to the chain inside tx. Appends are serialised so
// that two transactions never chain to the same previous entry: SQLite
// transactions hold the database's one write lock from their start; on
// PostgreSQL the table lock, held until commit, lets readers through but
// no other writer. Callers append as the last write of the transaction so
// that no other lock is awaited while this one is held.
func appendAudit(ctx context.Context, tx *Tx, e *cityops.AuditEntry) error {
	if tx.db.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `lock table audit_log in exclusive mode`); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	e.PrevHash = ""
	err := tx.QueryRowContext(ctx, `select hash from audit_log order by id desc limit 1`).Scan(&e.PrevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: %w", err)
	}
	e.At = tx.now
	e.Actor, e.Source = truncate(e.Actor, 320), truncate(e.Source, 100)
	e.Object, e.Detail = truncate(e.Object, 400), truncate(e.Detail, 2000)
	e.Hash = auditHash(e)
	if err := tx.QueryRowContext(ctx, `insert into audit_log (at, actor, source, action, object, outcome, detail, prev_hash, hash)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
		e.At, e.Actor, e.Source, e.Action, e.Object, e.Outcome, e.Detail, e.PrevHash, e.Hash).Scan(&e.ID); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// audit records a successful action of the context's actor inside tx.
func (tx *Tx) audit(ctx context.Context, action, object, detail string) error {
	return appendAudit(ctx, tx, &cityops.AuditEntry{Actor: cityops.ActorFromContext(ctx).AuditName(),
		Source: cityops.SourceFromContext(ctx), Action: action, Object: object, Outcome: cityops.AuditOK, Detail: detail})
}

// auditDenied records, in a transaction of its own, that the context's
// actor was refused action, when err is a refusal. Not being able to record
// it is logged: the refusal stands either way.
func (d *DB) auditDenied(ctx context.Context, action, object string, err error) {
	if c := cityops.ErrorCode(err); c != cityops.EFORBIDDEN && c != cityops.EUNAUTHORIZED {
		return
	}
	d.auditAside(ctx, &cityops.AuditEntry{Actor: cityops.ActorFromContext(ctx).AuditName(), Source: cityops.SourceFromContext(ctx),
		Action: action, Object: object, Outcome: cityops.AuditDenied, Detail: cityops.ErrorMessage(err)})
}

// auditAside records e in a transaction of its own, logging a failure.
func (d *DB) auditAside(ctx context.Context, e *cityops.AuditEntry) {
	if err := d.inTx(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, e) }); err != nil {
		d.Log.Error("audit record", "action", e.Action, "err", err)
	}
}

// Record implements cityops.AuditService.
func (d *DB) Record(ctx context.Context, e *cityops.AuditEntry) error {
	if e.Actor == "" {
		e.Actor = cityops.ActorFromContext(ctx).AuditName()
	}
	if e.Source == "" {
		e.Source = cityops.SourceFromContext(ctx)
	}
	var v cityops.Validation
	v.Check(e.Action != "", "action", "is required")
	v.Check(e.Outcome == cityops.AuditOK || e.Outcome == cityops.AuditDenied || e.Outcome == cityops.AuditFailed,
		"outcome", "must be ok, denied or failed")
	if err := v.Err(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, e) })
}

const auditCols = `id, at, actor, source, action, object, outcome, detail, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (*cityops.AuditEntry, error) {
	var e cityops.AuditEntry
	if err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Source, &e.Action, &e.Object, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	return &e, nil
}

// auditWhere turns f into conditions. Text search and action prefixes
// use LIKE with the wildcards in the input escaped.
func auditWhere(f cityops.AuditFilter) (*where, error) {
	w := &where{}
	var v cityops.Validation
	if f.Actor != nil {
		w.add("actor = ?", *f.Actor)
	}
	if f.Action != nil {
		if strings.HasSuffix(*f.Action, ".") {
			w.add(`action like ? escape '\'`, likeEscape(*f.Action)+"%")
		} else {
			w.add("action = ?", *f.Action)
		}
	}
	if f.Object != nil {
		w.add("object = ?", *f.Object)
	}
	if f.Outcome != nil {
		v.Check(cityops.ValidOutcome(*f.Outcome), "outcome", "must be ok, denied or failed")
		w.add("outcome = ?", *f.Outcome)
	}
	if f.Text != nil && *f.Text != "" {
		like := "%" + likeEscape(strings.ToLower(*f.Text)) + "%"
		w.add(`(lower(actor) like ? escape '\' or lower(object) like ? escape '\' or lower(detail) like ? escape '\')`, like, like, like)
	}
	if f.Since != nil {
		w.add("at >= ?", f.Since.UTC())
	}
	if f.Until != nil {
		w.add("at < ?", f.Until.UTC())
	}
	return w, v.Err()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// FindAudit implements cityops.AuditService.
func (d *DB) FindAudit(ctx context.Context, f cityops.AuditFilter) ([]*cityops.AuditEntry, int, error) {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		return nil, 0, err
	}
	w, err := auditWhere(f)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*) from audit_log`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit: %w", err)
	}
	order := ` order by id`
	if f.NewestFirst {
		order = ` order by id desc`
	}
	out, err := d.auditEntries(ctx, `select `+auditCols+` from audit_log`+w.String()+order+d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (d *DB) auditEntries(ctx context.Context, q string, args ...any) ([]*cityops.AuditEntry, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find audit: %w", err)
	}
	defer rows.Close()
	out := []*cityops.AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("find audit: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// auditExportPage is how many entries an export reads at a time.
const auditExportPage = 1000

// ExportAudit implements cityops.AuditService. It reads a page at a time
// after the last id seen, so that a slow reader holds no connection and
// the entries appended meanwhile do not shift the pages.
func (d *DB) ExportAudit(ctx context.Context, f cityops.AuditFilter, fn func(*cityops.AuditEntry) error) error {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		d.auditDenied(ctx, "audit.export", "audit", err)
		return err
	}
	if _, err := auditWhere(f); err != nil {
		return err
	}
	mark := &cityops.AuditEntry{Actor: cityops.ActorFromContext(ctx).AuditName(), Source: cityops.SourceFromContext(ctx),
		Action: "audit.export", Object: "audit", Outcome: cityops.AuditOK, Detail: f.String()}
	if err := d.inTx(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, mark) }); err != nil {
		return err
	}
	after := int64(0)
	for {
		w, _ := auditWhere(f)
		w.add("id > ?", after)
		w.add("id < ?", mark.ID)
		list, err := d.auditEntries(ctx, `select `+auditCols+` from audit_log`+w.String()+` order by id`+d.page(0, auditExportPage), w.args...)
		if err != nil {
			return err
		}
		for _, e := range list {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(list) < auditExportPage {
			return nil
		}
		after = list[len(list)-1].ID
	}
}

// Seal implements cityops.AuditService with the key in d.AuditKey.
func (d *DB) Seal(ctx context.Context) (*cityops.AuditSeal, error) {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		return nil, err
	}
	if len(d.AuditKey) == 0 {
		return nil, cityops.Errorf(cityops.EINVALID, "no audit key: give -audit-key-file to seal the audit trail")
	}
	s := &cityops.AuditSeal{}
	err := d.inTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `select id, hash from audit_log order by id desc limit 1`).Scan(&s.UptoID, &s.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.EINVALID, "the audit trail is empty; there is nothing to seal")
		}
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		s.HMAC, s.At = sealMAC(d.AuditKey, s.UptoID, s.Hash), tx.now
		if err := tx.QueryRowContext(ctx, `insert into audit_seals (upto_id, hash, hmac, at) values ($1, $2, $3, $4) returning id`,
			s.UptoID, s.Hash, s.HMAC, s.At).Scan(&s.ID); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// VerifyAudit implements cityops.AuditService. It recomputes every entry's
// hash in id order, checks that each names its predecessor's, and checks
// every seal against the entry it seals (and its HMAC when d.AuditKey is
// set). The oldest entry must start the chain, or follow the last entry
// the retention purge removed, as the anchor and the purge's own entry in
// the chain both say. Removing the newest entries is only noticed when a
// seal covers them.
func (d *DB) VerifyAudit(ctx context.Context) (*cityops.AuditVerification, error) {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		return nil, err
	}
	// No transaction, so that writers are not held up by a long walk: the
	// anchor, the seals and the entries are read one after the other, and
	// when a purge ran meanwhile (the anchor moved) the walk starts again.
	for attempt := 0; ; attempt++ {
		before, err := d.auditAnchor(ctx)
		if err != nil {
			return nil, err
		}
		v, err := d.verifyAudit(ctx, before)
		if err != nil {
			return nil, err
		}
		after, err := d.auditAnchor(ctx)
		if err != nil {
			return nil, err
		}
		if after.purgeID == before.purgeID || attempt == 2 {
			return v, nil
		}
	}
}

func (d *DB) verifyAudit(ctx context.Context, anchor auditAnchor) (*cityops.AuditVerification, error) {
	v := &cityops.AuditVerification{SealKey: len(d.AuditKey) > 0, PurgeID: anchor.purgeID}
	// Seals are read first: every entry they name is in the later read of
	// the entries, which are only ever appended (a purge moves the anchor,
	// and the caller walks again).
	seals := map[int64][]*cityops.AuditSeal{}
	rows, err := d.db.QueryContext(ctx, `select id, upto_id, hash, hmac from audit_seals order by id`)
	if err != nil {
		return nil, fmt.Errorf("verify audit: %w", err)
	}
	for rows.Next() {
		s := &cityops.AuditSeal{}
		if err := rows.Scan(&s.ID, &s.UptoID, &s.Hash, &s.HMAC); err != nil {
			rows.Close()
			return nil, fmt.Errorf("verify audit: %w", err)
		}
		seals[s.UptoID] = append(seals[s.UptoID], s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verify audit: %w", err)
	}

	rows, err = d.db.QueryContext(ctx, `select `+auditCols+` from audit_log order by id`)
	if err != nil {
		return nil, fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	prev := anchor.uptoHash // "" when nothing was ever purged
	sawPurge := false
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("verify audit: %w", err)
		}
		v.Entries++
		switch {
		case e.PrevHash != prev && v.FirstID == 0 && anchor.purgeID != 0:
			v.BrokenID, v.Reason = e.ID, fmt.Sprintf("it does not follow entry %d, the last the retention purge removed (older entries were removed by other means)", anchor.uptoID)
		case e.PrevHash != prev && v.FirstID == 0:
			v.BrokenID, v.Reason = e.ID, "it is the oldest entry but names a previous one, and no retention purge removed any (entries were removed)"
		case e.PrevHash != prev:
			v.BrokenID, v.Reason = e.ID, "it does not follow the entry before it (an entry was removed or changed)"
		case auditHash(e) != e.Hash:
			v.BrokenID, v.Reason = e.ID, "its content does not match its hash (it was changed)"
		case e.ID == anchor.purgeID:
			sawPurge = true
			if a := purgeDetail(e.Detail); e.Action != "audit.purge" || a.uptoID != anchor.uptoID || a.uptoHash != anchor.uptoHash {
				v.BrokenID, v.Reason = e.ID, "it is not the purge the audit anchor names (the anchor was changed)"
			}
		}
		if v.FirstID == 0 {
			v.FirstID = e.ID
		}
		for _, s := range seals[e.ID] {
			v.Seals++
			switch {
			case v.BrokenID != 0:
			case s.Hash != e.Hash:
				v.BrokenID, v.Reason = e.ID, fmt.Sprintf("seal %d does not match it (the chain was rewritten)", s.ID)
			case v.SealKey && !hmac.Equal([]byte(s.HMAC), []byte(sealMAC(d.AuditKey, s.UptoID, s.Hash))):
				v.BrokenID, v.Reason = e.ID, fmt.Sprintf("seal %d has a wrong HMAC (forged, or another key)", s.ID)
			}
		}
		delete(seals, e.ID)
		if v.BrokenID != 0 {
			return v, nil
		}
		prev = e.Hash
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verify audit: %w", err)
	}
	if anchor.purgeID != 0 && !sawPurge {
		v.BrokenID, v.Reason = anchor.purgeID, "the retention purge's entry is missing (entries were removed)"
	}
	// Seals left over name entries that are gone.
	for id, ss := range seals {
		if v.BrokenID == 0 || id < v.BrokenID {
			v.BrokenID, v.Reason = id, fmt.Sprintf("seal %d names it but it is missing (entries were removed)", ss[0].ID)
		}
	}
	return v, nil
}

// auditAnchor is where the chain starts after a purge: the last entry
// removed, which the oldest remaining one names as its predecessor, and
// the "audit.purge" entry that says so inside the chain. An anchor row
// alone is not trusted: the purge entry must agree with it, and an
// attacker cannot add one without breaking the chain after it.
type auditAnchor struct {
	purgeID, uptoID int64
	uptoHash        string
}

// auditAnchor reads the anchor; the zero anchor when nothing was purged.
func (d *DB) auditAnchor(ctx context.Context) (auditAnchor, error) {
	var a auditAnchor
	err := d.db.QueryRowContext(ctx, `select purge_id, upto_id, upto_hash from audit_anchor order by id desc limit 1`).
		Scan(&a.purgeID, &a.uptoID, &a.uptoHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("audit anchor: %w", err)
	}
	return a, nil
}

// purgeDetail reads the anchor a purge entry's detail names.
func purgeDetail(detail string) auditAnchor {
	var a auditAnchor
	for _, f := range strings.Fields(detail) {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "upto_id":
			a.uptoID, _ = strconv.ParseInt(val, 10, 64)
		case "upto_hash":
			a.uptoHash = val
		}
	}
	return a
}

// auditPurgeBatch is how many entries one purge transaction removes at
// most, so that a long backlog does not hold the writer for long.
const auditPurgeBatch = 10000

// PurgeAudit removes the entries older than retention, with the seals of
// removed entries, and returns how many entries went; retention 0 keeps
// everything. Each batch is a transaction that also appends an
// "audit.purge" entry (removed=N upto_id=ID upto_hash=HASH before=TIME)
// and moves the audit anchor to the last entry removed, so that
// VerifyAudit starts from the oldest remaining entry and still notices
// entries removed any other way. The newest entry always stays, so that
// the purge entry follows it. Only cityops itself purges: EFORBIDDEN for
// any other actor.
func (d *DB) PurgeAudit(ctx context.Context, retention time.Duration) (int64, error) {
	if a := cityops.ActorFromContext(ctx); a == nil || !a.System {
		return 0, cityops.Errorf(cityops.EFORBIDDEN, "only cityops itself purges the audit trail")
	}
	if retention <= 0 {
		return 0, nil
	}
	var total int64
	for {
		var n int64
		err := d.inTx(ctx, func(tx *Tx) error {
			var err error
			n, err = purgeAuditBatch(ctx, tx, tx.now.Add(-retention))
			return err
		})
		total += n
		if err != nil || n < auditPurgeBatch {
			return total, err
		}
	}
}

func purgeAuditBatch(ctx context.Context, tx *Tx, before time.Time) (int64, error) {
	if tx.db.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `lock table audit_log in exclusive mode`); err != nil {
			return 0, fmt.Errorf("purge audit: %w", err)
		}
	}
	var upto sql.NullInt64
	if err := tx.QueryRowContext(ctx, `select max(id) from (select id from audit_log
		where at < $1 and id < (select max(id) from audit_log) order by id limit $2) old`, before, auditPurgeBatch).Scan(&upto); err != nil {
		return 0, fmt.Errorf("purge audit: %w", err)
	}
	if !upto.Valid {
		return 0, nil
	}
	var hash string
	if err := tx.QueryRowContext(ctx, `select hash from audit_log where id = $1`, upto.Int64).Scan(&hash); err != nil {
		return 0, fmt.Errorf("purge audit: %w", err)
	}
	res, err := tx.ExecContext(ctx, `delete from audit_log where id <= $1`, upto.Int64)
	if err != nil {
		return 0, fmt.Errorf("purge audit: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `delete from audit_seals where upto_id <= $1`, upto.Int64); err != nil {
		return 0, fmt.Errorf("purge audit seals: %w", err)
	}
	e := &cityops.AuditEntry{Actor: cityops.ActorFromContext(ctx).AuditName(), Source: cityops.SourceFromContext(ctx),
		Action: "audit.purge", Object: "audit", Outcome: cityops.AuditOK,
		Detail: fmt.Sprintf("removed=%d upto_id=%d upto_hash=%s before=%s", n, upto.Int64, hash, before.UTC().Format(time.RFC3339))}
	if err := appendAudit(ctx, tx, e); err != nil {
		return 0, err
	}
	// The anchor is written after the append: only a purge writes it, and
	// a purge holds the audit lock from its start.
	if _, err := tx.ExecContext(ctx, `delete from audit_anchor`); err != nil {
		return 0, fmt.Errorf("audit anchor: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `insert into audit_anchor (purge_id, upto_id, upto_hash, removed, at) values ($1, $2, $3, $4, $5)`,
		e.ID, upto.Int64, hash, n, tx.now); err != nil {
		return 0, fmt.Errorf("audit anchor: %w", err)
	}
	return n, nil
}

// apiKeyUses coalesces the "apikey.use" entries of each key in this
// process: one at the key's first use, then at most one an hour.
type apiKeyUses struct {
	mu   sync.Mutex
	keys map[int64]*apiKeyUse
}

type apiKeyUse struct {
	prefix  string
	since   time.Time       // when the last entry was written
	n       int             // requests since then not yet recorded
	sources map[string]bool // their addresses, a few
	source  string          // the latest request's address
}

// apiKeyUseEvery is how often at most a key's use is recorded.
const apiKeyUseEvery = time.Hour

// NoteAPIKeyUse implements cityops.AuditService. The counts live in this
// process's memory; FlushAPIKeyUse writes what is left at shutdown.
func (d *DB) NoteAPIKeyUse(ctx context.Context, k *cityops.APIKey) {
	if k == nil {
		return
	}
	now, src := d.Now(), cityops.SourceFromContext(ctx)
	u := &d.keyUses
	u.mu.Lock()
	if u.keys == nil {
		u.keys = map[int64]*apiKeyUse{}
	}
	ku := u.keys[k.ID]
	first := ku == nil
	if first {
		ku = &apiKeyUse{prefix: k.Prefix}
		u.keys[k.ID] = ku
	}
	ku.n++
	ku.source = src
	if ku.sources == nil {
		ku.sources = map[string]bool{}
	}
	if len(ku.sources) < 10 {
		ku.sources[src] = true
	}
	if !first && now.Sub(ku.since) < apiKeyUseEvery {
		u.mu.Unlock()
		return
	}
	e := ku.entry(now)
	u.mu.Unlock()
	d.auditAside(ctx, e)
}

// entry takes the counted requests into an "apikey.use" entry and starts
// counting again from now. The caller holds the lock.
func (ku *apiKeyUse) entry(now time.Time) *cityops.AuditEntry {
	detail := fmt.Sprintf("requests=%d", ku.n)
	if !ku.since.IsZero() {
		detail += " since=" + ku.since.UTC().Format(time.RFC3339)
	}
	if len(ku.sources) > 1 {
		list := make([]string, 0, len(ku.sources))
		for s := range ku.sources {
			list = append(list, s)
		}
		sort.Strings(list)
		detail += " sources=" + strings.Join(list, ",")
	}
	name := "apikey:" + ku.prefix
	e := &cityops.AuditEntry{Actor: name, Source: ku.source, Action: "apikey.use", Object: name, Outcome: cityops.AuditOK, Detail: detail}
	ku.n, ku.since, ku.sources = 0, now, nil
	return e
}

// FlushAPIKeyUse records the requests counted since each key's last
// "apikey.use" entry, for a shutdown not to lose them.
func (d *DB) FlushAPIKeyUse(ctx context.Context) {
	u := &d.keyUses
	now := d.Now()
	var list []*cityops.AuditEntry
	u.mu.Lock()
	for _, ku := range u.keys {
		if ku.n > 0 {
			list = append(list, ku.entry(now))
		}
	}
	u.mu.Unlock()
	for _, e := range list {
		d.auditAside(ctx, e)
	}
}

// given names the fields an update gives, for the detail of its audit
// entry: "fields=name,boundary".
type given []string

func (g *given) add(name string, ok bool) {
	if ok {
		*g = append(*g, name)
	}
}

func (g given) String() string { return "fields=" + strings.Join(g, ",") }

// pairs joins the non-empty key=value pairs of kv for an entry's detail:
// pairs("kind", "ward", "parent", "") is "kind=ward".
func pairs(kv ...string) string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, kv[i]+"="+kv[i+1])
		}
	}
	return strings.Join(out, " ")
}

// accessChange is the detail of a change to an account: its access after
// and, when the role, agency, area or being disabled changed, before:
// "role=admin (was role=operator agency=HEPCO)".
func accessChange(before, after string) string {
	if before == after {
		return after
	}
	return after + " (was " + before + ")"
}
