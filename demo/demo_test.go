package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestLoad(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
		svc := demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db, Alarms: db}
		empty, err := demo.Empty(ctx, svc)
		if err != nil || !empty {
			t.Fatalf("Empty = %v, %v; want true", empty, err)
		}
		logins, err := demo.Load(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		if len(logins) < 5 {
			t.Fatalf("%d demo logins", len(logins))
		}
		now := time.Now()
		areas, total, err := db.FindAreas(ctx, cityops.AreaFilter{ValidAt: &now})
		if err != nil || total != 41 {
			t.Fatalf("areas = %d, %v; want the city and 40 wards/communes", total, err)
		}
		wards, communes := 0, 0
		for _, a := range areas {
			switch a.Kind {
			case cityops.AreaWard:
				wards++
			case cityops.AreaCommune:
				communes++
			}
			if !a.Approximate {
				t.Errorf("area %s is not marked approximate", a.Code)
			}
		}
		if wards != 21 || communes != 19 {
			t.Fatalf("wards/communes = %d/%d, want 21/19", wards, communes)
		}
		// Each ward's own point lies in its cell: Kim Long, Phú Xuân, Lăng Cô.
		for _, tt := range []struct {
			lat, lon float64
			want     string
		}{{16.466, 107.556, "P08"}, {16.474, 107.578, "P10"}, {16.250, 108.050, "X11"}, {16.100, 107.300, "X19"}} {
			a, err := db.LocateArea(ctx, tt.lat, tt.lon, time.Time{})
			if err != nil || a.Code != tt.want {
				t.Errorf("locate %v,%v = %v, %v; want %s", tt.lat, tt.lon, a, err, tt.want)
			}
		}
		_, n, err := db.FindAgencies(ctx, cityops.AgencyFilter{})
		if err != nil || n != 14+40 {
			t.Fatalf("agencies = %d, %v; want 14 city-level and 40 local", n, err)
		}
		ubnd, err := db.FindAgencyByCode(ctx, "UBND-P10")
		if err != nil || ubnd.Areas[0] != "P10" || len(ubnd.Sectors) < 5 {
			t.Fatalf("UBND-P10 = %+v, %v", ubnd, err)
		}
		health := cityops.SectorHealth
		cats, err := db.FindCategories(ctx, cityops.CategoryFilter{Sector: &health})
		if err != nil || len(cats) == 0 {
			t.Fatalf("health categories = %v, %v", cats, err)
		}
		for _, l := range logins {
			if _, _, err := db.Login(ctx, l.Email, l.Password, "", ""); err != nil {
				t.Errorf("demo login %s: %v", l.Email, err)
			}
		}
		if empty, _ := demo.Empty(ctx, svc); empty {
			t.Fatal("Empty after Load = true")
		}
	})
}

// TestAlarmRules: Huế's default rules parse, validate and cover every kind
// of condition the issue names.
func TestAlarmRules(t *testing.T) {
	rules, err := demo.AlarmRules()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rules {
		kinds[r.Kind]++
		if !strings.HasPrefix(r.EntityType, "https://") || (r.Attr != "" && !strings.HasPrefix(r.Attr, "https://")) {
			t.Errorf("%s: names not expanded: %s %s", r.Code, r.EntityType, r.Attr)
		}
	}
	for _, k := range cityops.RuleKinds {
		if kinds[k] == 0 {
			t.Errorf("no default rule of kind %s", k)
		}
	}
}
