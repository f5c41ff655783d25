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

// iocCity is a small history for the operations centre's figures, built
// through the workflow. Times are in ICT; "now" is Friday 3 April 2026,
// 15:00, and the reports are:
//
//	a  Mon 2 Mar 09:00  environment.waste  P10  HEPCO  resolved after 2 h, on time, rated 4
//	b  Mon 2 Mar 09:00  environment.waste  P08  HEPCO  resolved today 10:00 (769 h), late, rated 1
//	c  Mon 2 Mar 09:00  health.service     P10  SYT    resolved after 5 h, on time, rated 2
//	d  Mon 2 Mar 09:00  fallen_tree (4 h)  P10  HEPCO  resolved after 6 h, late
//	n  Mon 2 Mar 09:00  utilities.power    P19  PCHUE  resolved after 1 h, on time (urgent, 4 h)
//	e  Mon 2 Mar 09:00  environment.waste  P10  HEPCO  open, overdue
//	i  Mon 2 Mar 09:00  environment.waste  —    HEPCO  open, overdue, no point
//	g  Mon 2 Mar 09:00  environment.waste  P10  —      a duplicate of a: never counts
//	h  Mon 2 Mar 09:00  health.service     P10  —      rejected: never counts
//	l  Thu 2 Apr 23:30  environment.waste  P10  HEPCO  open (yesterday)
//	m  Fri 3 Apr 00:30  health.service     P10  SYT    open (today in ICT, yesterday in UTC)
//	f  Fri 3 Apr 08:00  health.service     P08  SYT    open
//	k  Fri 3 Apr 09:00  environment.waste  P08  HEPCO  resolved after 2.45 h (rounds half up to 2.5), on time
//	j  Fri 3 Apr 09:30  misc.other         P10  —      open, no agency (the triage queue)
type iocCity struct {
	db  *storage.DB
	now time.Time
	r   map[string]*cityops.Report
}

func newIOCCity(t *testing.T, db *storage.DB) *iocCity {
	t.Helper()
	loadDemo(t, db)
	if err := db.CreateSector(sys(), &cityops.Sector{Code: "misc", Name: "Khác"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCategory(sys(), &cityops.Category{Code: "misc.other", Sector: "misc", Name: "Khác", Active: true}); err != nil {
		t.Fatal(err)
	}
	c := &iocCity{db: db, r: map[string]*cityops.Report{}}
	db.Now = func() time.Time { return c.now }
	tokens := map[string]string{}
	p10, p08, p19 := [2]float64{16.474, 107.578}, [2]float64{16.466, 107.556}, [2]float64{16.405, 107.630}
	mk := func(name string, at time.Time, cat string, point *[2]float64) {
		t.Helper()
		c.now = at
		in := &cityops.ReportInput{Category: cat, Description: "x " + name}
		if point != nil {
			in.Lat, in.Lon = &point[0], &point[1]
		} else {
			in.Address = "12 Lê Lợi"
		}
		if cat == "utilities.power" {
			in.Answers = map[string][]string{"danger": {"no"}}
		}
		r, token, err := db.CreateReport(context.Background(), in)
		if err != nil {
			t.Fatalf("report %s: %v", name, err)
		}
		c.r[name], tokens[name] = r, token
	}
	act := func(name string, at time.Time, a cityops.Action) {
		t.Helper()
		c.now = at
		ctx := sys()
		if a.Token != "" {
			ctx = context.Background()
		}
		if _, err := db.Act(ctx, c.r[name].Tracking, a); err != nil {
			t.Fatalf("%s %s: %v", a.Name, name, err)
		}
	}
	resolve := func(name string, at time.Time) {
		t.Helper()
		act(name, at, cityops.Action{Name: cityops.ActAccept})
		act(name, at, cityops.Action{Name: cityops.ActResolve, Note: "xong"})
	}
	rate := func(name string, at time.Time, stars int) {
		t.Helper()
		act(name, at, cityops.Action{Name: cityops.ActRate, Token: tokens[name], Rating: stars})
	}

	mar2 := time.Date(2026, 3, 2, 9, 0, 0, 0, ict)
	for _, r := range []struct {
		name, cat string
		point     *[2]float64
	}{
		{"a", "environment.waste", &p10}, {"b", "environment.waste", &p08}, {"c", "health.service", &p10},
		{"d", "environment.fallen_tree", &p10}, {"n", "utilities.power", &p19}, {"e", "environment.waste", &p10},
		{"i", "environment.waste", nil}, {"g", "environment.waste", &p10}, {"h", "health.service", &p10},
	} {
		mk(r.name, mar2, r.cat, r.point)
	}
	act("g", mar2, cityops.Action{Name: cityops.ActMarkDuplicate, Target: c.r["a"].Tracking})
	act("h", mar2, cityops.Action{Name: cityops.ActReject, Reason: "invalid", Note: "quảng cáo"})
	resolve("n", mar2.Add(time.Hour))
	resolve("a", mar2.Add(2*time.Hour))
	rate("a", mar2.Add(3*time.Hour), 4)
	resolve("c", mar2.Add(5*time.Hour))
	rate("c", mar2.Add(6*time.Hour), 2)
	resolve("d", mar2.Add(6*time.Hour))

	mk("l", time.Date(2026, 4, 2, 23, 30, 0, 0, ict), "environment.waste", &p10)
	mk("m", time.Date(2026, 4, 3, 0, 30, 0, 0, ict), "health.service", &p10)
	mk("f", time.Date(2026, 4, 3, 8, 0, 0, 0, ict), "health.service", &p08)
	mk("k", time.Date(2026, 4, 3, 9, 0, 0, 0, ict), "environment.waste", &p08)
	mk("j", time.Date(2026, 4, 3, 9, 30, 0, 0, ict), "misc.other", &p10)
	resolve("b", time.Date(2026, 4, 3, 10, 0, 0, 0, ict))
	rate("b", time.Date(2026, 4, 3, 10, 5, 0, 0, ict), 1)
	resolve("k", time.Date(2026, 4, 3, 11, 27, 0, 0, ict))
	c.now = time.Date(2026, 4, 3, 15, 0, 0, 0, ict)

	// The premises of the figures below.
	for name, want := range map[string]string{"a": "HEPCO", "b": "HEPCO", "c": "SYT", "d": "HEPCO", "n": "PCHUE", "e": "HEPCO",
		"i": "HEPCO", "l": "HEPCO", "m": "SYT", "f": "SYT", "k": "HEPCO", "j": ""} {
		if got := c.r[name].Agency; got != want {
			t.Fatalf("report %s went to %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"e", "i"} {
		if !c.r[name].DueAt.Before(c.now) {
			t.Fatalf("report %s is due %v, want overdue by %v", name, c.r[name].DueAt, c.now)
		}
	}
	for _, name := range []string{"l", "m", "f", "j"} {
		if !c.r[name].DueAt.After(c.now) {
			t.Fatalf("report %s is due %v, want not overdue by %v", name, c.r[name].DueAt, c.now)
		}
	}
	if due := c.r["b"].DueAt; !due.Before(time.Date(2026, 4, 3, 10, 0, 0, 0, ict)) {
		t.Fatalf("report b is due %v, want resolved late", due)
	}
	return c
}

// The whole history: received since 1 March.
var iocAll = cityops.IOCFilter{Since: time.Date(2026, 3, 1, 0, 0, 0, 0, ict)}

func TestIOCHandlingSummary(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		c := newIOCCity(t, db)
		for _, tt := range []struct {
			name string
			ctx  context.Context
			f    cityops.IOCFilter
			want cityops.HandlingSummary
		}{
			{"everything", sys(), iocAll, cityops.HandlingSummary{ReceivedToday: 4, ResolvedToday: 2, OpenNow: 6, OverdueNow: 2,
				Received: 12, Resolved: 6, OnTime: 4, OnTimeRate: 4.0 / 6, MedianHours: 3.8, // (2.5 + 5) / 2 = 3.75
				AvgRating: 7.0 / 3, Ratings: 3}},
			// Since 4 March 15:00 (30 days before now): l, m, f, k and j.
			{"the default 30 days", sys(), cityops.IOCFilter{}, cityops.HandlingSummary{ReceivedToday: 4, ResolvedToday: 2,
				OpenNow: 6, OverdueNow: 2, Received: 5, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 2.5}},
			{"until 3 March", sys(), cityops.IOCFilter{Since: iocAll.Since, Until: time.Date(2026, 3, 3, 0, 0, 0, 0, ict)},
				cityops.HandlingSummary{ReceivedToday: 4, ResolvedToday: 2, OpenNow: 6, OverdueNow: 2,
					Received: 7, Resolved: 5, OnTime: 3, OnTimeRate: 3.0 / 5, MedianHours: 5, AvgRating: 7.0 / 3, Ratings: 3}},
			{"health", sys(), cityops.IOCFilter{Since: iocAll.Since, Sector: "health"}, cityops.HandlingSummary{
				ReceivedToday: 2, OpenNow: 2, Received: 3, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 5,
				AvgRating: 2, Ratings: 1}},
			{"in P08", sys(), cityops.IOCFilter{Since: iocAll.Since, Area: "P08"}, cityops.HandlingSummary{
				ReceivedToday: 2, ResolvedToday: 2, OpenNow: 1, Received: 3, Resolved: 2, OnTime: 1, OnTimeRate: 0.5,
				MedianHours: 385.8, AvgRating: 1, Ratings: 1}}, // (2.5 + 769) / 2 = 385.75
			// The city and every ward below it: all but i, which has no point.
			{"in the city", sys(), cityops.IOCFilter{Since: iocAll.Since, Area: "HUE"}, cityops.HandlingSummary{
				ReceivedToday: 4, ResolvedToday: 2, OpenNow: 5, OverdueNow: 1, Received: 11, Resolved: 6, OnTime: 4,
				OnTimeRate: 4.0 / 6, MedianHours: 3.8, AvgRating: 7.0 / 3, Ratings: 3}},
			{"environment in P10", sys(), cityops.IOCFilter{Since: iocAll.Since, Area: "P10", Sector: "environment"},
				cityops.HandlingSummary{OpenNow: 2, OverdueNow: 1, Received: 4, Resolved: 2, OnTime: 1, OnTimeRate: 0.5,
					MedianHours: 4, AvgRating: 4, Ratings: 1}},
			{"SYT's head", staff(t, db, cityops.RoleAgencyHead, "SYT", ""), iocAll, cityops.HandlingSummary{
				ReceivedToday: 2, OpenNow: 2, Received: 3, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 5,
				AvgRating: 2, Ratings: 1}},
			{"SYT's key", cityops.NewContextWithActor(context.Background(), &cityops.Actor{APIKey: &cityops.APIKey{
				Agency: "SYT", Scopes: []string{string(cityops.PermIOC)}}}), iocAll, cityops.HandlingSummary{
				ReceivedToday: 2, OpenNow: 2, Received: 3, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 5,
				AvgRating: 2, Ratings: 1}},
			{"another agency's head", staff(t, db, cityops.RoleAgencyHead, "SGDDT", ""), iocAll, cityops.HandlingSummary{}},
			{"the steering board", staff(t, db, cityops.RoleSteering, "", ""), cityops.IOCFilter{Since: iocAll.Since, Sector: "utilities"},
				cityops.HandlingSummary{Received: 1, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 1}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.HandlingSummary(tt.ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if *got != tt.want {
					t.Errorf("got  %+v\nwant %+v", *got, tt.want)
				}
			})
		}
		_ = c
	})
}

func TestIOCHandlingBreakdown(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		newIOCCity(t, db)
		hepco := cityops.HandlingSummary{ReceivedToday: 1, ResolvedToday: 2, OpenNow: 3, OverdueNow: 2,
			Received: 7, Resolved: 4, OnTime: 2, OnTimeRate: 0.5, MedianHours: 4.3, // (2.5 + 6) / 2 = 4.25
			AvgRating: 2.5, Ratings: 2}
		syt := cityops.HandlingSummary{ReceivedToday: 2, OpenNow: 2, Received: 3, Resolved: 1, OnTime: 1, OnTimeRate: 1,
			MedianHours: 5, AvgRating: 2, Ratings: 1}
		power := cityops.HandlingSummary{Received: 1, Resolved: 1, OnTime: 1, OnTimeRate: 1, MedianHours: 1}
		triage := cityops.HandlingSummary{ReceivedToday: 1, OpenNow: 1, Received: 1}
		for _, tt := range []struct {
			name string
			ctx  context.Context
			by   string
			want []cityops.HandlingRow
		}{
			// Equal on-time rates: the shorter median ranks first.
			{"agency", sys(), cityops.ByAgency, []cityops.HandlingRow{{Key: "PCHUE", HandlingSummary: power, Rank: 1},
				{Key: "SYT", HandlingSummary: syt, Rank: 2}, {Key: "HEPCO", HandlingSummary: hepco, Rank: 3},
				{Key: "", HandlingSummary: triage}}},
			{"sector", sys(), cityops.BySector, []cityops.HandlingRow{{Key: "utilities", HandlingSummary: power, Rank: 1},
				{Key: "health", HandlingSummary: syt, Rank: 2}, {Key: "environment", HandlingSummary: hepco, Rank: 3},
				{Key: "misc", HandlingSummary: triage}}},
			{"area", sys(), cityops.ByArea, []cityops.HandlingRow{
				{Key: "P19", HandlingSummary: power, Rank: 1},
				{Key: "P10", HandlingSummary: cityops.HandlingSummary{ReceivedToday: 2, OpenNow: 4, OverdueNow: 1,
					Received: 7, Resolved: 3, OnTime: 2, OnTimeRate: 2.0 / 3, MedianHours: 5, AvgRating: 3, Ratings: 2}, Rank: 2},
				{Key: "P08", HandlingSummary: cityops.HandlingSummary{ReceivedToday: 2, ResolvedToday: 2, OpenNow: 1,
					Received: 3, Resolved: 2, OnTime: 1, OnTimeRate: 0.5, MedianHours: 385.8, AvgRating: 1, Ratings: 1}, Rank: 3},
				{Key: "", HandlingSummary: cityops.HandlingSummary{OpenNow: 1, OverdueNow: 1, Received: 1}}}},
			{"area, for SYT's head", staff(t, db, cityops.RoleAgencyHead, "SYT", ""), cityops.ByArea, []cityops.HandlingRow{
				{Key: "P10", HandlingSummary: cityops.HandlingSummary{ReceivedToday: 1, OpenNow: 1, Received: 2, Resolved: 1,
					OnTime: 1, OnTimeRate: 1, MedianHours: 5, AvgRating: 2, Ratings: 1}, Rank: 1},
				{Key: "P08", HandlingSummary: cityops.HandlingSummary{ReceivedToday: 1, OpenNow: 1, Received: 1}}}},
			{"agency, for another agency's head", staff(t, db, cityops.RoleAgencyHead, "SGDDT", ""), cityops.ByAgency, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.HandlingBreakdown(tt.ctx, tt.by, iocAll)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d rows, want %d: %+v", len(got), len(tt.want), rowsOf(got))
				}
				for i := range got {
					if *got[i] != tt.want[i] {
						t.Errorf("row %d:\ngot  %+v\nwant %+v", i, *got[i], tt.want[i])
					}
				}
			})
		}

		// The sector filter leaves the health row only; the period still applies.
		got, err := db.HandlingBreakdown(sys(), cityops.ByAgency, cityops.IOCFilter{Since: iocAll.Since, Sector: "health"})
		if err != nil || len(got) != 1 || got[0].Key != "SYT" || got[0].HandlingSummary != syt || got[0].Rank != 1 {
			t.Errorf("health by agency = %+v, %v; want SYT only", rowsOf(got), err)
		}
		got, err = db.HandlingBreakdown(sys(), cityops.ByAgency, cityops.IOCFilter{})
		if err != nil || len(got) != 3 || got[0].Key != "HEPCO" || got[0].Received != 2 || got[0].Resolved != 1 ||
			got[0].MedianHours != 2.5 || got[0].Rank != 1 || got[1].Key != "SYT" || got[1].Received != 2 || got[1].Rank != 0 {
			t.Errorf("by agency over the last 30 days = %+v, %v", rowsOf(got), err)
		}
	})
}

func rowsOf(rows []*cityops.HandlingRow) []cityops.HandlingRow {
	out := make([]cityops.HandlingRow, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out
}

func TestIOCOpenCases(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		c := newIOCCity(t, db)
		// l, received just before midnight, and m, received in the night
		// and queued until the morning, start at the first working hour;
		// ties go by id, the order of receipt.
		if c.r["m"].DueAt.Before(*c.r["l"].DueAt) || c.r["f"].DueAt.Before(*c.r["m"].DueAt) || !c.r["f"].DueAt.Before(*c.r["j"].DueAt) {
			t.Fatalf("deadlines l %v m %v f %v j %v: want l ≤ m ≤ f < j", c.r["l"].DueAt, c.r["m"].DueAt, c.r["f"].DueAt, c.r["j"].DueAt)
		}
		for _, tt := range []struct {
			name  string
			ctx   context.Context
			f     cityops.IOCFilter
			limit int
			want  []string
		}{
			// i has no point; the period does not apply.
			{"all", sys(), cityops.IOCFilter{Until: time.Date(2026, 3, 1, 0, 0, 0, 0, ict)}, 0, []string{"e", "l", "m", "f", "j"}},
			{"the first two", sys(), cityops.IOCFilter{}, 2, []string{"e", "l"}},
			{"health", sys(), cityops.IOCFilter{Sector: "health"}, 0, []string{"m", "f"}},
			{"in P08", sys(), cityops.IOCFilter{Area: "P08"}, 0, []string{"f"}},
			{"SYT's head", staff(t, db, cityops.RoleAgencyHead, "SYT", ""), cityops.IOCFilter{}, 0, []string{"m", "f"}},
			{"another agency's head", staff(t, db, cityops.RoleAgencyHead, "SGDDT", ""), cityops.IOCFilter{}, 0, []string{}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.OpenCases(tt.ctx, tt.f, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d cases, want %v", len(got), tt.want)
				}
				for i, name := range tt.want {
					r, p := c.r[name], got[i]
					if p.Tracking != r.Tracking {
						t.Fatalf("case %d = %s, want %s (%s)", i, p.Tracking, name, r.Tracking)
					}
					want := cityops.CasePoint{Tracking: r.Tracking, Lat: *r.Lat, Lon: *r.Lon, Status: r.Status, Category: r.Category,
						Sector: r.Sector, Agency: r.Agency, Urgent: r.Urgent, DueAt: p.DueAt, Overdue: name == "e", ReceivedAt: r.ReceivedAt}
					if *p != want || !p.DueAt.Equal(*r.DueAt) {
						t.Errorf("case %s:\ngot  %+v\nwant %+v (due %v)", name, *p, want, r.DueAt)
					}
				}
			})
		}
		if got, _ := db.OpenCases(sys(), cityops.IOCFilter{}, 0); got[4].Category != "misc.other" || got[4].Sector != "misc" ||
			got[4].Agency != "" || got[4].Status != cityops.StatusReceived {
			t.Errorf("the triage case = %+v", *got[4])
		}
		for _, limit := range []int{-1, 5001} {
			_, err := db.OpenCases(sys(), cityops.IOCFilter{}, limit)
			wantCode(t, err, cityops.EINVALID)
			if cityops.ErrorFields(err)["limit"] == "" {
				t.Errorf("limit %d: %v names no field", limit, err)
			}
		}
		got, err := db.OpenCases(sys(), cityops.IOCFilter{}, 5000)
		if err != nil || len(got) != 5 {
			t.Errorf("limit 5000 = %d cases, %v", len(got), err)
		}
	})
}

func TestIOCReportHeat(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		newIOCCity(t, db)
		type cell struct {
			lat, lon float64
			n        int
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
			f    cityops.IOCFilter
			size float64
			want []cell
		}{
			// P10 (16.474, 107.578): a c d e l m j; P08 (16.466, 107.556): b f k;
			// P19 (16.405, 107.630): n. Not i (no point), g or h.
			{"0.02°", sys(), iocAll, 0.02, []cell{{16.47, 107.57, 7}, {16.47, 107.55, 3}, {16.41, 107.63, 1}}},
			{"1°", sys(), iocAll, 1, []cell{{16.5, 107.5, 11}}},
			{"the last 30 days", sys(), cityops.IOCFilter{}, 0.02, []cell{{16.47, 107.57, 3}, {16.47, 107.55, 2}}},
			{"health", sys(), cityops.IOCFilter{Since: iocAll.Since, Sector: "health"}, 0.02, []cell{{16.47, 107.57, 2}, {16.47, 107.55, 1}}},
			// 16.466 / 0.0007 = 23522.86, 107.556 / 0.0007 = 153651.43
			{"in P08", sys(), cityops.IOCFilter{Since: iocAll.Since, Area: "P08"}, 0.0007, []cell{{16.46575, 107.55605, 3}}},
			{"PCHUE's key", cityops.NewContextWithActor(context.Background(), &cityops.Actor{APIKey: &cityops.APIKey{
				Agency: "PCHUE", Scopes: []string{string(cityops.PermIOC)}}}), iocAll, 0.02, []cell{{16.41, 107.63, 1}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.ReportHeat(tt.ctx, tt.f, tt.size)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d cells %+v, want %+v", len(got), got, tt.want)
				}
				for i, w := range tt.want {
					if g := got[i]; math.Abs(g.Lat-w.lat) > 1e-9 || math.Abs(g.Lon-w.lon) > 1e-9 || g.Count != w.n {
						t.Errorf("cell %d = %+v, want %+v", i, g, w)
					}
				}
			})
		}
		if got, err := db.ReportHeat(sys(), iocAll, 0.0005); err != nil || len(got) != 3 {
			t.Errorf("the finest grid = %+v, %v; want 3 cells", got, err)
		}
		for _, size := range []float64{0, 0.0004, 1.5, -0.01, math.NaN()} {
			_, err := db.ReportHeat(sys(), iocAll, size)
			wantCode(t, err, cityops.EINVALID)
			if cityops.ErrorFields(err)["cell"] == "" {
				t.Errorf("cell %v: %v names no field", size, err)
			}
		}
	})
}

func TestIOCErrors(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		newIOCCity(t, db)
		officer := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		for _, tt := range []struct {
			name  string
			ctx   context.Context
			by    string
			f     cityops.IOCFilter
			code  string
			field string
		}{
			{"an agency officer", officer, cityops.ByAgency, cityops.IOCFilter{}, cityops.EFORBIDDEN, ""},
			{"the public", context.Background(), cityops.ByAgency, cityops.IOCFilter{}, cityops.EUNAUTHORIZED, ""},
			{"a key without the scope", cityops.NewContextWithActor(context.Background(), &cityops.Actor{APIKey: &cityops.APIKey{
				Scopes: []string{string(cityops.PermReportsRead)}}}), cityops.ByAgency, cityops.IOCFilter{}, cityops.EFORBIDDEN, ""},
			{"an unknown sector", sys(), cityops.ByAgency, cityops.IOCFilter{Sector: "space"}, cityops.EINVALID, "sector"},
			{"an unknown area", sys(), cityops.ByAgency, cityops.IOCFilter{Area: "P99"}, cityops.EINVALID, "area"},
			{"until before since", sys(), cityops.ByAgency, cityops.IOCFilter{Since: iocAll.Since, Until: iocAll.Since.Add(-time.Hour)},
				cityops.EINVALID, "until"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := db.HandlingSummary(tt.ctx, tt.f)
				wantCode(t, err, tt.code)
				if tt.field != "" && cityops.ErrorFields(err)[tt.field] == "" {
					t.Errorf("summary: %v names no %s", err, tt.field)
				}
				_, err = db.HandlingBreakdown(tt.ctx, tt.by, tt.f)
				wantCode(t, err, tt.code)
				_, err = db.ReportHeat(tt.ctx, tt.f, 0.01)
				wantCode(t, err, tt.code)
				if tt.field != "until" { // open cases have no period
					_, err = db.OpenCases(tt.ctx, tt.f, 0)
					wantCode(t, err, tt.code)
				}
			})
		}
		for _, by := range []string{"", "planet", "Agency"} {
			_, err := db.HandlingBreakdown(sys(), by, iocAll)
			wantCode(t, err, cityops.EINVALID)
			if cityops.ErrorFields(err)["by"] == "" {
				t.Errorf("by %q: %v names no field", by, err)
			}
		}
		_, err := db.HandlingBreakdown(officer, "planet", iocAll)
		wantCode(t, err, cityops.EFORBIDDEN)
	})
}

// TestIOCTimeText reads resolution times that SQLite holds in the text
// forms other writers than the driver use: SQLite's own functions write
// "2006-01-02 15:04:05" (UTC), others a "T", a "Z", an offset or
// nanoseconds.
func TestIOCTimeText(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	loadDemo(t, db)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, ict)
	db.Now = func() time.Time { return now }
	r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x",
		Lat: f(16.474), Lon: f(107.578)})
	if err != nil {
		t.Fatal(err)
	}
	db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActAccept})
	if _, err := db.Act(sys(), r.Tracking, cityops.Action{Name: cityops.ActResolve, Note: "xong"}); err != nil {
		t.Fatal(err)
	}
	march := cityops.IOCFilter{Since: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
	for _, tt := range []struct {
		received, resolved string
		want               float64
	}{
		{"2026-03-02 02:00:00+00:00", "2026-03-02 04:00:00+00:00", 2},
		{"2026-03-02 02:00:00", "2026-03-02 10:30:00+07:00", 1.5},
		{"2026-03-02T02:00:00Z", "2026-03-02T04:15:30.5Z", 2.3}, // 2.2585 h
		{"2026-03-02 02:00:00.123456789+00:00", "2026-03-02 03:05:59.999-00:00", 1.1},
		{"2026-03-02 02:00", "2026-03-01 21:06-05:00", 0.1},
		{"2026-03-02", "2026-03-04 12:00:00", 60},
	} {
		if _, err := db.SQL().Exec(`update reports set received_at = $1, resolved_at = $2 where id = $3`, tt.received, tt.resolved, r.ID); err != nil {
			t.Fatal(err)
		}
		got, err := db.HandlingSummary(sys(), march)
		if err != nil {
			t.Fatalf("%s → %s: %v", tt.received, tt.resolved, err)
		}
		if got.Resolved != 1 || got.MedianHours != tt.want {
			t.Errorf("%s → %s: %d resolved, median %v h; want 1, %v h", tt.received, tt.resolved, got.Resolved, got.MedianHours, tt.want)
		}
	}
	// Text that is no time fails the query rather than count wrong.
	db.SQL().Exec(`update reports set resolved_at = 'soon' where id = $1`, r.ID)
	if _, err := db.HandlingSummary(sys(), march); err == nil {
		t.Error("a resolution time of 'soon' was read")
	}
}
