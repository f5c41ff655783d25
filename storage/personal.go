package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/keyring"
)

// Personal data at rest. With d.Keys set, a reporter's name, phone and
// e-mail are sealed (AES-GCM, keyring package) on insert and opened only
// by redact, for a viewer canSeeReporter allows, and by the services that
// need them (e-mail to the reporter, the personal-data export). Each value
// is bound to its column and its report's tracking code, which is unique,
// never changes and is known before the insert: a value copied to another
// column or report does not open. A keyed blind index of the normalised
// e-mail and phone finds a person's reports without decrypting every row.

// reporterAAD is the associated data that binds a sealed value to its place.
func reporterAAD(col, tracking string) []byte {
	return []byte("reports." + col + ":" + tracking)
}

// sealedReporter is a reporter's data as stored.
type sealedReporter struct {
	name, phone, email string
	emailIdx, phoneIdx string
}

// sealReporter seals a report's reporter data with the current key and
// computes its blind indexes; without a keyring it returns them as they
// are, with no index.
func (d *DB) sealReporter(tracking, name, phone, email string) sealedReporter {
	if d.Keys == nil {
		return sealedReporter{name: name, phone: phone, email: email}
	}
	return sealedReporter{
		name:     d.Keys.Seal(name, reporterAAD("reporter_name", tracking)),
		phone:    d.Keys.Seal(phone, reporterAAD("reporter_phone", tracking)),
		email:    d.Keys.Seal(email, reporterAAD("reporter_email", tracking)),
		emailIdx: d.blindIndex("", "email", cityops.NormalizeEmail(email)),
		phoneIdx: d.blindIndex("", "phone", cityops.NormalizePhone(phone)),
	}
}

// openValue opens one stored reporter value; a value stored in clear
// (before the keyring) is returned as it is. Errors name the report and
// column and the key, never the value.
func (d *DB) openValue(col, tracking, v string) (string, error) {
	if !keyring.IsSealed(v) {
		return v, nil
	}
	if d.Keys == nil {
		return "", fmt.Errorf("report %s: %s is sealed and no data keyring is configured", tracking, col)
	}
	p, err := d.Keys.Open(v, reporterAAD(col, tracking))
	if err != nil {
		return "", fmt.Errorf("report %s: %s: %w", tracking, col, err)
	}
	return p, nil
}

// openReporter opens r's reporter fields in place. When one does not
// open, all three are blanked and hidden.
func (d *DB) openReporter(r *cityops.Report) error {
	for _, f := range []struct {
		col string
		v   *string
	}{{"reporter_name", &r.ReporterName}, {"reporter_phone", &r.ReporterPhone}, {"reporter_email", &r.ReporterEmail}} {
		p, err := d.openValue(f.col, r.Tracking, *f.v)
		if err != nil {
			r.ReporterName, r.ReporterPhone, r.ReporterEmail, r.ReporterVisible = "", "", "", false
			return err
		}
		*f.v = p
	}
	return nil
}

// blindIndexInfo names the blind index's key, derived from a data key.
const blindIndexInfo = "cityops blind index v1"

// blindIndex returns the hex HMAC-SHA256 of a normalised e-mail or phone
// (kind "email" or "phone") under the blind-index key derived from the
// data key id ("" for the current one); "" without a keyring or value.
func (d *DB) blindIndex(id, kind, norm string) string {
	if d.Keys == nil || norm == "" {
		return ""
	}
	key, err := d.Keys.Derive(id, nil, blindIndexInfo)
	if err != nil {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind + ":" + norm))
	return hex.EncodeToString(m.Sum(nil))
}

// SealBatch is what one batch of a sealing pass did.
type SealBatch struct {
	// Next is the report id to continue after; 0 once the pass is done.
	Next int64
	// Sealed counts reports whose values were sealed (again) with the
	// current key and whose blind indexes were computed again.
	Sealed int
	// Skipped counts reports sealed with a key this keyring lacks (a
	// newer one, used by another process); they are left as they are.
	Skipped int
	// Failed counts reports with a value that does not open (changed or
	// moved): logged without the value, left as they are.
	Failed int
}

// SealPersonalData seals with the current key the reporter values of up
// to limit reports after id after that are in clear or sealed with another
// key, and computes their blind indexes again: one batch of a pass, in one
// transaction. A pass starts at 0 and goes on from Next until Next is 0;
// it can be stopped and started again at any time, since what is sealed
// with the current key is not selected again. EINVALID without a keyring.
func (d *DB) SealPersonalData(ctx context.Context, after int64, limit int) (SealBatch, error) {
	var b SealBatch
	if d.Keys == nil {
		return b, cityops.Errorf(cityops.EINVALID, "no data keyring: give -data-key-file, CITYOPS_DATA_KEY_FILE or CITYOPS_DATA_KEY")
	}
	ids := map[string]bool{}
	for _, id := range d.Keys.IDs() {
		ids[id] = true
	}
	// An exact comparison of the prefix (LIKE ignores case in SQLite).
	cur := "enc1:" + d.Keys.Current() + ":"
	notCur := func(col string) string {
		return fmt.Sprintf("(%s <> '' and substr(%s, 1, %d) <> $2)", col, col, len(cur))
	}
	err := d.inTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `select id, tracking, reporter_name, reporter_phone, reporter_email from reports
			where id > $1 and (`+notCur("reporter_name")+` or `+notCur("reporter_phone")+` or `+notCur("reporter_email")+`)
			order by id limit $3`+d.forUpdate("reports"), after, cur, limit)
		if err != nil {
			return fmt.Errorf("seal personal data: %w", err)
		}
		type row struct {
			id                           int64
			tracking, name, phone, email string
		}
		var list []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.tracking, &r.name, &r.phone, &r.email); err != nil {
				rows.Close()
				return fmt.Errorf("seal personal data: %w", err)
			}
			list = append(list, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("seal personal data: %w", err)
		}
	next:
		for _, r := range list {
			plain := [3]string{}
			for i, c := range []struct{ col, v string }{{"reporter_name", r.name}, {"reporter_phone", r.phone}, {"reporter_email", r.email}} {
				if id := keyring.SealedWith(c.v); id != "" && !ids[id] {
					b.Skipped++
					continue next
				}
				p, err := d.openValue(c.col, r.tracking, c.v)
				if err != nil {
					d.Log.Error("reporter data does not open", "report", r.tracking, "err", err)
					b.Failed++
					continue next
				}
				plain[i] = p
			}
			s := d.sealReporter(r.tracking, plain[0], plain[1], plain[2])
			if _, err := tx.ExecContext(ctx, `update reports set reporter_name = $1, reporter_phone = $2, reporter_email = $3,
				reporter_email_bidx = $4, reporter_phone_bidx = $5 where id = $6`,
				s.name, s.phone, s.email, s.emailIdx, s.phoneIdx, r.id); err != nil {
				return fmt.Errorf("seal personal data: %w", err)
			}
			b.Sealed++
		}
		if len(list) == limit {
			b.Next = list[len(list)-1].id
		}
		return nil
	})
	if err != nil {
		return SealBatch{}, err
	}
	return b, nil
}

// SealAllPersonalData runs a whole sealing pass in batches of limit
// reports, each its own transaction, calling progress after each, and
// returns the totals.
func (d *DB) SealAllPersonalData(ctx context.Context, limit int, progress func(SealBatch)) (SealBatch, error) {
	if d.Keys == nil {
		return SealBatch{}, cityops.Errorf(cityops.EINVALID, "no data keyring: give -data-key-file, CITYOPS_DATA_KEY_FILE or CITYOPS_DATA_KEY")
	}
	// Staff's TOTP secrets are sealed with the same keys.
	total, err := d.sealTOTPSecrets(ctx)
	if err != nil {
		return total, err
	}
	for after := int64(0); ; {
		b, err := d.SealPersonalData(ctx, after, limit)
		if err != nil {
			return total, err
		}
		total.Sealed, total.Skipped, total.Failed = total.Sealed+b.Sealed, total.Skipped+b.Skipped, total.Failed+b.Failed
		if progress != nil {
			progress(b)
		}
		if b.Next == 0 || ctx.Err() != nil {
			return total, ctx.Err()
		}
		after = b.Next
	}
}

// PersonalDataStatus counts the stored reporter values (names, phones and
// e-mail addresses) and staff's TOTP secrets by the id of the key that
// sealed them; "" counts those in clear. A key whose count is 0 may be
// removed from the keyring.
func (d *DB) PersonalDataStatus(ctx context.Context) (map[string]int, error) {
	// The prefix is enough to name the key: "enc1:" and an id of at most
	// 40 characters.
	rows, err := d.db.QueryContext(ctx, `select substr(reporter_name, 1, 60), substr(reporter_phone, 1, 60), substr(reporter_email, 1, 60)
		from reports where reporter_name <> '' or reporter_phone <> '' or reporter_email <> ''`)
	if err != nil {
		return nil, fmt.Errorf("personal data status: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	if err := d.totpStatus(ctx, out); err != nil {
		return nil, err
	}
	for rows.Next() {
		var v [3]string
		if err := rows.Scan(&v[0], &v[1], &v[2]); err != nil {
			return nil, fmt.Errorf("personal data status: %w", err)
		}
		for _, s := range v {
			if s != "" {
				out[keyring.SealedWith(s)]++
			}
		}
	}
	return out, rows.Err()
}

// finalStatuses are the statuses whose reports are finished with.
var finalStatuses = []string{cityops.StatusClosed, cityops.StatusRejected, cityops.StatusDuplicate}

// AnonymiseReports blanks the reporter's name, phone and e-mail (and
// their blind indexes) of up to limit reports that were finished with
// (closed, rejected or duplicate) more than after ago, in one transaction
// with one "reports.anonymise" audit entry, and returns how many. The
// description, address, photos and timeline stay: they are the public
// record of the city's work, and the photos carry no metadata.
func (d *DB) AnonymiseReports(ctx context.Context, after time.Duration, limit int) (int, error) {
	if after <= 0 {
		return 0, cityops.Errorf(cityops.EINVALID, "anonymise after a positive period")
	}
	n := 0
	err := d.inTx(ctx, func(tx *Tx) error {
		cutoff := tx.now.Add(-after)
		// The condition on the reporter columns is written as the partial
		// index reports_personal_closed is, so that either database may
		// use it: it holds only the reports that still have personal data.
		res, err := tx.ExecContext(ctx, `update reports set reporter_name = '', reporter_phone = '', reporter_email = '',
			reporter_email_bidx = '', reporter_phone_bidx = ''
			where id in (select id from reports where (reporter_name <> '' or reporter_phone <> '' or reporter_email <> '')
				and closed_at < $1 and status in ($2, $3, $4) order by closed_at limit $5)`,
			cutoff, finalStatuses[0], finalStatuses[1], finalStatuses[2], limit)
		if err != nil {
			return fmt.Errorf("anonymise reports: %w", err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("anonymise reports: %w", err)
		}
		if n = int(m); n == 0 {
			return nil
		}
		return tx.audit(ctx, "reports.anonymise", "reports",
			fmt.Sprintf("%d reports finished with before %s", n, cutoff.Format(time.RFC3339)))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lookupHash names a person in the audit trail without their address or
// number: the blind index under the current key, or without a keyring
// (when the database holds the values in clear anyway) a SHA-256.
func (d *DB) lookupHash(kind, norm string) string {
	if d.Keys != nil {
		return d.blindIndex("", kind, norm)
	}
	h := sha256.Sum256([]byte(kind + ":" + norm))
	return "sha256-" + hex.EncodeToString(h[:])
}

// ExportPersonalData implements cityops.ReportService. Reports are found
// by the blind index under every key of the keyring, and, for values
// without one (stored in clear, before the keyring), by opening and
// comparing them; every match is checked against the opened value.
func (d *DB) ExportPersonalData(ctx context.Context, q cityops.PersonalDataQuery) (*cityops.PersonalData, error) {
	if err := authorize(ctx, cityops.PermPersonalData); err != nil {
		d.auditDenied(ctx, "personal.export", "", err)
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	kind, norm, col := "email", cityops.NormalizeEmail(q.Email), "reporter_email"
	normalize := cityops.NormalizeEmail
	if norm == "" {
		kind, norm, col = "phone", cityops.NormalizePhone(q.Phone), "reporter_phone"
		normalize = cityops.NormalizePhone
	}
	found := map[int64]bool{}
	if d.Keys != nil {
		var args []any
		var ph []string
		for _, id := range d.Keys.IDs() {
			args = append(args, d.blindIndex(id, kind, norm))
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		ids, err := d.int64s(ctx, `select id from reports where `+col+`_bidx <> '' and `+col+`_bidx in (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("export personal data: %w", err)
		}
		for _, id := range ids {
			found[id] = true
		}
	}
	// Values without a blind index, in batches.
	for after := int64(0); ; {
		rows, err := d.db.QueryContext(ctx, `select id, tracking, `+col+` from reports where `+col+`_bidx = '' and `+col+` <> ''
			and id > $1 order by id limit 1000`, after)
		if err != nil {
			return nil, fmt.Errorf("export personal data: %w", err)
		}
		n := 0
		for rows.Next() {
			var id int64
			var tracking, v string
			if err := rows.Scan(&id, &tracking, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("export personal data: %w", err)
			}
			n, after = n+1, id
			p, err := d.openValue(col, tracking, v)
			if err != nil {
				d.Log.Error("reporter data does not open", "report", tracking, "err", err)
				continue
			}
			if normalize(p) == norm {
				found[id] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("export personal data: %w", err)
		}
		if n < 1000 {
			break
		}
	}
	ids := make([]int64, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := &cityops.PersonalData{ExportedAt: d.Now().UTC(), Reports: []*cityops.PersonalReport{}}
	for _, id := range ids {
		pr, err := d.personalReport(ctx, id)
		if err != nil {
			return nil, err
		}
		got := pr.ReporterEmail
		if kind == "phone" {
			got = pr.ReporterPhone
		}
		if normalize(got) == norm { // not a blind-index collision
			out.Reports = append(out.Reports, pr)
		}
	}
	// No export leaves without its entry in the audit trail.
	err := d.inTx(ctx, func(tx *Tx) error {
		return tx.audit(ctx, "personal.export", "personal:"+kind+":"+d.lookupHash(kind, norm), fmt.Sprintf("%d reports", len(out.Reports)))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// personalReport loads report id for an export: its public fields, the
// reporter's, the citizen's timeline entries and its photos' paths.
func (d *DB) personalReport(ctx context.Context, id int64) (*cityops.PersonalReport, error) {
	r, err := scanReport(d.db.QueryRowContext(ctx, `select `+reportCols+reportFrom+` where r.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("report", fmt.Sprint(id))
	}
	if err != nil {
		return nil, fmt.Errorf("export personal data: %w", err)
	}
	if err := d.loadSupporting(ctx, r); err != nil {
		return nil, err
	}
	if err := d.openReporter(r); err != nil {
		return nil, err
	}
	pub := r.Public()
	pub.ReporterName, pub.ReporterPhone, pub.ReporterEmail, pub.ReporterVisible = r.ReporterName, r.ReporterPhone, r.ReporterEmail, true
	pr := &cityops.PersonalReport{Report: pub, CitizenEvents: []*cityops.Event{}}
	for _, p := range r.Photos {
		pr.PhotoURLs = append(pr.PhotoURLs, "/media/"+p.Hash+".jpg")
	}
	rows, err := d.db.QueryContext(ctx, `select id, at, actor, action, from_status, to_status, note from report_events
		where report_id = $1 and actor = 'citizen' order by id`, id)
	if err != nil {
		return nil, fmt.Errorf("export personal data: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := &cityops.Event{Tracking: r.Tracking}
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.From, &e.To, &e.Note); err != nil {
			return nil, fmt.Errorf("export personal data: %w", err)
		}
		e.At = e.At.UTC()
		pr.CitizenEvents = append(pr.CitizenEvents, e)
	}
	return pr, rows.Err()
}
