package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

const year = 365 * 24 * time.Hour

// purged records five entries, sealed, then 400 days later two more, and
// purges with a year's retention. It returns the ids of the two kept.
func purged(t *testing.T, db *storage.DB) (kept []int64) {
	t.Helper()
	now := time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	db.AuditKey = []byte("a secret key of the city")
	record(t, db, 5)
	if _, err := db.Seal(sys()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(400 * 24 * time.Hour)
	kept = record(t, db, 2)
	n, err := db.PurgeAudit(sys(), year)
	if err != nil || n != 5 {
		t.Fatalf("PurgeAudit = %d, %v; want 5 removed", n, err)
	}
	return kept
}

func purgeEntry(t *testing.T, db *storage.DB) *cityops.AuditEntry {
	t.Helper()
	action := "audit.purge"
	list, _, err := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
	if err != nil || len(list) != 1 {
		t.Fatalf("purge entries = %d, %v", len(list), err)
	}
	return list[0]
}

func TestAuditPurge(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		kept := purged(t, db)
		list, n, err := db.FindAudit(sys(), cityops.AuditFilter{})
		if err != nil || n != 3 {
			t.Fatalf("after the purge: %d entries, %v; want the 2 kept and the purge's", n, err)
		}
		// The purge is itself in the chain, after the newest entry.
		p := purgeEntry(t, db)
		if p.ID != list[2].ID || p.PrevHash != list[1].Hash || p.Actor != "system" || p.Outcome != cityops.AuditOK {
			t.Errorf("purge entry = %+v; want it last, chained to %d", p, list[1].ID)
		}
		if !strings.HasPrefix(p.Detail, "removed=5 upto_id=") || !strings.Contains(p.Detail, "upto_hash="+list[0].PrevHash) {
			t.Errorf("purge detail = %q", p.Detail)
		}
		var seals int
		if err := db.SQL().QueryRow(`select count(*) from audit_seals`).Scan(&seals); err != nil || seals != 0 {
			t.Errorf("seals left = %d, %v; the purged entries' seal should go", seals, err)
		}
		v := verify(t, db)
		if v.BrokenID != 0 || v.Entries != 3 || v.FirstID != kept[0] || v.PurgeID != p.ID {
			t.Errorf("verify after the purge: %+v", v)
		}
		if _, err := db.Seal(sys()); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != 0 || v.Seals != 1 {
			t.Errorf("verify with a new seal: %+v", v)
		}

		// Nothing more to remove: no entry either. 0 keeps everything.
		if n, err := db.PurgeAudit(sys(), year); n != 0 || err != nil {
			t.Errorf("second purge = %d, %v", n, err)
		}
		if n, err := db.PurgeAudit(sys(), 0); n != 0 || err != nil {
			t.Errorf("purge with retention 0 = %d, %v", n, err)
		}
		if _, n, _ := db.FindAudit(sys(), cityops.AuditFilter{}); n != 3 {
			t.Errorf("%d entries after purges with nothing to remove; want 3", n)
		}
		admin := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: &cityops.User{Role: cityops.RoleAdmin}})
		if _, err := db.PurgeAudit(admin, time.Hour); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Errorf("an administrator's PurgeAudit = %v; want forbidden", err)
		}

		// A later purge removes the earlier purge's entry and chains on.
		db.Now = func() time.Time { return time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC) }
		record(t, db, 1)
		if n, err := db.PurgeAudit(sys(), year); n != 3 || err != nil {
			t.Errorf("third purge = %d, %v; want 3", n, err)
		}
		if v := verify(t, db); v.BrokenID != 0 || v.Entries != 2 {
			t.Errorf("verify after the third purge: %+v", v)
		}
	})
}

// TestAuditPurgeTamper: removals the purge did not make are found, even
// when whoever made them also moves the anchor.
func TestAuditPurgeTamper(t *testing.T) {
	for _, dialect := range storagetest.Dialects() {
		for _, c := range []struct {
			name   string
			tamper func(t *testing.T, db *storage.DB, kept []int64, purge *cityops.AuditEntry) int64 // the entry to be named
			reason string
		}{
			{"delete the oldest by hand", func(t *testing.T, db *storage.DB, kept []int64, _ *cityops.AuditEntry) int64 {
				exec(t, db, `delete from audit_log where id = $1`, kept[0])
				return kept[1]
			}, "retention purge removed"},
			{"delete the anchor", func(t *testing.T, db *storage.DB, kept []int64, _ *cityops.AuditEntry) int64 {
				exec(t, db, `delete from audit_anchor`)
				return kept[0]
			}, "no retention purge"},
			{"delete the oldest and move the anchor", func(t *testing.T, db *storage.DB, kept []int64, purge *cityops.AuditEntry) int64 {
				var hash string
				if err := db.SQL().QueryRow(`select hash from audit_log where id = $1`, kept[0]).Scan(&hash); err != nil {
					t.Fatal(err)
				}
				exec(t, db, `delete from audit_log where id = $1`, kept[0])
				exec(t, db, `update audit_anchor set upto_id = $1, upto_hash = $2`, kept[0], hash)
				return purge.ID
			}, "anchor was changed"},
			{"delete the purge's entry too", func(t *testing.T, db *storage.DB, kept []int64, purge *cityops.AuditEntry) int64 {
				exec(t, db, `delete from audit_log where id = $1`, purge.ID)
				return purge.ID
			}, "purge's entry is missing"},
		} {
			t.Run(dialect+"/"+strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				db := storagetest.Open(t, dialect)
				kept := purged(t, db)
				want := c.tamper(t, db, kept, purgeEntry(t, db))
				if v := verify(t, db); v.BrokenID != want || !strings.Contains(v.Reason, c.reason) {
					t.Errorf("verify = %+v; want entry %d named, %q", v, want, c.reason)
				}
			})
		}
	}
}

// TestAuditDeleteStart: without any purge, removing the oldest entries by
// hand is found at the first one left.
func TestAuditDeleteStart(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ids := record(t, db, 4)
		exec(t, db, `delete from audit_log where id <= $1`, ids[1])
		if v := verify(t, db); v.BrokenID != ids[2] || !strings.Contains(v.Reason, "removed") {
			t.Errorf("after deleting the first two: %+v; want %d named", v, ids[2])
		}
	})
}

func exec(t *testing.T, db *storage.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// TestAPIKeyUse: a key's requests leave one entry at the first, then at
// most one an hour with the count since, and the rest at the flush.
func TestAPIKeyUse(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		k := &cityops.APIKey{Name: "gateway", Scopes: []string{"data:write"}}
		if _, err := db.CreateAPIKey(sys(), k); err != nil {
			t.Fatal(err)
		}
		use := func(n int, source string) {
			ctx := cityops.NewContextWithSource(context.Background(), source)
			for range n {
				db.NoteAPIKeyUse(ctx, k)
			}
		}
		use(5, "192.0.2.10")
		now = now.Add(59 * time.Minute)
		use(1, "192.0.2.11")
		now = now.Add(2 * time.Minute)
		use(1, "192.0.2.10")
		use(2, "192.0.2.12")
		db.FlushAPIKeyUse(sys())
		db.FlushAPIKeyUse(sys())

		action := "apikey.use"
		list, _, err := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list {
			got = append(got, strings.Join([]string{e.Actor, e.Source, e.Object, e.Detail}, "|"))
		}
		name := "apikey:" + k.Prefix
		want := []string{
			name + "|192.0.2.10|" + name + "|requests=1",
			name + "|192.0.2.10|" + name + "|requests=6 since=2025-03-01T08:00:00Z sources=192.0.2.10,192.0.2.11",
			name + "|192.0.2.12|" + name + "|requests=2 since=2025-03-01T09:01:00Z",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("apikey.use entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestAuditSearch: the filters the page and the exports share, and the
// export's own entry.
func TestAuditSearch(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		for _, e := range []*cityops.AuditEntry{
			{Actor: "lan@hue.gov.vn", Action: "auth.login", Object: "user:lan@hue.gov.vn", Outcome: cityops.AuditOK},
			{Actor: "anonymous", Action: "auth.login_failed", Object: "user:minh@hue.gov.vn", Outcome: cityops.AuditFailed, Detail: "wrong password"},
			{Actor: "lan@hue.gov.vn", Action: "report.assign", Object: "report:HUE-1", Outcome: cityops.AuditOK, Detail: "agency=HEPCO"},
			{Actor: "minh@hue.gov.vn", Action: "rules.delete", Object: "rule:100%_FLOOD", Outcome: cityops.AuditDenied},
		} {
			if err := db.Record(sys(), e); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name string
			f    cityops.AuditFilter
			want string // objects, in order
		}{
			{"text in actor", cityops.AuditFilter{Text: ptr("MINH@")}, "user:minh@hue.gov.vn rule:100%_FLOOD"},
			{"text in detail", cityops.AuditFilter{Text: ptr("hepco")}, "report:HUE-1"},
			{"wildcards are literal", cityops.AuditFilter{Text: ptr("0%_f")}, "rule:100%_FLOOD"},
			{"underscore is literal", cityops.AuditFilter{Text: ptr("_login")}, ""},
			{"action prefix", cityops.AuditFilter{Action: ptr("auth.")}, "user:lan@hue.gov.vn user:minh@hue.gov.vn"},
			{"exact action", cityops.AuditFilter{Action: ptr("auth.login")}, "user:lan@hue.gov.vn"},
			{"outcome", cityops.AuditFilter{Outcome: ptr(cityops.AuditDenied)}, "rule:100%_FLOOD"},
			{"newest first", cityops.AuditFilter{Actor: ptr("lan@hue.gov.vn"), NewestFirst: true}, "report:HUE-1 user:lan@hue.gov.vn"},
		} {
			list, n, err := db.FindAudit(sys(), c.f)
			var got []string
			for _, e := range list {
				got = append(got, e.Object)
			}
			if err != nil || strings.Join(got, " ") != c.want || n != len(got) {
				t.Errorf("%s: %q (%d), %v; want %q", c.name, got, n, err, c.want)
			}
		}
		if _, _, err := db.FindAudit(sys(), cityops.AuditFilter{Outcome: ptr("maybe")}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("unknown outcome: %v", err)
		}

		// An export leaves an entry naming its selection and does not
		// include it.
		web := cityops.NewContextWithSource(sys(), "203.0.113.7")
		var got []string
		err := db.ExportAudit(web, cityops.AuditFilter{Action: ptr("auth.")}, func(e *cityops.AuditEntry) error {
			got = append(got, e.Action)
			return nil
		})
		if err != nil || strings.Join(got, " ") != "auth.login auth.login_failed" {
			t.Errorf("export = %q, %v", got, err)
		}
		list, _, _ := db.FindAudit(sys(), cityops.AuditFilter{Action: ptr("audit.export")})
		if len(list) != 1 || list[0].Detail != `action="auth."` || list[0].Source != "203.0.113.7" {
			t.Errorf("export entries = %+v", list)
		}
		op := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: &cityops.User{Email: "op@hue.gov.vn", Role: cityops.RoleOperator}})
		if err := db.ExportAudit(op, cityops.AuditFilter{}, nil); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Errorf("operator's export = %v", err)
		}
		if list, _, _ := db.FindAudit(sys(), cityops.AuditFilter{Action: ptr("audit.export"), Outcome: ptr(cityops.AuditDenied)}); len(list) != 1 || list[0].Actor != "op@hue.gov.vn" {
			t.Errorf("denied export entries = %+v", list)
		}
	})
}

// TestAuditConfigChanges: configuration changes and changes of a user's
// access are recorded where they commit.
func TestAuditConfigChanges(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		admin := staff(t, db, cityops.RoleAdmin, "", "")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.CreateSector(admin, &cityops.Sector{Code: "environment", Name: "Môi trường"}))
		must(db.CreateArea(admin, &cityops.Area{Code: "PHU_HOI", Name: "Phú Hội", Kind: "ward"}))
		_, err := db.UpdateArea(admin, "PHU_HOI", cityops.AreaUpdate{Name: ptr("Phường Phú Hội")})
		must(err)
		must(db.CreateAgency(admin, &cityops.Agency{Code: "HEPCO", Name: "HEPCO", Kind: "enterprise", Active: true, Sectors: []string{"environment"}}))
		must(db.CreateCategory(admin, &cityops.Category{Code: "environment.waste", Sector: "environment", Name: "Rác", Active: true}))
		r := &cityops.RoutingRule{Category: "environment.waste", Agency: "HEPCO"}
		must(db.CreateRoutingRule(admin, r))
		must(db.DeleteRoutingRule(admin, r.ID))
		h := &cityops.Webhook{URL: "https://hepco.example.vn/hook", Secret: "a webhook secret of 32 characters!"}
		must(db.CreateWebhook(admin, h))
		must(db.DeleteWebhook(admin, h.ID))
		must(db.SetRetention(admin, &cityops.RetentionPolicy{EntityType: "AirQualityObserved", RawDays: 30}))
		must(db.DeleteRetention(admin, "", "AirQualityObserved"))
		u := &cityops.User{Email: "minh@hue.gov.vn", Role: cityops.RoleAgencyOfficer, AgencyCode: "HEPCO"}
		must(db.CreateUser(sys(), u, "a long enough password"))
		_, err = db.UpdateUser(admin, u.ID, cityops.UserUpdate{Role: ptr(cityops.RoleOperator), AgencyCode: ptr("")})
		must(err)
		officer := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		if err := db.DeleteAgency(officer, "HEPCO"); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Fatalf("officer's DeleteAgency = %v", err)
		}

		list, _, err := db.FindAudit(sys(), cityops.AuditFilter{})
		must(err)
		var got []string
		for _, e := range list {
			if strings.HasPrefix(e.Action, "user.create") {
				continue
			}
			got = append(got, strings.Join([]string{e.Action, e.Object, e.Outcome, e.Detail}, "|"))
		}
		want := []string{
			"sector.create|sector:environment|ok|",
			"area.create|area:PHU_HOI|ok|kind=ward",
			"area.update|area:PHU_HOI|ok|fields=name",
			"agency.create|agency:HEPCO|ok|active=true sectors=environment",
			"category.create|category:environment.waste|ok|sector=environment active=true",
			fmt.Sprintf("routing.create|routing_rule:%d|ok|category=environment.waste agency=HEPCO", r.ID),
			fmt.Sprintf("routing.delete|routing_rule:%d|ok|", r.ID),
			fmt.Sprintf("webhook.create|webhook:%d|ok|url=https://hepco.example.vn/hook", h.ID),
			fmt.Sprintf("webhook.delete|webhook:%d|ok|", h.ID),
			"retention.set|retention:/AirQualityObserved|ok|raw_days=30 hour_days=0 day_days=0",
			"retention.delete|retention:/AirQualityObserved|ok|",
			"user.update|user:minh@hue.gov.vn|ok|role=operator (was role=agency_officer agency=HEPCO)",
			"agency.delete|agency:HEPCO|denied|you may not do this (needs org:write)",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
