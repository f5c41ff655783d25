package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// record appends n entries and returns their ids.
func record(t *testing.T, db *storage.DB, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		e := &cityops.AuditEntry{Action: "test.act", Object: fmt.Sprintf("thing:%d", i), Outcome: cityops.AuditOK, Detail: "detail"}
		if err := db.Record(sys(), e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func verify(t *testing.T, db *storage.DB) *cityops.AuditVerification {
	t.Helper()
	v, err := db.VerifyAudit(sys())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAuditChain(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		if v := verify(t, db); v.BrokenID != 0 || v.Entries != 0 {
			t.Fatalf("empty trail: %+v", v)
		}
		ids := record(t, db, 5)
		list, n, err := db.FindAudit(sys(), cityops.AuditFilter{})
		if err != nil || n != 5 || len(list) != 5 {
			t.Fatalf("FindAudit = %d, %d, %v", len(list), n, err)
		}
		for i, e := range list {
			if e.ID != ids[i] || e.Actor != "system" || len(e.Hash) != 64 {
				t.Errorf("entry %d = %+v", i, e)
			}
			if i > 0 && e.PrevHash != list[i-1].Hash {
				t.Errorf("entry %d does not chain to %d", e.ID, list[i-1].ID)
			}
		}
		if list[0].PrevHash != "" {
			t.Errorf("first entry's prev hash = %q", list[0].PrevHash)
		}
		if v := verify(t, db); v.BrokenID != 0 || v.Entries != 5 {
			t.Fatalf("intact trail: %+v", v)
		}
		obj := "thing:3"
		if got, n, _ := db.FindAudit(sys(), cityops.AuditFilter{Object: &obj}); n != 1 || got[0].ID != ids[3] {
			t.Errorf("filter by object = %d entries", n)
		}
		staff := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: &cityops.User{Role: cityops.RoleOperator}})
		if _, _, err := db.FindAudit(staff, cityops.AuditFilter{}); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Errorf("operator FindAudit = %v, want forbidden", err)
		}
	})
}

func TestAuditTamper(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ids := record(t, db, 5)
		if _, err := db.SQL().Exec(`update audit_log set detail = 'nothing happened' where id = $1`, ids[2]); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != ids[2] || !strings.Contains(v.Reason, "changed") {
			t.Errorf("after changing %d: %+v", ids[2], v)
		}
	})
}

// TestAuditDelete is a test of its own: a second Each in one test would
// name its subtests "sqlite#01", and '#' ends the SQLite file URI's path.
func TestAuditDelete(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ids := record(t, db, 5)
		if _, err := db.SQL().Exec(`delete from audit_log where id = $1`, ids[2]); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != ids[3] || !strings.Contains(v.Reason, "removed") {
			t.Errorf("after deleting %d: %+v; want %d named", ids[2], v, ids[3])
		}
	})
}

func TestAuditSeal(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		record(t, db, 3)
		if _, err := db.Seal(sys()); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("seal without a key = %v", err)
		}
		db.AuditKey = []byte("a secret key of the city")
		s, err := db.Seal(sys())
		if err != nil {
			t.Fatal(err)
		}
		ids := record(t, db, 2)
		if v := verify(t, db); v.BrokenID != 0 || v.Seals != 1 || !v.SealKey {
			t.Fatalf("sealed trail: %+v", v)
		}

		// Rewriting the whole chain from the sealed entry on keeps the
		// links but not the seal.
		list, _, _ := db.FindAudit(sys(), cityops.AuditFilter{})
		if _, err := db.SQL().Exec(`update audit_log set hash = $1 where id = $2`, strings.Repeat("0", 64), s.UptoID); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != s.UptoID {
			t.Errorf("after rewriting the sealed entry: %+v", v)
		}
		if _, err := db.SQL().Exec(`update audit_log set hash = $1 where id = $2`, list[2].Hash, s.UptoID); err != nil {
			t.Fatal(err)
		}

		// A forged seal: right hash, wrong HMAC.
		last, _, _ := db.FindAudit(sys(), cityops.AuditFilter{Offset: 4})
		if _, err := db.SQL().Exec(`insert into audit_seals (upto_id, hash, hmac, at) values ($1, $2, $3, $4)`,
			last[0].ID, last[0].Hash, strings.Repeat("f", 64), last[0].At); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != ids[1] || !strings.Contains(v.Reason, "HMAC") {
			t.Errorf("after a forged seal: %+v; want %d named", v, ids[1])
		}

		// Removing the newest, sealed entry is noticed too.
		if _, err := db.SQL().Exec(`delete from audit_log where id = $1`, ids[1]); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db); v.BrokenID != ids[1] || !strings.Contains(v.Reason, "missing") {
			t.Errorf("after removing the sealed last entry: %+v", v)
		}
	})
}

func TestAuditConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		var wg sync.WaitGroup
		errs := make(chan error, 8*10)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					errs <- db.Record(sys(), &cityops.AuditEntry{Action: "test.concurrent", Object: fmt.Sprintf("%d/%d", g, i), Outcome: cityops.AuditOK})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if v := verify(t, db); v.BrokenID != 0 || v.Entries != 80 {
			t.Fatalf("after concurrent appends: %+v", v)
		}
	})
}

func TestAuditRecorded(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		u := &cityops.User{Email: "lan@hue.gov.vn", Name: "Lan", Role: cityops.RoleAdmin}
		if err := db.CreateUser(sys(), u, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		web := cityops.NewContextWithSource(context.Background(), "203.0.113.7")
		if _, _, err := db.Login(web, "lan@hue.gov.vn", "wrong password!", "", "198.51.100.9"); cityops.ErrorCode(err) != cityops.EUNAUTHORIZED {
			t.Fatalf("bad login = %v", err)
		}
		if _, _, err := db.Login(web, "nobody@hue.gov.vn", "wrong password!", "", ""); cityops.ErrorCode(err) != cityops.EUNAUTHORIZED {
			t.Fatalf("unknown login = %v", err)
		}
		if _, _, err := db.Login(web, "lan@hue.gov.vn", "a long enough password", "", "198.51.100.9"); err != nil {
			t.Fatal(err)
		}
		admin := cityops.NewContextWithSource(cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: u}), "203.0.113.7")
		k := &cityops.APIKey{Name: "SIEM", Scopes: []string{"audit:read"}}
		if _, err := db.CreateAPIKey(admin, k); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeAPIKey(admin, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateUser(admin, u.ID, cityops.UserUpdate{Name: ptr("Lan Nguyễn")}); err != nil {
			t.Fatal(err)
		}
		anon := cityops.NewContextWithSource(context.Background(), "192.0.2.1")
		if _, err := db.CreateAPIKey(anon, &cityops.APIKey{Name: "x", Scopes: []string{"org:read"}}); cityops.ErrorCode(err) != cityops.EUNAUTHORIZED {
			t.Fatalf("anonymous CreateAPIKey = %v", err)
		}

		list, _, err := db.FindAudit(sys(), cityops.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list {
			got = append(got, strings.Join([]string{e.Actor, e.Source, e.Action, e.Object, e.Outcome, e.Detail}, "|"))
		}
		want := []string{
			"system||user.create|user:lan@hue.gov.vn|ok|role=admin",
			"anonymous|198.51.100.9|auth.login_failed|user:lan@hue.gov.vn|failed|wrong password",
			"anonymous|203.0.113.7|auth.login_failed|user:nobody@hue.gov.vn|failed|unknown account",
			"lan@hue.gov.vn|198.51.100.9|auth.login|user:lan@hue.gov.vn|ok|password",
			"lan@hue.gov.vn|203.0.113.7|apikey.create|apikey:" + k.Prefix + "|ok|scopes=audit:read",
			"lan@hue.gov.vn|203.0.113.7|apikey.revoke|apikey:" + k.Prefix + "|ok|",
			"lan@hue.gov.vn|203.0.113.7|user.update|user:lan@hue.gov.vn|ok|role=admin",
			"anonymous|192.0.2.1|apikey.create||denied|sign in first",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if v := verify(t, db); v.BrokenID != 0 {
			t.Errorf("verify: %+v", v)
		}
	})
}
