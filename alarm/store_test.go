package alarm_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/alarm"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

const vocab = "https://uri.etsi.org/ngsi-ld/default-context/"

func sys() context.Context {
	return cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
}

// gaugeAt is the Kim Long river gauge with a level observed at t.
func gaugeAt(level float64, t time.Time) *cityops.Entity {
	return &cityops.Entity{ID: "urn:ngsi-ld:FloodMonitoring:hue-kim-long", Type: vocab + "FloodMonitoring",
		Attrs: map[string][]cityops.Attr{
			vocab + "currentLevel":           {{"type": "Property", "value": level, "unitCode": "MTR", "observedAt": t.UTC().Format(time.RFC3339)}},
			jsonld.Core().ExpandTerm("name"): {{"type": "Property", "value": "Trạm thủy văn Kim Long"}},
			cityops.LocationAttr:             {{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{107.5600, 16.4600}}}},
		}}
}

// TestAlarmToCaseToResolution runs Huế's default rules in the engine on a
// real database: a flood at Kim Long rises through the three alarm levels,
// level III opens a case for the disaster command (PCTT) with a two-hour
// deadline, the case is handled to resolution, and the falling river
// clears the alarms through their hysteresis and notes it on the case.
func TestAlarmToCaseToResolution(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		if _, err := demo.Load(sys(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db, Alarms: db}); err != nil {
			t.Fatal(err)
		}
		e := alarm.New(db, alarm.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tick: time.Hour,
			InArea: func(lat, lon float64, area string) bool { ok, _ := db.InArea(sys(), lat, lon, area); return ok }})
		db.OnEntityChange(e.Listen)
		ctx, cancel := context.WithCancel(sys())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		defer func() { cancel(); <-done }()

		t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
		feed := func(levels ...float64) {
			t.Helper()
			for _, lv := range levels {
				t0 = t0.Add(10 * time.Minute)
				if errs, err := db.UpsertEntities(sys(), "", []*cityops.Entity{gaugeAt(lv, t0)}, false); err != nil || len(errs) > 0 {
					t.Fatalf("write %g: %v %v", lv, err, errs)
				}
			}
			fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
			defer fcancel()
			if err := e.Flush(fctx); err != nil {
				t.Fatal(err)
			}
		}
		open := func() map[string]*cityops.Alarm {
			t.Helper()
			alarms, _, err := db.FindAlarms(sys(), cityops.AlarmFilter{Open: true, EntityID: new("urn:ngsi-ld:FloodMonitoring:hue-kim-long")})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]*cityops.Alarm{}
			for _, l := range alarms {
				m[l.Rule] = l
			}
			return m
		}

		feed(0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2) // slowly over level I only
		got := open()
		if len(got) != 1 || got["river-kim-long-1"] == nil || got["river-kim-long-1"].Severity != cityops.SeverityWarning {
			t.Fatalf("after 1.2 m: %v", keys(got))
		}
		feed(2.4, 3.6) // levels II and III; rising 2.4 m in an hour also trips the rate rule
		got = open()
		for _, code := range []string{"river-kim-long-1", "river-kim-long-2", "river-kim-long-3", "river-rising"} {
			if got[code] == nil {
				t.Fatalf("after 3.6 m, %s is not open: %v", code, keys(got))
			}
		}
		if m := got["river-rising"].Message; !strings.Contains(m, "Trạm thủy văn Kim Long") {
			t.Fatalf("the message names the entity by id, not by name: %s", m)
		}
		l3 := got["river-kim-long-3"]
		if l3.Report == "" || l3.Agency != "PCTT" || l3.Area != "P08" || l3.Count != 1 {
			t.Fatalf("level III alarm: %+v", l3)
		}
		if got["river-kim-long-1"].Report != "" {
			t.Fatal("level I opened a case; its rule has no category")
		}
		c, err := db.FindReportByTracking(sys(), l3.Report)
		if err != nil {
			t.Fatal(err)
		}
		if c.Agency != "PCTT" || c.Channel != cityops.ChannelSensor || c.Status != cityops.StatusAssigned || c.DueAt == nil ||
			c.DueAt.Sub(c.ReceivedAt) != 2*time.Hour || !strings.Contains(c.Description, "3.6 m") {
			t.Fatalf("case: %+v", c)
		}
		// Readings above the level while it is open do not raise it again.
		feed(3.9, 4.1)
		if n := open()["river-kim-long-3"]; n == nil || n.ID != l3.ID || n.Count != 1 {
			t.Fatalf("level III after more readings: %+v", n)
		}

		// The disaster command handles the case.
		pctt := &cityops.User{Email: "pctt@hue.gov.vn", Role: cityops.RoleAgencyHead, AgencyCode: "PCTT"}
		if err := db.CreateUser(sys(), pctt, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		staff := cityops.NewContextWithActor(context.Background(), &cityops.Actor{User: pctt})
		for _, act := range []cityops.Action{{Name: cityops.ActAccept}, {Name: cityops.ActStart},
			{Name: cityops.ActResolve, Note: "Đã sơ tán 40 hộ dân ven sông Hương"}} {
			if _, err := db.Act(staff, l3.Report, act); err != nil {
				t.Fatalf("%s: %v", act.Name, err)
			}
		}
		if _, err := db.ActOnAlarm(staff, l3.ID, cityops.AlarmActAcknowledge, "Đội cứu hộ đã có mặt"); err != nil {
			t.Fatal(err)
		}

		// The river falls: 3.45 m is still above III's clear level (3.4).
		feed(3.45)
		if open()["river-kim-long-3"] == nil {
			t.Fatal("level III cleared above its clear level")
		}
		feed(3.2, 1.8, 0.8)
		if got := open(); len(got) != 0 {
			t.Fatalf("after the flood: %v open", keys(got))
		}
		full, err := db.FindAlarm(sys(), l3.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range full.Events {
			actions = append(actions, ev.Action)
		}
		if strings.Join(actions, ",") != "raise,case,acknowledge,clear" || full.Status != cityops.AlarmCleared {
			t.Fatalf("level III history %v, status %s", actions, full.Status)
		}
		evs, err := db.ReportEvents(sys(), l3.Report)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Action != cityops.ActComment || !strings.Contains(last.Note, "The alarm condition ended") {
			t.Fatalf("the case was not told the condition ended: %+v", last)
		}
		resolved, _ := db.FindReportByTracking(sys(), l3.Report)
		if resolved.Status != cityops.StatusResolved {
			t.Fatalf("case status %s", resolved.Status)
		}
	})
}

func keys(m map[string]*cityops.Alarm) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBatchedReadings: readings of one sensor that are written together
// (MQTT batches them) are each evaluated, so a spike between two normal
// readings still raises its alarm, and three hits in one batch count
// three times.
func TestBatchedReadings(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		typ := vocab + "LoadSensor"
		rules := []*cityops.AlarmRule{
			{Code: "spike", Name: "Quá tải", Severity: cityops.SeverityMajor, EntityType: typ, Attr: vocab + "load", Kind: cityops.RuleThreshold,
				Op: ">", Value: 100, Clear: ptr(90.0), AutoClear: true, Enabled: true},
			{Code: "thrice", Name: "Quá tải lặp lại", Severity: cityops.SeverityMinor, EntityType: typ, Attr: vocab + "load", Kind: cityops.RuleCount,
				Op: ">", Value: 95, Count: 3, WindowMinutes: 10, AutoClear: true, Enabled: true},
		}
		if err := db.SaveAlarmRules(sys(), rules); err != nil {
			t.Fatal(err)
		}
		e := alarm.New(db, alarm.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tick: time.Hour})
		db.OnEntityChange(e.Listen)
		ctx, cancel := context.WithCancel(sys())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		defer func() { cancel(); <-done }()

		t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
		var batch []*cityops.Entity
		for i, v := range []float64{96, 120, 97, 80} {
			batch = append(batch, &cityops.Entity{ID: "urn:ngsi-ld:LoadSensor:1", Type: typ, Attrs: map[string][]cityops.Attr{
				vocab + "load": {{"type": "Property", "value": v, "observedAt": t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339)}}}})
		}
		if errs, err := db.UpsertEntities(sys(), "", batch, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
		defer fcancel()
		if err := e.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		alarms, _, err := db.FindAlarms(sys(), cityops.AlarmFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range alarms {
			got[l.Rule] = fmt.Sprintf("%s %g", l.Status, l.Value)
		}
		// The spike raised (at 120) and the last reading cleared it; the
		// three hits over 95 raised the count rule, still open.
		if got["spike"] != "cleared 120" || got["thrice"] != "active 97" {
			t.Fatalf("alarms after one batch: %v", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }
