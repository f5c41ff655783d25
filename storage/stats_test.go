package storage_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func TestHandlingStats(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		now := time.Date(2026, 3, 2, 8, 0, 0, 0, ict) // Monday
		db.Now = func() time.Time { return now }
		mk := func(cat string, lat, lon float64) *cityops.Report {
			r, token, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: cat, Description: "x", Lat: &lat, Lon: &lon})
			if err != nil {
				t.Fatal(err)
			}
			r.ReporterName = token // keep the token for the rating below
			return r
		}
		a := mk("environment.waste", 16.474, 107.578)   // HEPCO, P10
		b := mk("environment.waste", 16.466, 107.556)   // HEPCO, P08
		c := mk("health.service", 16.474, 107.578)      // SYT, P10
		dup := mk("environment.waste", 16.474, 107.578) // a duplicate: does not count
		if _, err := db.Act(sys(), dup.Tracking, cityops.Action{Name: cityops.ActMarkDuplicate, Target: a.Tracking}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Hour)
		for _, r := range []*cityops.Report{a, c} {
			db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActAccept})
			if _, err := db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActResolve, Note: "xong"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Act(context.Background(), c.Tracking, cityops.Action{Name: cityops.ActRate, Rating: 4, Token: c.ReporterName}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(30 * 24 * time.Hour) // b is long overdue
		_ = b
		stats, err := db.HandlingStats(context.Background(), cityops.ByAgency, now.Add(-60*24*time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*cityops.HandlingStat{}
		for _, s := range stats {
			got[s.Key] = s
		}
		h, y := got["HEPCO"], got["SYT"]
		if h == nil || y == nil || len(stats) != 2 {
			t.Fatalf("stats = %+v", stats)
		}
		if h.Received != 2 || h.Resolved != 1 || h.OnTime != 1 || h.Overdue != 1 || math.Abs(h.AvgHours-2) > 0.01 || h.Ratings != 0 {
			t.Errorf("HEPCO = %+v", *h)
		}
		if y.Received != 1 || y.Resolved != 1 || y.AvgRating != 4 || y.Ratings != 1 {
			t.Errorf("SYT = %+v", *y)
		}
		byArea, _ := db.HandlingStats(context.Background(), cityops.ByArea, now.Add(-60*24*time.Hour), now)
		if len(byArea) != 2 || byArea[0].Key != "P10" || byArea[0].Received != 2 {
			t.Errorf("by area = %+v", byArea)
		}
		if _, err := db.HandlingStats(context.Background(), "planet", now.Add(-time.Hour), now); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("bad grouping: %v", err)
		}
	})
}
