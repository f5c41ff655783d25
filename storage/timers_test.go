package storage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestTimers(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		one := 1
		if _, err := db.UpdateCategory(sys(), "environment.waste", cityops.CategoryUpdate{HoursTimed: &one}); err != nil {
			t.Fatal(err)
		}
		head := &cityops.User{Email: "head@hepco.vn", Role: cityops.RoleAgencyHead, AgencyCode: "HEPCO"}
		if err := db.CreateUser(sys(), head, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 3, 4, 9, 0, 0, 0, ict) // Wednesday
		db.Now = func() time.Time { return now }
		r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Lat: f(16.474), Lon: f(107.578)})
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 4, 10, 0, 0, 0, ict); !r.DueAt.Equal(want) {
			t.Fatalf("due %v, want %v", r.DueAt, want)
		}
		run := func(want int) {
			t.Helper()
			n, err := db.RunTimers(context.Background())
			if err != nil || n != want {
				t.Fatalf("at %v RunTimers = %d, %v; want %d", now, n, err, want)
			}
		}
		run(1) // 09:00, due 10:00, warn 4 h before: a warning
		run(0) // once only
		now = now.Add(61 * time.Minute)
		// Two processes' timers at once: the step is taken once.
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := db.RunTimers(context.Background())
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != 1 {
			t.Fatalf("concurrent timers took %v steps, want 1 in all", counts)
		}
		run(0)
		now = now.Add(23 * time.Hour)
		run(0) // not yet a day late
		now = now.Add(2 * time.Hour)
		run(1) // a day late: the centre
		run(0)
		got, _ := db.FindReportByTracking(sys(), r.Tracking)
		if got.Escalation != 2 {
			t.Errorf("escalation = %d, want 2", got.Escalation)
		}
		events, _ := db.ReportEvents(sys(), r.Tracking)
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		want := []string{"receive", "assign", cityops.EventDeadlineWarning, cityops.EventEscalateHead, cityops.EventEscalateCentre}
		if len(actions) != len(want) {
			t.Fatalf("timeline = %v, want %v", actions, want)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Fatalf("timeline = %v, want %v", actions, want)
			}
		}
		// The public does not see the escalations.
		pub, _ := db.ReportEvents(context.Background(), r.Tracking)
		if len(pub) != 2 {
			t.Errorf("public timeline has %d entries, want 2", len(pub))
		}
		// The head and the operators are e-mailed.
		if _, err := db.FanOut(sys(), 100); err != nil {
			t.Fatal(err)
		}
		ds, _ := db.FindDeliveries(sys(), "pending", 100)
		heads := 0
		for _, d := range ds {
			if d.Kind == cityops.DeliveryEmail && d.Target == "head@hepco.vn" {
				heads++
			}
		}
		if heads != 1 {
			t.Errorf("%d e-mails to the agency head, want 1", heads)
		}

		// Resolved and left unconfirmed: closed after ConfirmDays.
		if _, err := db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActAccept}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActResolve, Note: "xong"}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Duration(db.Reports.ConfirmDays)*24*time.Hour - time.Minute)
		run(0)
		now = now.Add(2 * time.Minute)
		run(1)
		got, _ = db.FindReportByTracking(sys(), r.Tracking)
		if got.Status != cityops.StatusClosed || got.ClosedAt == nil {
			t.Errorf("after the confirmation period: %s", got.Status)
		}
	})
}
