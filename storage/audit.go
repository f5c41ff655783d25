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
	"strconv"
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

// FindAudit implements cityops.AuditService.
func (d *DB) FindAudit(ctx context.Context, f cityops.AuditFilter) ([]*cityops.AuditEntry, int, error) {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		return nil, 0, err
	}
	var w where
	if f.Actor != nil {
		w.add("actor = ?", *f.Actor)
	}
	if f.Action != nil {
		w.add("action = ?", *f.Action)
	}
	if f.Object != nil {
		w.add("object = ?", *f.Object)
	}
	if f.Since != nil {
		w.add("at >= ?", f.Since.UTC())
	}
	if f.Until != nil {
		w.add("at < ?", f.Until.UTC())
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*) from audit_log`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `select `+auditCols+` from audit_log`+w.String()+` order by id`+d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find audit: %w", err)
	}
	defer rows.Close()
	out := []*cityops.AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("find audit: %w", err)
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
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
// set). Removing the newest entries is only noticed when a seal covers
// them.
func (d *DB) VerifyAudit(ctx context.Context) (*cityops.AuditVerification, error) {
	if err := authorize(ctx, cityops.PermAuditRead); err != nil {
		return nil, err
	}
	v := &cityops.AuditVerification{SealKey: len(d.AuditKey) > 0}
	// Seals are read first: every entry they name is in the later read of
	// the entries, which are only ever appended. No transaction, so that
	// writers are not held up by a long walk.
	err := func() error {
		seals := map[int64][]*cityops.AuditSeal{}
		rows, err := d.db.QueryContext(ctx, `select id, upto_id, hash, hmac from audit_seals order by id`)
		if err != nil {
			return fmt.Errorf("verify audit: %w", err)
		}
		for rows.Next() {
			s := &cityops.AuditSeal{}
			if err := rows.Scan(&s.ID, &s.UptoID, &s.Hash, &s.HMAC); err != nil {
				rows.Close()
				return fmt.Errorf("verify audit: %w", err)
			}
			seals[s.UptoID] = append(seals[s.UptoID], s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("verify audit: %w", err)
		}

		rows, err = d.db.QueryContext(ctx, `select `+auditCols+` from audit_log order by id`)
		if err != nil {
			return fmt.Errorf("verify audit: %w", err)
		}
		defer rows.Close()
		prev := ""
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return fmt.Errorf("verify audit: %w", err)
			}
			v.Entries++
			switch {
			case e.PrevHash != prev:
				v.BrokenID, v.Reason = e.ID, "it does not follow the entry before it (an entry was removed or changed)"
			case auditHash(e) != e.Hash:
				v.BrokenID, v.Reason = e.ID, "its content does not match its hash (it was changed)"
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
				return nil
			}
			prev = e.Hash
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("verify audit: %w", err)
		}
		// Seals left over name entries that are gone.
		for id, ss := range seals {
			if v.BrokenID == 0 || id < v.BrokenID {
				v.BrokenID, v.Reason = id, fmt.Sprintf("seal %d names it but it is missing (entries were removed)", ss[0].ID)
			}
		}
		return nil
	}()
	if err != nil {
		return nil, err
	}
	return v, nil
}
