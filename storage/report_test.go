package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

var ict = time.FixedZone("ICT", 7*3600)

// loadDemo fills db with the Huế demo organisation and routing rules.
func loadDemo(t testing.TB, db *storage.DB) {
	t.Helper()
	if _, err := demo.Load(sys(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
}

var staffSeq int

func f(v float64) *float64 { return &v }

// staff returns a context acting as a new user of the role and agency.
func staff(t *testing.T, db *storage.DB, role, agency, area string) context.Context {
	t.Helper()
	staffSeq++
	u := &cityops.User{Email: fmt.Sprintf("staff%d@hue.gov.vn", staffSeq), Role: role, AgencyCode: agency, AreaCode: area}
	if err := db.CreateUser(sys(), u, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	return cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: u})
}

func TestReportRouting(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		db.Now = func() time.Time { return time.Date(2026, 3, 4, 9, 0, 0, 0, ict) } // a Wednesday morning
		ctx := context.Background()                                                 // the public
		for _, tt := range []struct {
			name, category string
			lat, lon       *float64
			address        string
			wantStatus     string
			wantAgency     string
			wantArea       string
		}{
			{"rubbish in Phú Xuân", "environment.waste", f(16.474), f(107.578), "", cityops.StatusAssigned, "HEPCO", "P10"},
			{"pavement in Kim Long goes to its ward", "transport.encroachment", f(16.466), f(107.556), "", cityops.StatusAssigned, "UBND-P08", "P08"},
			{"pavement in Lăng Cô goes to its commune", "transport.encroachment", f(16.250), f(108.050), "", cityops.StatusAssigned, "UBND-X11", "X11"},
			{"hospital in A Lưới", "health.service", f(16.300), f(107.170), "", cityops.StatusAssigned, "SYT", "X16"},
			{"power fault", "utilities.power", f(16.405), f(107.630), "", cityops.StatusAssigned, "PCHUE", "P19"},
			{"no point: the sector rule", "transport.encroachment", nil, nil, "12 Lê Lợi", cityops.StatusAssigned, "SXD", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var answers map[string][]string
				if tt.category == "utilities.power" { // the demo asks whether anyone is in danger
					answers = map[string][]string{"danger": {"no"}}
				}
				r, token, err := db.CreateReport(ctx, &cityops.ReportInput{Category: tt.category, Description: "Có vấn đề cần xử lý",
					Lat: tt.lat, Lon: tt.lon, Address: tt.address, Answers: answers})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != tt.wantStatus || r.Agency != tt.wantAgency || r.Area != tt.wantArea || token == "" || len(r.Tracking) != 8 {
					t.Errorf("got %s/%s/%s token %q tracking %q; want %s/%s/%s", r.Status, r.Agency, r.Area, token, r.Tracking,
						tt.wantStatus, tt.wantAgency, tt.wantArea)
				}
			})
		}
		// A category no rule covers goes to the centre's triage queue.
		if err := db.CreateSector(sys(), &cityops.Sector{Code: "misc", Name: "Khác"}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateCategory(sys(), &cityops.Category{Code: "misc.other", Sector: "misc", Name: "Khác", Active: true}); err != nil {
			t.Fatal(err)
		}
		r, _, err := db.CreateReport(ctx, &cityops.ReportInput{Category: "misc.other", Description: "?", Lat: f(16.474), Lon: f(107.578)})
		if err != nil || r.Status != cityops.StatusReceived || r.Agency != "" {
			t.Fatalf("unrouted report = %+v, %v; want received without agency", r, err)
		}
		// The category's questions: required, from the list, no strangers.
		for _, tt := range []struct {
			answers map[string][]string
			field   string
		}{
			{nil, "attribute[size]"},
			{map[string][]string{"size": {"huge"}}, "attribute[size]"},
			{map[string][]string{"size": {"small", "large"}}, "attribute[size]"},
			{map[string][]string{"size": {"small"}, "colour": {"red"}}, "attribute[colour]"},
		} {
			_, _, err := db.CreateReport(ctx, &cityops.ReportInput{Category: "transport.road_damage", Description: "ổ gà", Address: "a", Answers: tt.answers})
			if cityops.ErrorFields(err)[tt.field] == "" {
				t.Errorf("answers %v: %v; want a problem with %s", tt.answers, err, tt.field)
			}
		}
		r2, _, err := db.CreateReport(ctx, &cityops.ReportInput{Category: "environment.fallen_tree", Description: "cây đổ", Address: "a",
			Answers: map[string][]string{"blocking": {"road", "power_line"}}})
		if err != nil || len(r2.Answers["blocking"]) != 2 {
			t.Fatalf("multi-value answer = %+v, %v", r2, err)
		}
		// Bad input names the field.
		for _, tt := range []struct {
			in    cityops.ReportInput
			field string
		}{
			{cityops.ReportInput{Category: "nope", Description: "x", Address: "a"}, "category"},
			{cityops.ReportInput{Category: "environment.waste", Description: "x", Lat: f(10.77), Lon: f(106.70)}, "lat"},
			{cityops.ReportInput{Category: "environment.waste", Description: "", Address: "a"}, "description"},
			{cityops.ReportInput{Category: "environment.waste", Description: strings.Repeat("ư", 4001), Address: "a"}, "description"},
			{cityops.ReportInput{Category: "environment.waste", Description: "x"}, "lat"},
			{cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "a", Phone: "0905 123 456"}, "consent"},
			{cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "a", Email: "nope", Consent: true}, "email"},
			{cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "a", Channel: "pigeon"}, "channel"},
		} {
			_, _, err := db.CreateReport(ctx, &tt.in)
			if cityops.ErrorCode(err) != cityops.EINVALID || cityops.ErrorFields(err)[tt.field] == "" {
				t.Errorf("%+v: %v; want invalid %s", tt.in, err, tt.field)
			}
		}
	})
}

func TestReportNightQueueAndDeadline(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		one := 1
		if _, err := db.UpdateCategory(sys(), "environment.waste", cityops.CategoryUpdate{HoursTimed: &one}); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		in := func(cat string) *cityops.ReportInput {
			return &cityops.ReportInput{Category: cat, Description: "x", Lat: f(16.474), Lon: f(107.578)}
		}
		// Friday 6 March 2026, 16:30: one working hour ends on Monday at 08:00.
		db.Now = func() time.Time { return time.Date(2026, 3, 6, 16, 30, 0, 0, ict) }
		r, _, err := db.CreateReport(ctx, in("environment.waste"))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 9, 8, 0, 0, 0, ict); r.QueuedUntil != nil || !r.DueAt.Equal(want) {
			t.Errorf("Friday 16:30 + 1 working hour: queued %v, due %v; want due %v", r.QueuedUntil, r.DueAt, want)
		}
		// Tuesday 2:10 at night: a non-urgent report waits for 07:30.
		night := time.Date(2026, 3, 10, 2, 10, 0, 0, ict)
		db.Now = func() time.Time { return night }
		r, _, err = db.CreateReport(ctx, in("environment.waste"))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 10, 7, 30, 0, 0, ict); r.QueuedUntil == nil || !r.QueuedUntil.Equal(want) {
			t.Fatalf("night report queued until %v, want %v", r.QueuedUntil, want)
		}
		if want := time.Date(2026, 3, 10, 8, 30, 0, 0, ict); !r.DueAt.Equal(want) {
			t.Errorf("night report due %v, want %v (the clock starts in the morning)", r.DueAt, want)
		}
		// An urgent one is handled at once, its deadline on the clock.
		u, _, err := db.CreateReport(ctx, in("environment.fallen_tree"))
		if err != nil {
			t.Fatal(err)
		}
		if u.QueuedUntil != nil || !u.DueAt.Equal(night.Add(4*time.Hour)) || !u.Urgent {
			t.Errorf("urgent night report: queued %v due %v urgent %v", u.QueuedUntil, u.DueAt, u.Urgent)
		}
		// The inbox hides queued reports until the morning unless asked.
		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		_, n, err := db.FindReports(hepco, cityops.ReportFilter{})
		if err != nil || n != 2 {
			t.Errorf("HEPCO inbox at night = %d, %v; want 2 (the Friday report and the urgent one)", n, err)
		}
		_, n, _ = db.FindReports(hepco, cityops.ReportFilter{IncludeQueued: true})
		if n != 3 {
			t.Errorf("HEPCO inbox with queued = %d, want 3", n)
		}
		db.Now = func() time.Time { return time.Date(2026, 3, 10, 7, 31, 0, 0, ict) }
		_, n, _ = db.FindReports(hepco, cityops.ReportFilter{})
		if n != 3 {
			t.Errorf("HEPCO inbox in the morning = %d, want 3", n)
		}
		over := true
		list, n, _ := db.FindReports(hepco, cityops.ReportFilter{Overdue: &over})
		if n != 2 || !list[0].Overdue(db.Now()) {
			t.Errorf("overdue at 07:31 = %d, want 2 (Friday's, due Monday 08:00, and the urgent one, due 06:10)", n)
		}
	})
}

func TestReportWorkflow(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		now := time.Date(2026, 3, 4, 9, 0, 0, 0, ict)
		db.Now = func() time.Time { return now }
		public := context.Background()
		r, token, err := db.CreateReport(public, &cityops.ReportInput{Category: "environment.waste", Description: "Rác <b>ùn</b> ứ",
			Lat: f(16.474), Lon: f(107.578), Name: "Nguyễn Văn A", Phone: "0905 123 456", Email: "a@example.vn", Consent: true})
		if err != nil {
			t.Fatal(err)
		}
		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		other := staff(t, db, cityops.RoleAgencyOfficer, "SYT", "")
		ioc := staff(t, db, cityops.RoleOperator, "IOC", "")
		steer := staff(t, db, cityops.RoleSteering, "", "")
		act := func(ctx context.Context, a cityops.Action) (*cityops.Report, error) {
			return db.Act(ctx, r.Tracking, a)
		}
		must := func(ctx context.Context, a cityops.Action, status string) *cityops.Report {
			t.Helper()
			got, err := act(ctx, a)
			if err != nil {
				t.Fatalf("%s: %v", a.Name, err)
			}
			if got.Status != status {
				t.Fatalf("%s: status %s, want %s", a.Name, got.Status, status)
			}
			return got
		}
		wantErr := func(ctx context.Context, a cityops.Action, code, contains string) {
			t.Helper()
			_, err := act(ctx, a)
			if cityops.ErrorCode(err) != code || !strings.Contains(err.Error(), contains) {
				t.Fatalf("%s: %v; want %s containing %q", a.Name, err, code, contains)
			}
		}

		// Privacy: the reporter is visible to the lead agency and the centre only.
		for name, tt := range map[string]struct {
			ctx  context.Context
			want bool
		}{"public": {public, false}, "lead": {hepco, true}, "other agency": {other, false}, "centre": {ioc, true}, "steering": {steer, false}} {
			got, err := db.FindReportByTracking(tt.ctx, r.Tracking)
			if err != nil {
				t.Fatal(err)
			}
			if (got.ReporterPhone != "") != tt.want {
				t.Errorf("%s sees phone %q; want visible=%v", name, got.ReporterPhone, tt.want)
			}
		}

		wantErr(other, cityops.Action{Name: cityops.ActAccept}, cityops.EFORBIDDEN, "lead")
		wantErr(steer, cityops.Action{Name: cityops.ActAccept}, cityops.EFORBIDDEN, "lead")
		wantErr(public, cityops.Action{Name: cityops.ActAccept}, cityops.EUNAUTHORIZED, "sign in")
		wantErr(hepco, cityops.Action{Name: cityops.ActResolve, Note: "xong"}, cityops.ECONFLICT, "allowed:")
		must(hepco, cityops.Action{Name: cityops.ActAccept}, cityops.StatusAccepted)

		// Extension: requested by the lead, approved by the centre.
		later := r.DueAt.Add(48 * time.Hour)
		wantErr(hepco, cityops.Action{Name: cityops.ActApproveExtension}, cityops.EFORBIDDEN, "centre")
		wantErr(ioc, cityops.Action{Name: cityops.ActApproveExtension}, cityops.ECONFLICT, "no extension")
		wantErr(hepco, cityops.Action{Name: cityops.ActRequestExtension, Note: "thiếu xe"}, cityops.EINVALID, "due")
		must(hepco, cityops.Action{Name: cityops.ActRequestExtension, Due: &later, Note: "thiếu xe"}, cityops.StatusAccepted)
		got := must(ioc, cityops.Action{Name: cityops.ActApproveExtension}, cityops.StatusAccepted)
		if !got.DueAt.Equal(later) || got.ExtensionTo != nil {
			t.Fatalf("after extension due %v ext %v; want %v", got.DueAt, got.ExtensionTo, later)
		}

		// Coordination: a supporting agency joins and may then see the reporter.
		must(hepco, cityops.Action{Name: cityops.ActAddSupport, Agency: "SYT", Note: "kiểm tra vệ sinh"}, cityops.StatusAccepted)
		wantErr(hepco, cityops.Action{Name: cityops.ActAddSupport, Agency: "SYT", Note: "again"}, cityops.ECONFLICT, "already")
		got, _ = db.FindReportByTracking(other, r.Tracking)
		if got.ReporterPhone == "" || len(got.Supporting) != 1 {
			t.Errorf("supporting agency: phone %q supporting %v", got.ReporterPhone, got.Supporting)
		}
		if _, n, _ := db.FindReports(other, cityops.ReportFilter{}); n != 1 {
			t.Errorf("SYT inbox = %d, want the report it supports", n)
		}
		wantErr(hepco, cityops.Action{Name: cityops.ActCompleteTask}, cityops.EFORBIDDEN, "support")
		must(other, cityops.Action{Name: cityops.ActComment, Note: "đã liên hệ"}, cityops.StatusAccepted)
		got = must(other, cityops.Action{Name: cityops.ActCompleteTask}, cityops.StatusAccepted)
		if got.Supporting[0].DoneAt == nil || got.Supporting[0].Task != "kiểm tra vệ sinh" {
			t.Errorf("support after complete_task = %+v", got.Supporting[0])
		}
		wantErr(other, cityops.Action{Name: cityops.ActCompleteTask}, cityops.ECONFLICT, "done already")

		// Transfer: the lead asks, the centre approves; the new lead must accept.
		wantErr(ioc, cityops.Action{Name: cityops.ActApproveTransfer}, cityops.ECONFLICT, "no transfer")
		must(hepco, cityops.Action{Name: cityops.ActRequestTransfer, Agency: "UBND-P10", Note: "việc của phường"}, cityops.StatusAccepted)
		got = must(ioc, cityops.Action{Name: cityops.ActApproveTransfer}, cityops.StatusAssigned)
		if got.Agency != "UBND-P10" || got.TransferTo != "" {
			t.Fatalf("after transfer agency %s pending %q", got.Agency, got.TransferTo)
		}
		ward := staff(t, db, cityops.RoleWardOfficer, "UBND-P10", "P10")
		wantErr(hepco, cityops.Action{Name: cityops.ActAccept}, cityops.EFORBIDDEN, "lead")
		must(ward, cityops.Action{Name: cityops.ActAccept}, cityops.StatusAccepted)
		must(ward, cityops.Action{Name: cityops.ActStart}, cityops.StatusInProgress)
		wantErr(ward, cityops.Action{Name: cityops.ActResolve}, cityops.EINVALID, "note")
		must(ward, cityops.Action{Name: cityops.ActResolve, Note: "Đã thu gom"}, cityops.StatusResolved)

		// The citizen: a wrong token is nobody; the right one may reopen, confirm, rate once.
		wantErr(public, cityops.Action{Name: cityops.ActConfirm, Token: "wrong"}, cityops.EFORBIDDEN, "citizen")
		wantErr(ward, cityops.Action{Name: cityops.ActConfirm}, cityops.EFORBIDDEN, "citizen")
		must(public, cityops.Action{Name: cityops.ActReopen, Token: token, Note: "vẫn còn rác"}, cityops.StatusAssigned)
		must(ward, cityops.Action{Name: cityops.ActAccept}, cityops.StatusAccepted)
		must(ward, cityops.Action{Name: cityops.ActResolve, Note: "Đã thu gom hết"}, cityops.StatusResolved)
		must(public, cityops.Action{Name: cityops.ActConfirm, Token: token}, cityops.StatusClosed)
		wantErr(public, cityops.Action{Name: cityops.ActRate, Token: token, Rating: 6}, cityops.EINVALID, "rating")
		got = must(public, cityops.Action{Name: cityops.ActRate, Token: token, Rating: 5, Note: "Cảm ơn"}, cityops.StatusClosed)
		if got.Rating == nil || *got.Rating != 5 || got.ReporterPhone != "" {
			t.Fatalf("rated report = %+v (public view must hide the phone)", got)
		}
		wantErr(public, cityops.Action{Name: cityops.ActRate, Token: token, Rating: 4}, cityops.ECONFLICT, "rated already")
		// Reopening ends ReopenDays after resolution.
		now = now.Add(time.Duration(db.Reports.ReopenDays+1) * 24 * time.Hour)
		wantErr(public, cityops.Action{Name: cityops.ActReopen, Token: token, Note: "lại có rác"}, cityops.ECONFLICT, "days")

		// The timeline: every step, internal notes for staff only.
		all, err := db.ReportEvents(ioc, r.Tracking)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := db.ReportEvents(public, r.Tracking)
		if len(all) < 15 || len(pub) >= len(all) {
			t.Fatalf("events: %d for staff, %d public", len(all), len(pub))
		}
		for _, e := range pub {
			if e.Internal || strings.Contains(e.Actor, "@") {
				t.Errorf("public event %+v shows internal data", e)
			}
		}
		if all[0].Action != "receive" || all[1].Action != cityops.ActAssign || all[1].Agency != "HEPCO" {
			t.Errorf("first events = %+v %+v", all[0], all[1])
		}
	})
}

func TestReportDeclineRejectDuplicate(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		db.Now = func() time.Time { return time.Date(2026, 3, 4, 9, 0, 0, 0, ict) }
		mk := func() *cityops.Report {
			r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Lat: f(16.474), Lon: f(107.578)})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		hepco := staff(t, db, cityops.RoleAgencyOfficer, "HEPCO", "")
		ioc := staff(t, db, cityops.RoleOperator, "IOC", "")
		a := mk()
		if _, err := db.Act(hepco, a.Tracking, cityops.Action{Name: cityops.ActDecline}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("decline without reason: %v", err)
		}
		got, err := db.Act(hepco, a.Tracking, cityops.Action{Name: cityops.ActDecline, Reason: "not_responsible"})
		if err != nil || got.Status != cityops.StatusReceived || got.Agency != "" {
			t.Fatalf("declined = %+v, %v; want back in triage", got, err)
		}
		got, err = db.Act(ioc, a.Tracking, cityops.Action{Name: cityops.ActAssign, Agency: "SNNMT"})
		if err != nil || got.Status != cityops.StatusAssigned || got.Agency != "SNNMT" {
			t.Fatalf("re-assigned = %+v, %v", got, err)
		}
		urgent := true
		got, err = db.Act(ioc, a.Tracking, cityops.Action{Name: cityops.ActAssign, Agency: "SNNMT", Urgent: &urgent})
		if err != nil || !got.Urgent || !got.DueAt.Equal(got.ReceivedAt.Add(4*time.Hour)) {
			t.Fatalf("made urgent: urgent %v due %v received %v, %v; want due 4 h after receipt", got.Urgent, got.DueAt, got.ReceivedAt, err)
		}
		if _, err := db.Act(ioc, a.Tracking, cityops.Action{Name: cityops.ActAssign, Agency: "NOPE"}); cityops.ErrorFields(err)["agency"] == "" {
			t.Fatalf("assign to unknown agency: %v", err)
		}
		b := mk()
		got, err = db.Act(hepco, b.Tracking, cityops.Action{Name: cityops.ActMarkDuplicate, Target: a.Tracking})
		if err != nil || got.Status != cityops.StatusDuplicate || got.DuplicateOf != a.Tracking {
			t.Fatalf("duplicate = %+v, %v", got, err)
		}
		c := mk()
		// A duplicate of a duplicate points at the original.
		got, err = db.Act(ioc, c.Tracking, cityops.Action{Name: cityops.ActMarkDuplicate, Target: b.Tracking})
		if err != nil || got.DuplicateOf != a.Tracking {
			t.Fatalf("duplicate of duplicate = %+v, %v; want original %s", got, err, a.Tracking)
		}
		if _, err := db.Act(ioc, a.Tracking, cityops.Action{Name: cityops.ActMarkDuplicate, Target: a.Tracking}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("self-duplicate: %v", err)
		}
		d := mk()
		got, err = db.Act(ioc, d.Tracking, cityops.Action{Name: cityops.ActReject, Reason: "invalid", Note: "quảng cáo"})
		if err != nil || got.Status != cityops.StatusRejected || got.ClosedAt == nil {
			t.Fatalf("reject = %+v, %v", got, err)
		}
		if _, err := db.Act(ioc, d.Tracking, cityops.Action{Name: cityops.ActAssign, Agency: "HEPCO"}); cityops.ErrorCode(err) != cityops.ECONFLICT {
			t.Fatalf("assign a rejected report: %v", err)
		}
		if _, err := db.Act(ioc, "NOSUCH12", cityops.Action{Name: cityops.ActComment, Note: "x"}); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("unknown report: %v", err)
		}
	})
}

func TestReportIdempotency(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		in := func() *cityops.ReportInput {
			return &cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "1 Lê Lợi", IdempotencyKey: "k-123"}
		}
		a, tok, err := db.CreateReport(context.Background(), in())
		if err != nil || tok == "" {
			t.Fatal(err)
		}
		b, tok2, err := db.CreateReport(context.Background(), in())
		if err != nil || b.Tracking != a.Tracking || tok2 != "" {
			t.Fatalf("retry = %s %q %v; want %s and no new token", b.Tracking, tok2, err, a.Tracking)
		}
		if _, n, _ := db.FindReports(sys(), cityops.ReportFilter{IncludeQueued: true}); n != 1 {
			t.Fatalf("%d reports after a retry, want 1", n)
		}
	})
}

// TestReportIntakeConcurrent sends many reports at once, some bad: the
// good ones are all stored once, the bad ones refused, none lost.
func TestReportIntakeConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		const n = 120
		var wg sync.WaitGroup
		errs := make([]error, n)
		tracks := make([]string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cat := "environment.waste"
				if i%10 == 3 {
					cat = "no.such.category"
				}
				r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: cat, Description: fmt.Sprint("báo cáo ", i),
					Lat: f(16.474), Lon: f(107.578), IdempotencyKey: fmt.Sprint("k", i%100)})
				errs[i] = err
				if err == nil {
					tracks[i] = r.Tracking
				}
			}()
		}
		wg.Wait()
		ok := map[string]bool{}
		for i, err := range errs {
			switch {
			case i%10 == 3:
				if cityops.ErrorCode(err) != cityops.EINVALID {
					t.Errorf("report %d with a bad category: %v", i, err)
				}
			case err != nil:
				t.Errorf("report %d: %v", i, err)
			default:
				ok[tracks[i]] = true
			}
		}
		// Keys k0..k19 were used twice (i and i+100): one report each.
		_, total, err := db.FindReports(sys(), cityops.ReportFilter{IncludeQueued: true})
		if err != nil || total != len(ok) || total != 90 {
			t.Fatalf("stored %d reports (%v), %d distinct answers; want 90", total, err, len(ok))
		}
	})
}
