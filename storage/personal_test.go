package storage_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/keyring"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// newKeys returns a keyring of one fresh key.
func newKeys(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Parse([]byte(keyring.NewLine(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// lockedBuffer is a log destination tests read while storage writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rawReporter returns what the database holds in a report's reporter
// columns and blind indexes.
func rawReporter(t *testing.T, db *storage.DB, tracking string) []string {
	t.Helper()
	v := make([]string, 5)
	err := db.SQL().QueryRow(`select reporter_name, reporter_phone, reporter_email, reporter_email_bidx, reporter_phone_bidx
		from reports where tracking = $1`, tracking).Scan(&v[0], &v[1], &v[2], &v[3], &v[4])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reportWith(t *testing.T, db *storage.DB, name, phone, email string) *cityops.Report {
	t.Helper()
	r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác ùn ứ",
		Lat: f(16.474), Lon: f(107.578), Name: name, Phone: phone, Email: email, Consent: name+phone+email != ""})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPersonalDataSealed: with a keyring the database holds no reporter
// data in clear; those who may see it read it, others get blanks and
// nothing is decrypted for them; a value moved to another report does not
// open; the text search never looks at it; e-mails to the reporter do not
// copy the address.
func TestPersonalDataSealed(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		var logs lockedBuffer
		db.Log = slog.New(slog.NewTextHandler(&logs, nil))
		db.Now = func() time.Time { return time.Date(2026, 3, 4, 9, 0, 0, 0, ict) }
		db.Keys = newKeys(t)
		const name, phone, email = "Nguyễn Văn A", "0905 123 456", "a@example.vn"
		r := reportWith(t, db, name, phone, email)
		if r.ReporterName != name || r.ReporterPhone != phone || r.ReporterEmail != email {
			t.Errorf("CreateReport returned %q %q %q; want what was given", r.ReporterName, r.ReporterPhone, r.ReporterEmail)
		}
		raw := rawReporter(t, db, r.Tracking)
		for i, v := range raw[:3] {
			if !keyring.IsSealed(v) || strings.Contains(v, "Nguy") || strings.Contains(v, "0905") || strings.Contains(v, "example") {
				t.Errorf("column %d holds %q; want a sealed value", i, v)
			}
		}
		if raw[3] == "" || raw[4] == "" || strings.Contains(raw[3], "example") {
			t.Errorf("blind indexes = %q %q", raw[3], raw[4])
		}

		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		ioc := staff(t, db, cityops.RoleOperator, "IOC", "")
		otherWard := staff(t, db, cityops.RoleWardOfficer, "UBND-P08", "P08")
		steer := staff(t, db, cityops.RoleSteering, "", "")
		for _, tt := range []struct {
			who  string
			ctx  context.Context
			want bool
		}{{"public", context.Background(), false}, {"lead agency", hepco, true}, {"centre", ioc, true},
			{"ward officer of another ward", otherWard, false}, {"steering", steer, false}} {
			got, err := db.FindReportByTracking(tt.ctx, r.Tracking)
			if err != nil {
				t.Fatalf("%s: %v", tt.who, err)
			}
			want := [3]string{}
			if tt.want {
				want = [3]string{name, phone, email}
			}
			if g := [3]string{got.ReporterName, got.ReporterPhone, got.ReporterEmail}; g != want {
				t.Errorf("%s reads %q, want %q", tt.who, g, want)
			}
		}
		list, _, err := db.FindReports(ioc, cityops.ReportFilter{})
		if err != nil || len(list) != 1 || list[0].ReporterPhone != phone {
			t.Fatalf("centre's list = %+v, %v", list, err)
		}
		list, _, err = db.FindReports(ioc, cityops.ReportFilter{WithoutReporter: true})
		if err != nil || len(list) != 1 || list[0].ReporterPhone != "" || list[0].ReporterVisible {
			t.Fatalf("list without the reporter = %+v, %v", list, err)
		}

		// The text search looks at descriptions and addresses only.
		for _, q := range []string{"Nguyễn", "0905", "example", "Rác"} {
			_, n, err := db.FindReports(ioc, cityops.ReportFilter{Text: &q})
			if want := map[bool]int{true: 1, false: 0}[q == "Rác"]; err != nil || n != want {
				t.Errorf("search %q = %d, %v; want %d", q, n, err, want)
			}
		}

		// A sealed value copied to another report does not open there.
		other := reportWith(t, db, "", "0911 222 333", "")
		if _, err := db.SQL().Exec(`update reports set reporter_phone = (select reporter_phone from reports where tracking = $1)
			where tracking = $2`, r.Tracking, other.Tracking); err != nil {
			t.Fatal(err)
		}
		_, err = db.FindReportByTracking(ioc, other.Tracking)
		if cityops.ErrorCode(err) != cityops.EINTERNAL || strings.Contains(err.Error(), "0905") {
			t.Fatalf("moved value: %v; want an internal error without the value", err)
		}
		list, _, err = db.FindReports(ioc, cityops.ReportFilter{})
		if err != nil || len(list) != 2 {
			t.Fatalf("the list with a broken report = %d, %v; want both reports", len(list), err)
		}
		for _, x := range list {
			if x.Tracking == other.Tracking && (x.ReporterPhone != "" || x.ReporterVisible) {
				t.Errorf("broken report listed with reporter %q", x.ReporterPhone)
			}
		}
		if l := logs.String(); !strings.Contains(l, "does not open") || strings.Contains(l, "0905") || strings.Contains(l, "0911") {
			t.Errorf("log = %s; want the failure without the value", l)
		}
		action := "report.view_personal"
		views, _, err := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
		if err != nil || len(views) < 3 {
			t.Fatalf("personal-data views audited: %d, %v", len(views), err)
		}

		// E-mail to the reporter: the delivery keeps no address, the
		// sender gets the opened one.
		if _, err := db.FanOut(sys(), 100); err != nil {
			t.Fatal(err)
		}
		var copies int
		db.SQL().QueryRow(`select count(*) from deliveries where target like '%example%' or payload like '%example%'`).Scan(&copies)
		if copies != 0 {
			t.Errorf("%d deliveries copy the reporter's address", copies)
		}
		claimed, err := db.ClaimDeliveries(sys(), 10, time.Minute)
		if err != nil || len(claimed) != 1 || claimed[0].Target != email {
			t.Fatalf("claimed = %+v, %v; want one e-mail to %s", claimed, err, email)
		}
		if err := db.FinishDelivery(sys(), claimed[0].ID, errIs("550 <a@example.vn>: no such user")); err != nil {
			t.Fatal(err)
		}
		db.SQL().QueryRow(`select count(*) from deliveries where last_error like '%example%'`).Scan(&copies)
		if copies != 0 {
			t.Errorf("the delivery's error keeps the reporter's address")
		}
	})
}

type errIs string

func (e errIs) Error() string { return string(e) }

// TestPersonalDataRotation: values in clear from before the keyring are
// sealed by a pass; after a rotation a pass seals everything again with
// the new key, after which the old key can go and everything still opens.
func TestPersonalDataRotation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		db.Now = func() time.Time { return time.Date(2026, 3, 4, 9, 0, 0, 0, ict) }
		ioc := staff(t, db, cityops.RoleOperator, "IOC", "")
		legacy := reportWith(t, db, "Trần Thị B", "0905 000 111", "b@example.vn") // no keyring yet
		if raw := rawReporter(t, db, legacy.Tracking); raw[1] != "0905 000 111" || raw[4] != "" {
			t.Fatalf("without a keyring the row holds %q", raw)
		}
		file := filepath.Join(t.TempDir(), "keys")
		if err := os.WriteFile(file, []byte(keyring.NewLine(time.Now())+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		k1, err := keyring.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		db.Keys = k1
		var sealed []*cityops.Report
		for i := 0; i < 5; i++ {
			sealed = append(sealed, reportWith(t, db, "Lê Văn C", "0911 000 11"+string(rune('0'+i)), ""))
		}
		anonymous := reportWith(t, db, "", "", "")
		st, err := db.PersonalDataStatus(context.Background())
		if err != nil || st[""] != 3 || st[k1.Current()] != 10 {
			t.Fatalf("status before the pass = %v, %v; want 3 plain, 10 under %s", st, err, k1.Current())
		}
		total, err := db.SealAllPersonalData(context.Background(), 2, nil)
		if err != nil || total.Sealed != 1 || total.Failed != 0 {
			t.Fatalf("sealing pass = %+v, %v; want the one legacy report", total, err)
		}
		if raw := rawReporter(t, db, legacy.Tracking); !keyring.IsSealed(raw[1]) || raw[4] == "" {
			t.Fatalf("legacy row after the pass = %q", raw)
		}

		k2, err := keyring.Rotate(file, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		db.Keys = k2
		var batches int
		total, err = db.SealAllPersonalData(context.Background(), 2, func(storage.SealBatch) { batches++ })
		if err != nil || total.Sealed != 6 || batches != 4 {
			t.Fatalf("rotation pass = %+v in %d batches, %v; want 6 reports in 4 batches of 2", total, batches, err)
		}
		if again, _ := db.SealAllPersonalData(context.Background(), 2, nil); again.Sealed != 0 {
			t.Errorf("a second pass sealed %d again", again.Sealed)
		}
		st, _ = db.PersonalDataStatus(context.Background())
		if len(st) != 1 || st[k2.Current()] != 13 {
			t.Fatalf("status after rotation = %v; want all 13 under %s", st, k2.Current())
		}

		// The old key goes; everything still opens and is still found.
		lines, _ := os.ReadFile(file)
		last := strings.TrimSpace(string(lines))
		last = last[strings.LastIndex(last, "\n")+1:]
		if db.Keys, err = keyring.Parse([]byte(last)); err != nil {
			t.Fatal(err)
		}
		for _, r := range append(sealed, legacy, anonymous) {
			got, err := db.FindReportByTracking(ioc, r.Tracking)
			if err != nil || got.ReporterPhone != r.ReporterPhone {
				t.Errorf("%s after rotation: %q, %v; want %q", r.Tracking, got.ReporterPhone, err, r.ReporterPhone)
			}
		}
		admin := staff(t, db, cityops.RoleAdmin, "", "")
		out, err := db.ExportPersonalData(admin, cityops.PersonalDataQuery{Email: "B@example.vn"})
		if err != nil || len(out.Reports) != 1 || out.Reports[0].Tracking != legacy.Tracking {
			t.Fatalf("export after rotation = %+v, %v", out, err)
		}
	})
}

// TestAnonymiseReports: only reports finished with (closed, rejected,
// duplicate) longer ago than the period lose their reporter's data.
func TestAnonymiseReports(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		now := time.Date(2026, 3, 4, 9, 0, 0, 0, ict)
		db.Now = func() time.Time { return now }
		db.Keys = newKeys(t)
		act := func(r *cityops.Report, acts ...cityops.Action) {
			t.Helper()
			for _, a := range acts {
				if _, err := db.Act(sys(), r.Tracking, a); err != nil {
					t.Fatalf("%s: %v", a.Name, err)
				}
			}
		}
		closeIt := []cityops.Action{{Name: cityops.ActAccept}, {Name: cityops.ActResolve, Note: "xong"}, {Name: cityops.ActAutoClose}}
		closed := reportWith(t, db, "A", "0905 000 001", "a@example.vn")
		act(closed, closeIt...)
		rejected := reportWith(t, db, "B", "0905 000 002", "")
		act(rejected, cityops.Action{Name: cityops.ActReject, Reason: "spam"})
		resolved := reportWith(t, db, "C", "0905 000 003", "") // waiting for the citizen
		act(resolved, closeIt[:2]...)
		open := reportWith(t, db, "D", "0905 000 004", "")
		now = now.AddDate(0, 10, 0)
		recent := reportWith(t, db, "E", "0905 000 005", "")
		act(recent, closeIt...)
		now = now.AddDate(0, 3, 0) // 13 months after the first ones, 3 after the last

		n, err := db.AnonymiseReports(sys(), 365*24*time.Hour, 1)
		if err != nil || n != 1 {
			t.Fatalf("first batch = %d, %v; want 1", n, err)
		}
		if n, _ = db.AnonymiseReports(sys(), 365*24*time.Hour, 1); n != 1 {
			t.Fatalf("second batch = %d; want 1", n)
		}
		if n, _ = db.AnonymiseReports(sys(), 365*24*time.Hour, 1); n != 0 {
			t.Fatalf("third batch = %d; want 0", n)
		}
		for _, tt := range []struct {
			r    *cityops.Report
			gone bool
		}{{closed, true}, {rejected, true}, {resolved, false}, {open, false}, {recent, false}} {
			raw := rawReporter(t, db, tt.r.Tracking)
			if gone := strings.Join(raw, "") == ""; gone != tt.gone {
				t.Errorf("%s: reporter columns %q; want anonymised=%v", tt.r.Status, raw, tt.gone)
			}
			got, _ := db.FindReportByTracking(sys(), tt.r.Tracking)
			if got.Description != "Rác ùn ứ" {
				t.Errorf("%s: description %q; the public record stays", tt.r.Status, got.Description)
			}
		}
		action := "reports.anonymise"
		entries, _, _ := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
		if len(entries) != 2 || !strings.HasPrefix(entries[0].Detail, "1 reports") {
			t.Errorf("audit entries = %+v; want one per batch with its count", entries)
		}
	})
}

// TestExportPersonalData: an administrator finds one person's reports by
// e-mail or phone however they are written, in clear or sealed, with what
// they wrote; every export is audited without the address.
func TestExportPersonalData(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "clear", true: "sealed"}[keyed], func(t *testing.T) {
			storagetest.Each(t, func(t *testing.T, db *storage.DB) {
				loadDemo(t, db)
				db.Now = func() time.Time { return time.Date(2026, 3, 4, 9, 0, 0, 0, ict) }
				legacy := reportWith(t, db, "Dân", "0905.123.456", "") // stored before the keyring
				if keyed {
					db.Keys = newKeys(t)
				}
				r1, token, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste",
					Description: "Rác", Lat: f(16.474), Lon: f(107.578), Name: "Lê Dân", Phone: "0905 123 456",
					Email: "Dan@Example.vn", Consent: true, Photos: []cityops.Photo{{Hash: "abc123", Thumb: "def456", Width: 10, Height: 10}}})
				if err != nil {
					t.Fatal(err)
				}
				r2 := reportWith(t, db, "", "+84 905-123-456", "")
				stranger := reportWith(t, db, "X", "0911 999 999", "x@example.vn")
				for _, a := range []cityops.Action{{Name: cityops.ActAccept}, {Name: cityops.ActComment, Note: "gọi 0905 123 456"},
					{Name: cityops.ActResolve, Note: "xong"}} {
					if _, err := db.Act(sys(), r1.Tracking, a); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := db.Act(context.Background(), r1.Tracking, cityops.Action{Name: cityops.ActReopen, Token: token, Note: "vẫn còn"}); err != nil {
					t.Fatal(err)
				}
				admin := staff(t, db, cityops.RoleAdmin, "", "")
				operator := staff(t, db, cityops.RoleOperator, "IOC", "")

				_, err = db.ExportPersonalData(operator, cityops.PersonalDataQuery{Email: "dan@example.vn"})
				wantCode(t, err, cityops.EFORBIDDEN)
				_, err = db.ExportPersonalData(admin, cityops.PersonalDataQuery{})
				wantCode(t, err, cityops.EINVALID)
				_, err = db.ExportPersonalData(admin, cityops.PersonalDataQuery{Email: "a@b.vn", Phone: "0905"})
				wantCode(t, err, cityops.EINVALID)

				out, err := db.ExportPersonalData(admin, cityops.PersonalDataQuery{Email: " dan@example.VN "})
				if err != nil || len(out.Reports) != 1 {
					t.Fatalf("by e-mail = %+v, %v; want r1", out, err)
				}
				got := out.Reports[0]
				if got.Tracking != r1.Tracking || got.ReporterName != "Lê Dân" || got.ReporterEmail != "Dan@Example.vn" ||
					len(got.PhotoURLs) != 1 || got.PhotoURLs[0] != "/media/abc123.jpg" {
					t.Errorf("exported report = %+v", got)
				}
				var notes []string
				for _, e := range got.CitizenEvents {
					notes = append(notes, e.Action+":"+e.Note)
				}
				if strings.Join(notes, ",") != "receive:,reopen:vẫn còn" {
					t.Errorf("citizen events = %q; want the report and the reopening, not staff notes", notes)
				}

				for _, p := range []string{"+84905123456", "0905 123 456", "84 905 123 456", "0084-905-123-456"} {
					out, err = db.ExportPersonalData(admin, cityops.PersonalDataQuery{Phone: p})
					var found []string
					for _, r := range out.Reports {
						found = append(found, r.Tracking)
					}
					want := []string{legacy.Tracking, r1.Tracking, r2.Tracking}
					if err != nil || strings.Join(found, " ") != strings.Join(want, " ") {
						t.Errorf("by phone %q = %v, %v; want %v", p, found, err, want)
					}
				}
				_ = stranger

				action := "personal.export"
				entries, _, _ := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
				if len(entries) != 6 { // 1 denied, 1 by e-mail, 4 by phone (the invalid ones are not exports)
					var s []string
					for _, e := range entries {
						s = append(s, e.Outcome+" "+e.Object)
					}
					t.Errorf("audit entries = %q", s)
				}
				// The object holds a hex blind index, which may contain "905" by
				// chance; the whole subscriber number must not appear.
				for _, e := range entries {
					if strings.Contains(e.Object, "example") || strings.Contains(e.Object, "905123456") || strings.Contains(e.Detail, "905123456") {
						t.Errorf("audit entry %+v names the person", e)
					}
				}
				if e := entries[len(entries)-1]; !strings.HasPrefix(e.Object, "personal:phone:") || e.Detail != "3 reports" {
					t.Errorf("last export entry = %+v", e)
				}
			})
		})
	}
}
