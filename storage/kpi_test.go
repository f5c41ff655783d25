package storage_test

import (
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestUrgentResponse: minutes from receipt to acceptance of urgent
// reports, median and 90th percentile; non-urgent reports do not count.
func TestUrgentResponse(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		base := time.Date(2026, 10, 20, 9, 0, 0, 0, ict)
		now := base
		db.Now = func() time.Time { return now }
		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		op := staff(t, db, cityops.RoleOperator, "IOC", "")
		// Fallen trees are urgent and go to HEPCO in Phú Xuân.
		for i, wait := range []int{10, 20, 30, 40, 100} {
			now = base.Add(time.Duration(i) * time.Hour)
			r, _, err := db.CreateReport(sys(), &cityops.ReportInput{Category: "environment.fallen_tree", Description: "Cây đổ",
				Lat: f(16.474), Lon: f(107.578)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Agency != "HEPCO" || !r.Urgent {
				t.Fatalf("report routed to %s, urgent %v", r.Agency, r.Urgent)
			}
			now = now.Add(time.Duration(wait) * time.Minute)
			if _, err := db.Act(hepco, r.Tracking, cityops.Action{Name: cityops.ActAccept}); err != nil {
				t.Fatal(err)
			}
		}
		// A non-urgent report accepted late does not count.
		r, _, err := db.CreateReport(sys(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác", Lat: f(16.474), Lon: f(107.578)})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Hour)
		if _, err := db.Act(hepco, r.Tracking, cityops.Action{Name: cityops.ActAccept}); err != nil {
			t.Fatal(err)
		}
		got, err := db.UrgentResponse(op, cityops.IOCFilter{Since: base.Add(-time.Hour), Until: now})
		if err != nil {
			t.Fatal(err)
		}
		if got.Reports != 5 || got.MedianMinutes != 30 || got.P90Minutes != 100 {
			t.Fatalf("response: %+v", got)
		}
		if got, err := db.UrgentResponse(op, cityops.IOCFilter{Since: base.Add(-time.Hour), Until: now, Sector: "health"}); err != nil || got.Reports != 0 {
			t.Fatalf("health: %+v, %v", got, err)
		}
		if _, err := db.UrgentResponse(hepco, cityops.IOCFilter{}); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Fatalf("an officer without ioc:view: %v", err)
		}
	})
}
