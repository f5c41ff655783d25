package storage_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// sys is a context whose actor may do anything, as the CLI's.
func sys() context.Context {
	return cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
}

func square(lon0, lat0, lon1, lat1 float64) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"type":        "Polygon",
		"coordinates": [][][2]float64{{{lon0, lat0}, {lon1, lat0}, {lon1, lat1}, {lon0, lat1}, {lon0, lat0}}},
	})
	return b
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := cityops.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestMigrateTwice(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestAreas(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		city := &cityops.Area{Code: "HUE", Name: "Huế", Kind: cityops.AreaCity, Boundary: square(107, 16, 108, 17)}
		if err := db.CreateArea(ctx, city); err != nil {
			t.Fatal(err)
		}
		ward := &cityops.Area{Code: "P05", Name: "Thuận Hóa", Names: cityops.Names{"en": "Thuan Hoa"}, Kind: cityops.AreaWard,
			ParentCode: "HUE", Boundary: square(107.5, 16.4, 107.7, 16.5), Approximate: true}
		if err := db.CreateArea(ctx, ward); err != nil {
			t.Fatal(err)
		}
		if ward.Depth != 1 || ward.ParentID != city.ID {
			t.Fatalf("ward depth/parent = %d/%d, want 1/%d", ward.Depth, ward.ParentID, city.ID)
		}
		got, err := db.FindAreaByCode(ctx, "P05")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Thuận Hóa" || got.Names["en"] != "Thuan Hoa" || got.ParentCode != "HUE" || !got.Approximate || len(got.Boundary) == 0 {
			t.Fatalf("FindAreaByCode = %+v", got)
		}

		// The innermost area wins; outside every area is not found.
		a, err := db.LocateArea(ctx, 16.45, 107.6, time.Time{})
		if err != nil || a.Code != "P05" {
			t.Fatalf("locate in ward = %v, %v; want P05", a, err)
		}
		a, err = db.LocateArea(ctx, 16.9, 107.2, time.Time{})
		if err != nil || a.Code != "HUE" {
			t.Fatalf("locate in city = %v, %v; want HUE", a, err)
		}
		_, err = db.LocateArea(ctx, 10, 100, time.Time{})
		wantCode(t, err, cityops.ENOTFOUND)
		_, err = db.LocateArea(ctx, 91, 100, time.Time{})
		wantCode(t, err, cityops.EINVALID)

		// Errors: duplicate code, bad geometry, unknown parent, cycle.
		wantCode(t, db.CreateArea(ctx, &cityops.Area{Code: "P05", Name: "x", Kind: cityops.AreaWard}), cityops.ECONFLICT)
		open := json.RawMessage(`{"type":"Polygon","coordinates":[[[107,16],[108,16],[108,17],[107,17]]]}`)
		err = db.CreateArea(ctx, &cityops.Area{Code: "X", Name: "x", Kind: cityops.AreaWard, Boundary: open})
		wantCode(t, err, cityops.EINVALID)
		if f := cityops.ErrorFields(err)["boundary"]; f == "" {
			t.Fatalf("bad boundary error names no field: %v", err)
		}
		err = db.CreateArea(ctx, &cityops.Area{Code: "X", Name: "x", Kind: cityops.AreaWard, ParentCode: "NOPE"})
		wantCode(t, err, cityops.EINVALID)
		err = db.CreateArea(ctx, &cityops.Area{Code: "bad code!", Name: "", Kind: "planet"})
		wantCode(t, err, cityops.EINVALID)
		if f := cityops.ErrorFields(err); f["code"] == "" || f["name"] == "" || f["kind"] == "" {
			t.Fatalf("validation fields = %v, want code, name and kind", f)
		}
		hue := "HUE"
		p05 := "P05"
		_, err = db.UpdateArea(ctx, "HUE", cityops.AreaUpdate{ParentCode: &p05})
		wantCode(t, err, cityops.EINVALID)

		// A sub-area, then moving the ward re-levels its subtree.
		if err := db.CreateArea(ctx, &cityops.Area{Code: "TDP1", Name: "Tổ dân phố 1", Kind: cityops.AreaZone, ParentCode: "P05"}); err != nil {
			t.Fatal(err)
		}
		empty := ""
		if _, err := db.UpdateArea(ctx, "P05", cityops.AreaUpdate{ParentCode: &empty}); err != nil {
			t.Fatal(err)
		}
		sub, _ := db.FindAreaByCode(ctx, "TDP1")
		if sub.Depth != 1 {
			t.Fatalf("sub-area depth after move = %d, want 1", sub.Depth)
		}
		if _, err := db.UpdateArea(ctx, "P05", cityops.AreaUpdate{ParentCode: &hue}); err != nil {
			t.Fatal(err)
		}
		sub, _ = db.FindAreaByCode(ctx, "TDP1")
		if sub.Depth != 2 {
			t.Fatalf("sub-area depth after move back = %d, want 2", sub.Depth)
		}

		// Superseded areas resolve for past times only.
		from := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
		old := &cityops.Area{Code: "Q-HUE", Name: "Thành phố Huế (cũ)", Kind: cityops.AreaDistrict, ParentCode: "HUE",
			ValidTo: &from, Boundary: square(107.5, 16.3, 107.8, 16.6)}
		if err := db.CreateArea(ctx, old); err != nil {
			t.Fatal(err)
		}
		a, err = db.LocateArea(ctx, 16.35, 107.75, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || a.Code != "Q-HUE" {
			t.Fatalf("locate in 2024 = %v, %v; want Q-HUE", a, err)
		}
		a, err = db.LocateArea(ctx, 16.35, 107.75, time.Time{})
		if err != nil || a.Code != "HUE" {
			t.Fatalf("locate now = %v, %v; want HUE (Q-HUE is superseded)", a, err)
		}
		now := time.Now()
		list, total, err := db.FindAreas(ctx, cityops.AreaFilter{ValidAt: &now})
		if err != nil || total != 3 || len(list) != 3 {
			t.Fatalf("areas valid now = %d (%d listed), %v; want 3", total, len(list), err)
		}
		list, total, err = db.FindAreas(ctx, cityops.AreaFilter{Limit: 2, Offset: 1})
		if err != nil || total != 4 || len(list) != 2 {
			t.Fatalf("paged areas = %d of %d, %v; want 2 of 4", len(list), total, err)
		}

		// Referenced areas cannot be deleted; leaves can.
		wantCode(t, db.DeleteArea(ctx, "HUE"), cityops.ECONFLICT)
		if err := db.DeleteArea(ctx, "TDP1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.DeleteArea(ctx, "TDP1"), cityops.ENOTFOUND)
		_, err = db.FindAreaByCode(ctx, "TDP1")
		wantCode(t, err, cityops.ENOTFOUND)
	})
}

func TestAreaIndexFollowsChanges(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		if err := db.CreateArea(ctx, &cityops.Area{Code: "A", Name: "A", Kind: cityops.AreaWard, Boundary: square(0, 0, 1, 1)}); err != nil {
			t.Fatal(err)
		}
		if a, err := db.LocateArea(ctx, 0.5, 0.5, time.Time{}); err != nil || a.Code != "A" {
			t.Fatalf("locate = %v, %v", a, err)
		}
		b := square(0, 0, 2, 2)
		if _, err := db.UpdateArea(ctx, "A", cityops.AreaUpdate{Boundary: &b}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Second) // past the recheck interval
		if a, err := db.LocateArea(ctx, 1.5, 1.5, time.Time{}); err != nil || a.Code != "A" {
			t.Fatalf("locate after boundary change = %v, %v; want A", a, err)
		}
	})
}

func TestAgenciesAndCategories(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		for i, code := range []string{"health", "environment"} {
			if err := db.CreateSector(ctx, &cityops.Sector{Code: code, Name: code, Position: i}); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, db.CreateSector(ctx, &cityops.Sector{Code: "health", Name: "again"}), cityops.ECONFLICT)
		if err := db.CreateArea(ctx, &cityops.Area{Code: "P01", Name: "Thuận An", Kind: cityops.AreaWard}); err != nil {
			t.Fatal(err)
		}
		syt := &cityops.Agency{Code: "SYT", Name: "Sở Y tế", Kind: cityops.AgencyDepartment, Sectors: []string{"health", "health"}, Active: true}
		if err := db.CreateAgency(ctx, syt); err != nil {
			t.Fatal(err)
		}
		ward := &cityops.Agency{Code: "UBND-P01", Name: "UBND phường Thuận An", Kind: cityops.AgencyLocal,
			Sectors: []string{"health", "environment"}, Areas: []string{"P01"}, Active: true}
		if err := db.CreateAgency(ctx, ward); err != nil {
			t.Fatal(err)
		}
		err := db.CreateAgency(ctx, &cityops.Agency{Code: "X", Name: "X", Kind: cityops.AgencyDepartment, Sectors: []string{"space"}})
		wantCode(t, err, cityops.EINVALID)
		if cityops.ErrorFields(err)["sectors"] == "" {
			t.Fatalf("unknown sector error = %v, want a sectors field", err)
		}
		if _, err := db.FindAgencyByCode(ctx, "X"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("failed create left agency X behind: %v", err)
		}

		got, err := db.FindAgencyByCode(ctx, "UBND-P01")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Sectors) != 2 || got.Areas[0] != "P01" {
			t.Fatalf("agency relations = %v %v", got.Sectors, got.Areas)
		}
		health, p01 := "health", "P01"
		list, total, err := db.FindAgencies(ctx, cityops.AgencyFilter{Sector: &health, Area: &p01})
		if err != nil || total != 2 || len(list) != 2 {
			t.Fatalf("health agencies in P01 = %d, %v; want 2 (city-wide SYT and the ward)", total, err)
		}
		env := "environment"
		list, _, _ = db.FindAgencies(ctx, cityops.AgencyFilter{Sector: &env})
		if len(list) != 1 || list[0].Code != "UBND-P01" {
			t.Fatalf("environment agencies = %v", list)
		}
		sectors := []string{"environment"}
		off := false
		upd, err := db.UpdateAgency(ctx, "SYT", cityops.AgencyUpdate{Sectors: &sectors, Active: &off})
		if err != nil || upd.Active || upd.Sectors[0] != "environment" {
			t.Fatalf("update agency = %+v, %v", upd, err)
		}
		wantCode(t, db.DeleteSector(ctx, "health"), cityops.ECONFLICT)

		cat := &cityops.Category{Code: "env.waste", Sector: "environment", Name: "Rác thải", Names: cityops.Names{"en": "Waste"}, Active: true}
		if err := db.CreateCategory(ctx, cat); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.CreateCategory(ctx, &cityops.Category{Code: "x", Sector: "nope", Name: "x"}), cityops.EINVALID)
		cats, err := db.FindCategories(ctx, cityops.CategoryFilter{Sector: &env})
		if err != nil || len(cats) != 1 || cats[0].Names["en"] != "Waste" {
			t.Fatalf("categories = %v, %v", cats, err)
		}
		urgent := true
		c, err := db.UpdateCategory(ctx, "env.waste", cityops.CategoryUpdate{Urgent: &urgent})
		if err != nil || !c.Urgent {
			t.Fatalf("update category = %+v, %v", c, err)
		}

		if err := db.DeleteAgency(ctx, "UBND-P01"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.DeleteAgency(ctx, "UBND-P01"), cityops.ENOTFOUND)
	})
}

func TestWritesNeedPermission(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		officer := &cityops.User{ID: 1, Email: "o@hue.gov.vn", Role: cityops.RoleWardOfficer}
		ctx := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: officer})
		wantCode(t, db.CreateArea(ctx, &cityops.Area{Code: "A", Name: "A", Kind: cityops.AreaWard}), cityops.EFORBIDDEN)
		wantCode(t, db.CreateArea(context.Background(), &cityops.Area{Code: "A", Name: "A", Kind: cityops.AreaWard}), cityops.EUNAUTHORIZED)
		_, _, err := db.FindUsers(ctx, cityops.UserFilter{})
		wantCode(t, err, cityops.EFORBIDDEN)
		key := cityops.NewContextWithActor(context.Background(), &cityops.Actor{APIKey: &cityops.APIKey{Scopes: []string{"org:read"}}})
		wantCode(t, db.CreateSector(key, &cityops.Sector{Code: "s", Name: "s"}), cityops.EFORBIDDEN)
	})
}

func TestUsersAndSessions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		if err := db.CreateArea(ctx, &cityops.Area{Code: "P01", Name: "Thuận An", Kind: cityops.AreaWard}); err != nil {
			t.Fatal(err)
		}
		u := &cityops.User{Email: " Lan@Hue.gov.vn ", Name: "Lan", Role: cityops.RoleWardOfficer, AreaCode: "P01"}
		if err := db.CreateUser(ctx, u, "mật khẩu đủ dài lắm"); err != nil {
			t.Fatal(err)
		}
		if u.Email != "lan@hue.gov.vn" {
			t.Fatalf("email not normalised: %q", u.Email)
		}
		err := db.CreateUser(ctx, &cityops.User{Email: "lan@hue.gov.vn", Role: cityops.RoleWardOfficer, AreaCode: "P01"}, "another long password")
		wantCode(t, err, cityops.ECONFLICT)
		err = db.CreateUser(ctx, &cityops.User{Email: "not-an-email", Role: "king"}, "short")
		wantCode(t, err, cityops.EINVALID)
		if f := cityops.ErrorFields(err); f["email"] == "" || f["role"] == "" || f["password"] == "" {
			t.Fatalf("fields = %v, want email, role, password", f)
		}
		err = db.CreateUser(ctx, &cityops.User{Email: "x@hue.gov.vn", Role: cityops.RoleAgencyOfficer, AgencyCode: "NOPE"}, "long enough password")
		wantCode(t, err, cityops.EINVALID)

		// Wrong password and unknown account fail alike.
		_, _, err1 := db.Login(ctx, "lan@hue.gov.vn", "wrong password!!", "", "")
		_, _, err2 := db.Login(ctx, "nobody@hue.gov.vn", "wrong password!!", "", "")
		wantCode(t, err1, cityops.EUNAUTHORIZED)
		if err1.Error() != err2.Error() {
			t.Fatalf("login errors differ: %q vs %q", err1, err2)
		}
		token, lu, err := db.Login(ctx, "LAN@hue.gov.vn", "mật khẩu đủ dài lắm", "test", "127.0.0.1")
		if err != nil || lu.ID != u.ID {
			t.Fatalf("login = %v, %v", lu, err)
		}
		a, err := db.ActorBySession(ctx, token)
		if err != nil || a.User.ID != u.ID || a.User.AreaCode != "P01" {
			t.Fatalf("session actor = %+v, %v", a, err)
		}
		// Idle past the limit ends the session.
		now = now.Add(db.Sessions.Idle + time.Minute)
		_, err = db.ActorBySession(ctx, token)
		wantCode(t, err, cityops.EUNAUTHORIZED)

		token, _, _ = db.Login(ctx, "lan@hue.gov.vn", "mật khẩu đủ dài lắm", "", "")
		if err := db.Logout(ctx, token); err != nil {
			t.Fatal(err)
		}
		_, err = db.ActorBySession(ctx, token)
		wantCode(t, err, cityops.EUNAUTHORIZED)

		// Disabling ends sessions and blocks sign-in.
		token, _, _ = db.Login(ctx, "lan@hue.gov.vn", "mật khẩu đủ dài lắm", "", "")
		yes := true
		if _, err := db.UpdateUser(ctx, u.ID, cityops.UserUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		_, err = db.ActorBySession(ctx, token)
		wantCode(t, err, cityops.EUNAUTHORIZED)
		_, _, err = db.Login(ctx, "lan@hue.gov.vn", "mật khẩu đủ dài lắm", "", "")
		wantCode(t, err, cityops.EUNAUTHORIZED)

		no := false
		if _, err := db.UpdateUser(ctx, u.ID, cityops.UserUpdate{Disabled: &no}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetPassword(ctx, u.ID, "a new long password"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Login(ctx, "lan@hue.gov.vn", "a new long password", "", ""); err != nil {
			t.Fatalf("login with new password: %v", err)
		}
		wantCode(t, db.SetPassword(ctx, u.ID, "short"), cityops.EINVALID)
		users, total, err := db.FindUsers(ctx, cityops.UserFilter{Area: ptr("P01")})
		if err != nil || total != 1 || users[0].LastLoginAt == nil {
			t.Fatalf("users in P01 = %v (%d), %v", users, total, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestAPIKeys(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		k := &cityops.APIKey{Name: "hepco gateway", Scopes: []string{"org:read"}}
		secret, err := db.CreateAPIKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		a, err := db.ActorByAPIKey(ctx, secret)
		if err != nil || a.APIKey.ID != k.ID || !a.Can(cityops.PermOrgRead) || a.Can(cityops.PermOrgWrite) {
			t.Fatalf("actor by key = %+v, %v", a, err)
		}
		for _, bad := range []string{"", "cok_", secret + "x", secret[:len(secret)-1], "cok_zzzzzzzz_abc"} {
			_, err := db.ActorByAPIKey(ctx, bad)
			wantCode(t, err, cityops.EUNAUTHORIZED)
		}
		_, err = db.CreateAPIKey(ctx, &cityops.APIKey{Scopes: []string{"everything"}})
		wantCode(t, err, cityops.EINVALID)
		if err := db.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.ActorByAPIKey(ctx, secret)
		wantCode(t, err, cityops.EUNAUTHORIZED)
		wantCode(t, db.RevokeAPIKey(ctx, 999), cityops.ENOTFOUND)
		keys, err := db.FindAPIKeys(ctx)
		if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil || keys[0].LastUsedAt == nil {
			t.Fatalf("keys = %+v, %v", keys, err)
		}
	})
}

func TestBackup(t *testing.T) {
	ctx := sys()
	db := storagetest.Open(t, storage.SQLite)
	if err := db.CreateSector(ctx, &cityops.Sector{Code: "health", Name: "Y tế"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.Backup(ctx, path), cityops.ECONFLICT)
	copy, err := storage.Open(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close()
	s, err := copy.FindSectorByCode(ctx, "health")
	if err != nil || s.Name != "Y tế" {
		t.Fatalf("sector in backup = %v, %v", s, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"mysql://x", "nonsense"} {
		if _, err := storage.Open(ctx, dsn, t.TempDir()); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
	if _, err := storage.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", ""); err == nil {
		t.Error("Open of an unreachable PostgreSQL succeeded")
	}
}
