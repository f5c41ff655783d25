package storage_test

import (
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestAuditPersonalDataViews: a staff member who opens a report with its
// reporter's contact leaves an entry; one who may not see the contact, or
// a report without one, leaves none.
func TestAuditPersonalDataViews(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		withContact, _, err := db.CreateReport(sys(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác",
			Lat: f(16.474), Lon: f(107.578), Name: "Nguyễn Văn A", Phone: "0905 123 456", Consent: true})
		if err != nil {
			t.Fatal(err)
		}
		anonymous, _, err := db.CreateReport(sys(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác",
			Lat: f(16.474), Lon: f(107.578)})
		if err != nil {
			t.Fatal(err)
		}
		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "") // handles it: sees the contact
		steering := staff(t, db, cityops.RoleSteering, "", "")        // sees reports, not contacts
		for _, v := range []struct {
			who      string
			tracking string
		}{{"hepco", withContact.Tracking}, {"hepco", anonymous.Tracking}, {"steering", withContact.Tracking}} {
			ctx := hepco
			if v.who == "steering" {
				ctx = steering
			}
			if _, err := db.FindReportByTracking(ctx, v.tracking); err != nil {
				t.Fatal(err)
			}
		}
		action := "report.view_personal"
		got, _, err := db.FindAudit(sys(), cityops.AuditFilter{Action: &action})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Object != "report:"+withContact.Tracking || got[0].Outcome != cityops.AuditOK {
			t.Fatalf("personal-data views: %+v", got)
		}
	})
}
