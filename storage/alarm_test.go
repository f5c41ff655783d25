package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

const riverType = "https://smartdatamodels.org/dataModel.Environment/WaterObserved"

func riverRule() *cityops.AlarmRule {
	return &cityops.AlarmRule{Code: "river-kim-long-2", Name: "Hương river at Kim Long over alarm level II", Sector: "environment",
		Severity: cityops.SeverityMajor, EntityType: riverType, Attr: "https://smartdatamodels.org/height", Kind: cityops.RuleThreshold,
		Op: ">=", Value: 3.0, Clear: f(2.8), AutoClear: true, Category: "disaster.flood_landslide", Agency: "PCTT", DueHours: 2,
		Message: "Mực nước {value} m tại {entity}", Enabled: true}
}

func TestAlarmRules(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		r := riverRule()
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		if r.ID == 0 || r.CreatedAt.IsZero() {
			t.Fatalf("saved rule has no id or time: %+v", r)
		}
		// Saving again by code replaces it.
		r2 := riverRule()
		r2.Value, r2.Enabled = 3.5, false
		if err := db.SaveAlarmRule(sys(), r2); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindAlarmRule(sys(), r.Code)
		if err != nil || got.Value != 3.5 || got.Enabled || got.ID != r.ID || *got.Clear != 2.8 || got.Agency != "PCTT" {
			t.Fatalf("replaced rule: %+v, %v", got, err)
		}
		// Unknown references are refused field by field.
		bad := riverRule()
		bad.Code, bad.Category, bad.Agency, bad.Area = "bad", "no.such", "NOPE", "ZZ"
		err = db.SaveAlarmRule(sys(), bad)
		if e, ok := err.(*cityops.Error); !ok || e.Code != cityops.EINVALID || e.Fields["category"] == "" || e.Fields["agency"] == "" || e.Fields["area"] == "" {
			t.Fatalf("unknown references: %v", err)
		}
		// Hysteresis on the wrong side of the threshold is refused.
		bad = riverRule()
		bad.Clear = f(3.2)
		if err := db.SaveAlarmRule(sys(), bad); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("clear above a >= threshold: %v", err)
		}
		// Only administrators edit rules.
		op := staff(t, db, cityops.RoleOperator, "IOC", "")
		if err := db.SaveAlarmRule(op, riverRule()); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Fatalf("operator saving a rule: %v", err)
		}
		rules, err := db.AlarmRules(sys())
		if err != nil || len(rules) != 1 {
			t.Fatalf("rules: %d, %v", len(rules), err)
		}
		if err := db.DeleteAlarmRule(sys(), r.Code); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FindAlarmRule(sys(), r.Code); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("deleted rule: %v", err)
		}
	})
}

// TestAlarmLifecycle follows an alarm from the condition to a case and its
// clearing: one open alarm per rule and entity, repeats update it, the
// case is routed as the rule says, and scopes hide alarms from other
// agencies.
func TestAlarmLifecycle(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		db.Now = func() time.Time { return time.Date(2026, 10, 20, 10, 0, 0, 0, ict) } // a Tuesday
		r := riverRule()
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		var changes []cityops.AlarmChange
		db.OnAlarmChange(func(c cityops.AlarmChange) { changes = append(changes, c) })
		raise := &cityops.AlarmRaise{Rule: r, EntityID: "urn:ngsi-ld:WaterObserved:kim-long", EntityType: riverType, Value: 3.1,
			Message: r.Expand("urn:ngsi-ld:WaterObserved:kim-long", 3.1), Lat: f(16.4637), Lon: f(107.5560), At: db.Now()}
		l, err := db.RaiseAlarm(sys(), raise)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status != cityops.AlarmActive || l.Count != 1 || l.Report == "" || l.Area == "" || l.Message != "Mực nước 3.1 m tại urn:ngsi-ld:WaterObserved:kim-long" {
			t.Fatalf("raised: %+v", l)
		}
		c, err := db.FindReportByTracking(sys(), l.Report)
		if err != nil {
			t.Fatal(err)
		}
		want := db.Now().Add(2 * time.Hour) // urgent category: two clock hours, as the rule says
		if c.Agency != "PCTT" || c.Channel != cityops.ChannelSensor || c.Category != "disaster.flood_landslide" || c.DueAt == nil || !c.DueAt.Equal(want) {
			t.Fatalf("case: agency %s channel %s category %s due %v (want %v)", c.Agency, c.Channel, c.Category, c.DueAt, want)
		}
		// The condition comes back while the alarm is open: the same alarm.
		raise.Value = 3.4
		l2, err := db.RaiseAlarm(sys(), raise)
		if err != nil {
			t.Fatal(err)
		}
		if l2.ID != l.ID || l2.Count != 2 || l2.Value != 3.4 || l2.Report != l.Report {
			t.Fatalf("repeat: %+v", l2)
		}
		// Scopes: PCTT's head sees it and acknowledges it; the health
		// department's does not see it at all.
		pctt := staff(t, db, cityops.RoleAgencyHead, "PCTT", "")
		syt := staff(t, db, cityops.RoleAgencyHead, "SYT", "")
		if _, err := db.FindAlarm(syt, l.ID); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("other agency reading the alarm: %v", err)
		}
		if got, n, err := db.FindAlarms(syt, cityops.AlarmFilter{Open: true}); err != nil || n != 0 || len(got) != 0 {
			t.Fatalf("other agency listing: %d, %v", n, err)
		}
		if _, err := db.ActOnAlarm(syt, l.ID, cityops.AlarmActAcknowledge, ""); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("other agency acknowledging: %v", err)
		}
		officer := staff(t, db, cityops.RoleAgencyOfficer, "PCTT", "")
		if _, err := db.ActOnAlarm(officer, l.ID, cityops.AlarmActAcknowledge, ""); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Fatalf("officer acknowledging: %v", err)
		}
		acked, err := db.ActOnAlarm(pctt, l.ID, cityops.AlarmActAcknowledge, "Đã cử đội ứng trực")
		if err != nil || acked.Status != cityops.AlarmAcknowledged || acked.AckedBy == "" || acked.AckedAt == nil {
			t.Fatalf("acknowledge: %+v, %v", acked, err)
		}
		if _, err := db.ActOnAlarm(pctt, l.ID, cityops.AlarmActAcknowledge, ""); cityops.ErrorCode(err) != cityops.ECONFLICT {
			t.Fatalf("acknowledging twice: %v", err)
		}
		// A rule without AutoClear keeps the alarm when the condition ends.
		r.AutoClear = false
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		if got, err := db.EndAlarmCondition(sys(), r.Code, "", raise.EntityID, 2.5); err != nil || got != nil {
			t.Fatalf("end without auto-clear: %+v, %v", got, err)
		}
		r.AutoClear = true
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		cleared, err := db.EndAlarmCondition(sys(), r.Code, "", raise.EntityID, 2.5)
		if err != nil || cleared == nil || cleared.Status != cityops.AlarmCleared || cleared.ClearedBy != "system" {
			t.Fatalf("end: %+v, %v", cleared, err)
		}
		full, err := db.FindAlarm(pctt, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range full.Events {
			actions = append(actions, e.Action)
		}
		if got := strings.Join(actions, ","); got != "raise,case,repeat,acknowledge,condition_end,clear" {
			t.Fatalf("history: %s", got)
		}
		if got := len(changes); got != 4 { // raise, repeat, acknowledge, clear
			t.Fatalf("listeners told %d times", got)
		}
		// After clearing, the condition raises a new alarm.
		l3, err := db.RaiseAlarm(sys(), raise)
		if err != nil || l3.ID == l.ID || l3.Count != 1 {
			t.Fatalf("raise after clear: %+v, %v", l3, err)
		}
		open, n, err := db.FindAlarms(sys(), cityops.AlarmFilter{Open: true})
		if err != nil || n != 1 || open[0].ID != l3.ID {
			t.Fatalf("open alarms: %d, %v", n, err)
		}
		byReport, _, err := db.FindAlarms(sys(), cityops.AlarmFilter{Report: &l.Report})
		if err != nil || len(byReport) != 1 || byReport[0].ID != l.ID {
			t.Fatalf("alarms of the case: %v, %v", byReport, err)
		}
	})
}

// TestAlarmCaseFails: a case that cannot be opened leaves the alarm raised
// and says why.
func TestAlarmCaseFails(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		r := riverRule()
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateCategory(sys(), r.Category, cityops.CategoryUpdate{Active: new(false)}); err != nil {
			t.Fatal(err)
		}
		l, err := db.RaiseAlarm(sys(), &cityops.AlarmRaise{Rule: r, EntityID: "urn:x:1", EntityType: riverType, Value: 4, Message: "m", At: db.Now()})
		if err != nil {
			t.Fatal(err)
		}
		full, err := db.FindAlarm(sys(), l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Report != "" || len(full.Events) != 2 || full.Events[1].Action != "case_failed" || !strings.Contains(full.Events[1].Note, "category") {
			t.Fatalf("alarm without its case: %+v %+v", l, full.Events)
		}
	})
}

func TestWarnings(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		op := staff(t, db, cityops.RoleOperator, "IOC", "")
		var told []*cityops.Warning
		db.OnWarning(func(w *cityops.Warning) { told = append(told, w) })
		w := &cityops.Warning{Title: "Cảnh báo lũ trên sông Hương", Body: "Mực nước tại Kim Long vượt báo động II.", Severity: cityops.SeverityMajor,
			Sector: "environment", Area: "P08"}
		if err := db.CreateWarning(op, w); err != nil {
			t.Fatal(err)
		}
		if w.ID == 0 || w.CreatedBy == "" || !w.InForce(db.Now()) {
			t.Fatalf("warning: %+v", w)
		}
		if err := db.CreateWarning(staff(t, db, cityops.RoleAgencyOfficer, "SXD", ""), &cityops.Warning{Title: "x", Body: "y", Severity: "minor"}); cityops.ErrorCode(err) != cityops.EFORBIDDEN {
			t.Fatalf("officer broadcasting: %v", err)
		}
		if err := db.CreateWarning(op, &cityops.Warning{Title: "x", Body: "y", Severity: "minor", Area: "NOPE"}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("unknown area: %v", err)
		}
		now, err := db.FindWarnings(context.Background(), true, 10)
		if err != nil || len(now) != 1 || now[0].Area != "P08" {
			t.Fatalf("in force: %v, %v", now, err)
		}
		if _, err := db.WithdrawWarning(op, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.WithdrawWarning(op, w.ID); cityops.ErrorCode(err) != cityops.ECONFLICT {
			t.Fatalf("withdrawing twice: %v", err)
		}
		now, _ = db.FindWarnings(context.Background(), true, 10)
		all, _ := db.FindWarnings(context.Background(), false, 10)
		if len(now) != 0 || len(all) != 1 || len(told) != 2 {
			t.Fatalf("after withdrawal: %d in force, %d in all, told %d", len(now), len(all), len(told))
		}
	})
}

// TestInArea: a point is in its ward and in the city above it, not in
// another ward.
func TestInArea(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		a, err := db.LocateArea(sys(), 16.466, 107.556, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			code string
			want bool
		}{{a.Code, true}, {a.ParentCode, true}, {"X11", false}, {"NOPE", false}} {
			got, err := db.InArea(sys(), 16.466, 107.556, tt.code)
			if err != nil || got != tt.want {
				t.Errorf("InArea(%s) = %v, %v; want %v", tt.code, got, err, tt.want)
			}
		}
		if a.ParentCode == "" {
			t.Fatal("the demo's wards have a parent")
		}
	})
}

// TestApplyAlarmTransitions: the engine's transitions in one go; one that
// fails leaves the others.
func TestApplyAlarmTransitions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		loadDemo(t, db)
		r := riverRule()
		r.Category, r.Agency = "", ""
		if err := db.SaveAlarmRule(sys(), r); err != nil {
			t.Fatal(err)
		}
		var told []string
		db.OnAlarmChange(func(c cityops.AlarmChange) { told = append(told, c.Action) })
		raise := func(id string) cityops.AlarmTransition {
			return cityops.AlarmTransition{Raise: &cityops.AlarmRaise{Rule: r, EntityID: id, EntityType: riverType, Value: 3.2, Message: "m"}}
		}
		errs, err := db.ApplyAlarmTransitions(sys(), []cityops.AlarmTransition{raise("urn:x:a"), {}, raise("urn:x:b"),
			{End: &cityops.AlarmEnd{Rule: r.Code, EntityID: "urn:x:a", Value: 2.5}}})
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || errs[1] == nil || errs[2] != nil || errs[3] != nil {
			t.Fatalf("errs: %v", errs)
		}
		open, n, err := db.FindAlarms(sys(), cityops.AlarmFilter{Open: true})
		if err != nil || n != 1 || open[0].EntityID != "urn:x:b" {
			t.Fatalf("open after the batch: %d %v", n, err)
		}
		if strings.Join(told, ",") != "raise,raise,clear" {
			t.Fatalf("listeners told %v", told)
		}
	})
}
